#!/usr/bin/env bash
# Checks that the Dockerfile's runtime stage holds exactly the shared libraries the binary needs:
# nothing it needs is missing, nothing it holds is unused. No Docker engine is needed: the script
# reads the Dockerfile, builds the runtime stage's file tree the way the Dockerfile does (its build
# stage's scripts/collect-libs.sh run, then the runtime stage's COPY lines), and checks that tree:
#
#   1. the Dockerfile: build stage on debian:12 with scripts/deps.sh (as CI); runtime stage
#      `FROM scratch` with only COPY/USER/EXPOSE/ENTRYPOINT/CMD/ENV/LABEL/WORKDIR, a non-root USER,
#      and an ENTRYPOINT that is in the tree;
#   2. every file in the tree is the binary, a shared object, /etc/passwd, /etc/group, or a file
#      the runtime stage copies from the repository;
#   3. the ELF dependency closure of the binary (its interpreter, and DT_NEEDED resolved inside the
#      tree, recursively) is complete, and every shared object in the tree is in it;
#   4. that closure names exactly the libraries `ldd` lists for the binary on this machine;
#   5. as root (CI): the tree runs. In a private mount namespace with /proc and a tmpfs /tmp, as
#      user 65532 chrooted into the tree: the loader lists every library inside the tree,
#      `revrouter --help`, `revrouter certs` (OpenSSL), and `revrouter serve` answering 20 requests
#      of `revrouter loadtest` on 127.0.0.1.
#
# Usage: scripts/check-image-libs.sh BINARY [DOCKERFILE]   (ctest: the image_libs test)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 BINARY [DOCKERFILE]" >&2
  exit 2
fi
binary=$(realpath "$1")
dockerfile=${2:-$repo/Dockerfile}
context=$(cd "$(dirname "$dockerfile")" && pwd)
triplet=${REVROUTER_MULTIARCH:-$(uname -m)-linux-gnu}

fail() {
  echo "check-image-libs: FAIL: $*" >&2
  exit 1
}
say() { echo "check-image-libs: $*"; }

command -v readelf >/dev/null || fail "readelf (binutils) is needed"
[ -f "$binary" ] || fail "no binary at $binary"
[ -f "$dockerfile" ] || fail "no Dockerfile at $dockerfile"

work=$(mktemp -d /tmp/revrouter-image-XXXXXX)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# --- 1. The Dockerfile ----------------------------------------------------------------------------
# One instruction per line: continuation lines joined, comments and blank lines dropped.
instructions=$(sed -e 's/[[:space:]]*$//' "$dockerfile" | awk '
  /^[[:space:]]*#/ && buf == "" { next }
  { line = $0; if (sub(/\\$/, "", line)) { buf = buf line " "; next } print buf line; buf = "" }' |
  grep -v '^[[:space:]]*$')

stages=$(grep -ci '^FROM ' <<<"$instructions")
[ "$stages" -ge 2 ] || fail "want a build stage and a runtime stage, found $stages FROM lines"
build_from=$(grep -i '^FROM ' <<<"$instructions" | head -1 | awk '{print $2}')
[[ $build_from == debian:12* ]] || fail "the build stage is FROM $build_from, want debian:12"
build_stage=$(awk 'toupper($1) == "FROM" { n++ } n == 1' <<<"$instructions")
runtime_stage=$(awk -v last="$stages" 'toupper($1) == "FROM" { n++ } n == last' <<<"$instructions")
grep -qi '^RUN .*scripts/deps\.sh' <<<"$build_stage" ||
  fail "the build stage does not install with scripts/deps.sh (CI's dependency script)"
collect=$(grep -i '^RUN .*scripts/collect-libs\.sh' <<<"$build_stage" | head -1) ||
  fail "the build stage does not run scripts/collect-libs.sh"
collected_dir=$(sed -E 's/.*scripts\/collect-libs\.sh[[:space:]]+[^[:space:]]+[[:space:]]+([^[:space:]&;]+).*/\1/' <<<"$collect")
collected_dir=${collected_dir%/}
[ "$(awk '{print $2}' <<<"$(head -1 <<<"$runtime_stage")")" = scratch ] ||
  fail "the runtime stage is not FROM scratch: $(head -1 <<<"$runtime_stage")"

# --- Build the runtime stage's tree -------------------------------------------------------------
stage=$work/stage
mkdir -p "$stage"
bash "$repo/scripts/collect-libs.sh" "$binary" "$work/collected" >/dev/null
declare -A from_repo=()  # tree path -> 1, for files the runtime stage copies from the context
entrypoint="" user=""
while read -r op rest; do
  case "${op^^}" in
    FROM | EXPOSE | CMD | ENV | LABEL | WORKDIR) ;;
    USER) user=$rest ;;
    ENTRYPOINT)
      entrypoint=$(sed -E 's/^\[[[:space:]]*"([^"]+)".*/\1/' <<<"$rest")
      [[ $entrypoint == /* ]] || fail "ENTRYPOINT must be the exec form with an absolute path" ;;
    COPY)
      read -ra words <<<"$rest"
      from=""
      args=()
      for w in "${words[@]}"; do
        case "$w" in
          --from=*) from=${w#--from=} ;;
          --chown=* | --chmod=*) fail "COPY $w: the tree's ownership is root, modes from collect-libs" ;;
          *) args+=("$w") ;;
        esac
      done
      [ ${#args[@]} -eq 2 ] || fail "COPY $rest: want exactly one source and one destination"
      src=${args[0]} dst=${args[1]}
      if [ -n "$from" ]; then
        if [ "${src%/}" != "$collected_dir" ] || [ "$dst" != / ]; then
          fail "COPY --from=$from $src $dst: the runtime stage may copy only $collected_dir/ (the collected tree) to /"
        fi
        cp -a "$work/collected/." "$stage/"
      else
        [ -e "$context/$src" ] || fail "COPY $src: not in the build context $context"
        mkdir -p "$stage$dst"
        if [ -d "$context/$src" ]; then
          cp -a "$context/$src/." "$stage$dst/"
          while IFS= read -r f; do from_repo["${dst%/}/$f"]=1; done < <(cd "$context/$src" && find . -type f | sed 's|^\./||')
        else
          cp -a "$context/$src" "$stage$dst/"
          from_repo["${dst%/}/$(basename "$src")"]=1
        fi
      fi ;;
    *) fail "the runtime stage has a $op instruction; it may only COPY files in (no shell, no package manager)" ;;
  esac
done < <(tail -n +2 <<<"$runtime_stage")

[ -n "$entrypoint" ] || fail "the runtime stage has no ENTRYPOINT"
[ -x "$stage$entrypoint" ] || fail "ENTRYPOINT $entrypoint is not in the runtime stage"
cmp -s "$stage$entrypoint" "$binary" || fail "ENTRYPOINT $entrypoint is not the binary"
[[ $user =~ ^([0-9]+)(:([0-9]+))?$ ]] || fail "USER \"$user\": want a numeric uid[:gid]"
if [ "${BASH_REMATCH[1]}" = 0 ] || [ "${BASH_REMATCH[3]:-1}" = 0 ]; then fail "USER $user is root"; fi
say "Dockerfile: build on $build_from with scripts/deps.sh, runtime FROM scratch as $user, entrypoint $entrypoint"

# --- 2. Nothing but the binary, shared objects, passwd/group and copied files ------------------
is_elf() { [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ]; }
shared_objects=()
while IFS= read -r f; do
  p=${f#"$stage"}
  [ "$p" = "$entrypoint" ] && continue
  # Any shared object counts as provided, wherever it came from (a COPY from the repo included).
  if is_elf "$f" && [[ $(readelf -h "$f" | awk '/Type:/ {print $2}') == DYN ]]; then
    shared_objects+=("$p")
  elif [ "$p" != /etc/passwd ] && [ "$p" != /etc/group ] && [ -z "${from_repo[$p]:-}" ]; then
    fail "the runtime stage holds $p, which is neither a shared object nor a file it was meant to hold"
  fi
done < <(find "$stage" -type f | sort)
[ -z "$(find "$stage" -type l)" ] || fail "symbolic links in the tree: $(find "$stage" -type l)"

# --- 3. ELF closure inside the tree -------------------------------------------------------------
search_dirs=("/lib/$triplet" "/usr/lib/$triplet" /lib /usr/lib)
declare -A needed_by=()  # tree path -> who needs it
interp=$(readelf -l "$binary" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
[ -n "$interp" ] || fail "$binary has no program interpreter (a static binary needs no libraries)"
[ -f "$stage$interp" ] || fail "the loader $interp is not in the runtime stage"
needed_by[$interp]="the binary (interpreter)"
# Libraries that name the loader in DT_NEEDED get the loaded interpreter, matched by its SONAME.
interp_soname=$(readelf -d "$stage$interp" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
queue=("$entrypoint")
declare -A seen=(["$entrypoint"]=1)
while [ ${#queue[@]} -gt 0 ]; do
  obj=${queue[0]}
  queue=("${queue[@]:1}")
  for soname in $(readelf -d "$stage$obj" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    found=""
    [ "$soname" = "$interp_soname" ] && continue
    for d in "${search_dirs[@]}"; do
      if [ -f "$stage$d/$soname" ]; then
        found=$d/$soname
        break
      fi
    done
    [ -n "$found" ] || fail "$obj needs $soname, which the runtime stage does not provide"
    if [ -z "${seen[$found]:-}" ]; then
      seen[$found]=1
      needed_by[$found]=$obj
      queue+=("$found")
    fi
  done
done
for so in "${shared_objects[@]}"; do
  [ -n "${needed_by[$so]:-}" ] || fail "the runtime stage provides $so, which nothing needs"
done
say "closure: ${#needed_by[@]} shared objects, all provided, none unused"

# --- 4. The same set as ldd's ---------------------------------------------------------------------
ldd_set=$(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
  xargs -n1 basename | sort -u)
closure_set=$(printf '%s\n' "${!needed_by[@]}" | xargs -n1 basename | sort -u)
if [ "$ldd_set" != "$closure_set" ]; then
  diff <(echo "$ldd_set") <(echo "$closure_set") >&2 || true
  fail "ldd's libraries (<) and the runtime stage's closure (>) differ"
fi
say "ldd agrees: $(tr '\n' ' ' <<<"$ldd_set")"

# --- 5. Run it ------------------------------------------------------------------------------------
if [ "$(id -u)" != 0 ]; then
  say "not root: the run inside the tree (chroot, mount namespace) was NOT done; CI runs as root"
  say "OK (static checks only)"
  exit 0
fi
uid=${user%%:*}
gid=${user#*:}
[ "$gid" = "$user" ] && gid=$uid
mkdir -p "$stage/proc" "$stage/tmp"  # mount points, as the container runtime provides them
in_tree=(chroot --userspec="$uid:$gid" "$stage")
run_log=$work/run.log
# shellcheck disable=SC2016 # expanded by the inner bash
unshare --mount --propagation private bash -euo pipefail -c '
  stage=$1; shift
  mount --rbind /proc "$stage/proc"
  mount -t tmpfs -o mode=1777 tmpfs "$stage/tmp"
  listing=$("$@" '"$interp"' --list '"$entrypoint"')
  echo "$listing"
  if grep -q "not found" <<<"$listing"; then echo "loader: a library is missing" >&2; exit 1; fi
  "$@" '"$entrypoint"' --help >/dev/null
  "$@" '"$entrypoint"' certs --service revrouter --namespace istio-system --ip 127.0.0.1 \
    --out-dir /tmp/certs >/dev/null
  "$@" '"$entrypoint"' serve --config /etc/revrouter/example.yaml --tls-cert /tmp/certs/tls.crt \
    --tls-key /tmp/certs/tls.key --listen 127.0.0.1:0 --port-file /tmp/port --threads 1 \
    --log-level warn &
  server=$!
  trap "kill -9 $server 2>/dev/null || true" EXIT
  for _ in $(seq 200); do [ -s "$stage/tmp/port" ] && break; sleep 0.05; done
  port=$(head -1 "$stage/tmp/port")
  "$@" '"$entrypoint"' loadtest --url "https://127.0.0.1:$port" --ca /tmp/certs/ca.crt \
    --server-name revrouter.istio-system.svc -n 20 -c 2 -q
' check "$stage" "${in_tree[@]}" >"$run_log" 2>&1 || {
  cat "$run_log" >&2
  fail "running the binary inside the runtime stage's tree failed (above)"
}
grep -q "=> /" "$run_log" || fail "the loader listing is empty: $(cat "$run_log")"
grep -q "Requests:  20 in .*: 20 ok, 0 errors" "$run_log" ||
  fail "the server in the tree did not answer 20 requests: $(cat "$run_log")"
say "ran in the tree as $uid:$gid: loader listing, --help, certs, serve answering 20 loadtest requests"
say "OK"
