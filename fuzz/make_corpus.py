#!/usr/bin/env python3
"""Regenerates the seed corpora in fuzz/corpus/ from the repo's fixtures plus edge cases.

fuzz_admission_review inputs are one path-selector byte followed by the body (see
fuzz_admission_review.cc); fuzz_patch_builder inputs are pods; fuzz_config inputs are YAML.
Run from anywhere: python3 fuzz/make_corpus.py
"""
import glob
import json
import os
import shutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus")
MAX = 60 * 1024  # stays under scripts/fuzz.sh's -max_len

# Indices into kPaths in fuzz_admission_review.cc; 15 selects "first line is the path".
P_INJECT, P_ENABLED, P_DISABLED, P_CANARY = 0, 1, 2, 3
P_PINNED, P_UNKNOWN, P_CUSTOM = 6, 7, 15


def reset(target):
    d = os.path.join(OUT, target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def write(d, name, data):
    if isinstance(data, str):
        data = data.encode()
    if len(data) > MAX:
        return
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def review(pod, version="admission.k8s.io/v1", uid="705ab4f5-6393-11e8-b7cc-42010a800002",
           **over):
    req = {"uid": uid,
           "kind": {"group": "", "version": "v1", "kind": "Pod"},
           "resource": {"group": "", "version": "v1", "resource": "pods"},
           "namespace": "shop", "operation": "CREATE", "object": pod}
    req.update(over)
    return {"apiVersion": version, "kind": "AdmissionReview", "request": req}


def compact(v):
    return json.dumps(v, separators=(",", ":"))


def pods():
    out = {}
    for p in sorted(glob.glob(os.path.join(ROOT, "tests/admission/golden/*/pod.json"))):
        name = os.path.basename(os.path.dirname(p))
        with open(p) as f:
            out[name] = json.load(f)
    return out


def main():
    golden = pods()
    simple = golden.get("single-container") or {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "web", "image": "nginx"}]}}

    # --- fuzz_patch_builder: pods ---
    d = reset("fuzz_patch_builder")
    for name, pod in golden.items():
        write(d, name + ".json", compact(pod))
    edge_pods = {
        "empty-object": {},
        "no-spec": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}},
        "empty-containers": {"kind": "Pod", "spec": {"containers": []}},
        "pointer-escapes": {"kind": "Pod", "metadata": {
            "labels": {"a/b~c": "x"}, "annotations": {"~1/0": "y"}},
            "spec": {"containers": [{"name": "a/b~0", "image": "i"}]}},
        "unicode": {"kind": "Pod", "metadata": {"name": "p\u00e9\u2603\U0001F600"},
                    "spec": {"containers": [{"name": "w", "image": "i", "env": [
                        {"name": "X", "value": "\u0000\u001f\"\\"}]}]}},
        "huge-port": {"kind": "Pod", "spec": {"containers": [{"name": "w", "ports": [
            {"containerPort": 1e400}, {"containerPort": -1}, {"containerPort": 18446744073709551616}]}]}},
        "null-fields": {"kind": "Pod", "metadata": {"labels": None, "annotations": None},
                        "spec": {"containers": [{"name": "w", "ports": None, "env": None}],
                                 "initContainers": None, "volumes": None}},
        "native-annotation": {"kind": "Pod", "metadata": {"annotations": {
            "sidecar.istio.io/nativeSidecar": "true", "sidecar.istio.io/proxyCPU": "100m",
            "sidecar.istio.io/proxyImage": "x", "proxy.istio.io/config": "holdApplicationUntilProxyStarts: true"}},
            "spec": {"initContainers": [{"name": "init"}], "containers": [{"name": "w"}]}},
        "probes": {"kind": "Pod", "spec": {"containers": [{"name": "w",
            "readinessProbe": {"httpGet": {"port": "http", "path": "/r"}},
            "livenessProbe": {"httpGet": {"port": 8080}}, "startupProbe": {"grpc": {"port": 9}},
            "ports": [{"name": "http", "containerPort": 8080}]}]}},
        "owner": {"kind": "Pod", "metadata": {"generateName": "x-5d8f7c9b6-", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "x-5d8f7c9b6", "controller": True}]},
            "spec": {"containers": [{"name": "w"}]}},
    }
    for name, pod in edge_pods.items():
        write(d, name + ".json", compact(pod))

    # --- fuzz_admission_review: selector byte + body ---
    d = reset("fuzz_admission_review")
    for i, p in enumerate(sorted(glob.glob(os.path.join(ROOT, "tests/admission/codec/*.json")) +
                                 glob.glob(os.path.join(ROOT, "tests/server/data/*.json")))):
        with open(p, "rb") as f:
            body = f.read()
        base = os.path.basename(p)
        write(d, "codec-enabled-" + str(i) + "-" + base, bytes([P_ENABLED]) + body)
        write(d, "codec-canary-" + str(i) + "-" + base, bytes([P_CANARY]) + body)
    for i, name in enumerate(["several-containers", "native-sidecar", "probes-http", "cronjob-pod",
                              "unicode-and-pointer-escapes", "already-injected"]):
        if name in golden:
            write(d, "golden-" + name + ".bin", bytes([P_ENABLED + i % 2 * 2]) + compact(review(golden[name])).encode())
    cases = {
        "v1beta1": (P_ENABLED, review(simple, version="admission.k8s.io/v1beta1")),
        "pinned": (P_PINNED, review(simple)),
        "unknown-rev": (P_UNKNOWN, review(simple)),
        "disabled": (P_DISABLED, review(simple)),
        "not-selected": (P_INJECT, review(simple)),
        "delete": (P_ENABLED, review(simple, operation="DELETE")),
        "service": (P_ENABLED, review({"kind": "Service"}, kind={"group": "", "version": "v1", "kind": "Service"},
                                      resource={"group": "", "version": "v1", "resource": "services"})),
        "subresource": (P_ENABLED, review(simple, subResource="status")),
        "dry-run": (P_ENABLED, review(simple, dryRun=True)),
        "no-object": (P_ENABLED, review(None)),
        "object-string": (P_ENABLED, review("pod")),
        "operation-int": (P_ENABLED, review(simple, operation=1)),
        "kind-array": (P_ENABLED, review(simple, kind=[])),
        "uid-int": (P_ENABLED, review(simple, uid=5)),
        "uid-escapes": (P_ENABLED, review(simple, uid="a\"b\\c\u00e9\u0001")),
        "label-int": (P_ENABLED, review({"kind": "Pod", "metadata": {"labels": {"app": 3}},
                                         "spec": {"containers": [{"name": "w"}]}})),
        "wrong-api": (P_ENABLED, {"apiVersion": "admission.k8s.io/v2", "kind": "AdmissionReview",
                                  "request": {"uid": "u"}}),
        "no-request": (P_ENABLED, {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}),
        "custom-path": None,
    }
    for name, v in cases.items():
        if v is None:
            continue
        sel, body = v
        write(d, "case-" + name + ".bin", bytes([sel]) + compact(body).encode())
    write(d, "custom-path.bin", bytes([P_CUSTOM]) + b"/inject/ns-rev/canary/cluster/c/net/n/a/b\n" +
          compact(review(simple)).encode())
    write(d, "bad-path.bin", bytes([P_CUSTOM]) + b"/inject/%41/x\n{}")
    write(d, "dup-keys.bin", bytes([P_ENABLED]) +
          b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"a","uid":"b",'
          b'"kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","operation":"DELETE",'
          b'"object":{"kind":"Pod","spec":{"containers":[{"name":"w"}]},"spec":{}}}}')
    write(d, "truncated.bin", bytes([P_ENABLED]) + compact(review(simple)).encode()[:80])
    write(d, "invalid-utf8.bin", bytes([P_ENABLED]) +
          compact(review(simple, uid="PLACEHOLDER")).encode().replace(b"PLACEHOLDER", b"\xff\xfe\xc0\x80"))
    # Lone UTF-16 surrogate escapes in the uid and a label: decoded to U+FFFD as Go does (a lone low
    # surrogate used to be echoed as its own, non-UTF-8, bytes).
    write(d, "lone-surrogates.bin", bytes([P_ENABLED]) +
          compact(review(simple, uid="PLACEHOLDER")).encode().replace(b"PLACEHOLDER", b"70\\udefa\\ud83d\\ude00x"))
    write(d, "deep.bin", bytes([P_ENABLED]) + b"[" * 5000 + b"]" * 5000)
    write(d, "huge-number.bin", bytes([P_ENABLED]) + b'{"apiVersion":1e999999,"kind":-0.0e-99999}')
    write(d, "empty.bin", bytes([P_ENABLED]))
    write(d, "nul-inside.bin", bytes([P_ENABLED]) + b'{"apiVersion":"admission.k8s.io/v1\x00","kind":"AdmissionReview"}')

    # --- fuzz_config: routing tables and templates ---
    d = reset("fuzz_config")
    for p in [os.path.join(ROOT, "config/example.yaml"),
              os.path.join(ROOT, "config/templates/example-sidecar.yaml"),
              os.path.join(ROOT, "tests/admission/config/minimal-sidecar.yaml")]:
        with open(p, "rb") as f:
            write(d, os.path.basename(p), f.read())
    configs = {
        "minimal": "revisions: {r1: {template: t.yaml}}\ntags: {default: r1}\n",
        "self-template": "revisions: {r1: {template: self.yaml}}\ntags: {default: r1}\n",
        "missing-template": "revisions: {r1: {template: missing.yaml}}\n",
        "proxy": "mode: pod-override\ndefaultTag: stable\nrevisions:\n  a:\n    backend: proxy\n"
                 "    url: 'https://x:443/inject'\n    caFile: ca.pem\n"
                 "    serverName: istiod-a.istio-system.svc\n    onFailure: {fallback: b}\n"
                 "    breaker: {failures: 3, probeIntervalMs: 500}\n  b:\n    template: t.yaml\n"
                 "    shadow: {url: 'https://[::1]:15017/inject', caFile: ca.pem}\n"
                 "  c: {backend: proxy, caFile: ca.pem, onFailure: fail-open}\n"
                 "tags:\n  stable: {a: 50, b: 50}\n",
        "weights-bad": "revisions: {a: {template: t.yaml}, b: {template: t.yaml}}\ntags: {t: {a: 60, b: 60}}\n",
        "weights-overflow": "revisions: {a: {template: t.yaml}}\ntags: {t: {a: 4294967296}}\n",
        "selectors": "revisions:\n  a:\n    template: t.yaml\n    injector:\n      policy: disabled\n"
                     "      alwaysInjectSelector: [{matchLabels: {x: y}}, {matchExpressions: [{key: k, operator: In, values: [a]}]}]\n"
                     "      neverInjectSelector: [{matchExpressions: [{key: k, operator: Bogus}]}]\n",
        "two-docs": "mode: istio\n---\nmode: istio\n",
        "stray-comma": ",a",           # yaml-cpp 0.7 LoadAll loops forever on these (jbeder/yaml-cpp#1040)
        "stray-comma-2nd-doc": "a: 1\n---\n,",
        "anchors": "revisions: &r {a: {template: t.yaml}}\ntags: {default: a, x: *r}\n",
        "tabs-and-bom": "\ufeffmode:\tistio\n",
        "deep-flow": "[" * 200 + "]" * 200,
        "empty": "",
    }
    for name, text in configs.items():
        write(d, name + ".yaml", text)


if __name__ == "__main__":
    main()
