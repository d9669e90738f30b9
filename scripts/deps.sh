#!/usr/bin/env bash
# Installs the Debian 12 packages revrouter builds, tests and runs with. Idempotent: a machine that
# already has them all does not touch apt at all.
set -euo pipefail
pkgs=(g++ cmake ninja-build ccache pkg-config openssl
      libboost-dev libboost-system-dev libssl-dev rapidjson-dev nlohmann-json3-dev
      libspdlog-dev libfmt-dev libyaml-cpp-dev libcli11-dev
      libgtest-dev libgmock-dev libbenchmark-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
