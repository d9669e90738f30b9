#!/usr/bin/env python3
"""Writes the golden-case inputs (<case>/pod.json and, where a case needs them, <case>/params.json).

The expected injected pods (<case>/expected.json) are not generated here: they come from the patch
builder with REVROUTER_UPDATE_GOLDEN=1 and are reviewed by hand against Istio's behaviour (see
README.md beside this script). Rerun this after editing a case; it rewrites every input.

params.json keys (all optional): "template": "default" | "native" | "hold" (settings of
config/templates/example-sidecar.yaml flipped), "path": webhook path, "revision": revision name,
"namespace": the request's namespace.
"""
import copy
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def container(name, image="docker.io/example/app:1.0", ports=None, **extra):
    c = {
        "name": name,
        "image": image,
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent",
        "volumeMounts": [{
            "name": "kube-api-access-7xk2p",
            "readOnly": True,
            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
        }],
    }
    if ports is not None:
        c["ports"] = ports
    c.update(extra)
    return c


def port(number, name=None, protocol="TCP"):
    p = {}
    if name:
        p["name"] = name
    p["containerPort"] = number
    p["protocol"] = protocol
    return p


def deployment_pod(app="reviews", version="v1", containers=None, labels=None, annotations=None,
                   init_containers=None, owner=True):
    """A pod as the API server sends it for a Deployment's ReplicaSet (defaults applied)."""
    meta = {
        "generateName": f"{app}-{version}-7d9f8c6b5d-",
        "namespace": "bookinfo",
        "creationTimestamp": None,
        "labels": {"app": app, "version": version, "pod-template-hash": "7d9f8c6b5d"},
    }
    if labels is not None:
        meta["labels"] = labels
    if annotations is not None:
        meta["annotations"] = annotations
    if owner:
        meta["ownerReferences"] = [{
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": f"{app}-{version}-7d9f8c6b5d",
            "uid": "6f1c7a52-3b1e-4d43-9a53-0f3c1f0e9b21",
            "controller": True,
            "blockOwnerDeletion": True,
        }]
    spec = {
        "volumes": [{
            "name": "kube-api-access-7xk2p",
            "projected": {
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt",
                                   "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                        "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
                ],
                "defaultMode": 420,
            },
        }],
        "containers": containers if containers is not None else [
            container(app, f"docker.io/istio/examples-bookinfo-{app}-{version}:1.20.2",
                      [port(9080)])],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "serviceAccountName": f"bookinfo-{app}",
        "serviceAccount": f"bookinfo-{app}",
        "securityContext": {},
        "schedulerName": "default-scheduler",
        "tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
             "effect": "NoExecute", "tolerationSeconds": 300},
        ],
        "priority": 0,
        "enableServiceLinks": True,
        "preemptionPolicy": "PreemptLowerPriority",
    }
    if init_containers is not None:
        spec["initContainers"] = init_containers
    return {"kind": "Pod", "apiVersion": "v1", "metadata": meta, "spec": spec, "status": {}}


def http_probe(path, port_, **extra):
    p = {"httpGet": {"path": path, "port": port_, "scheme": "HTTP"}, "timeoutSeconds": 1,
         "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    p.update(extra)
    return p


CASES = {}

# One app container: the typical Deployment pod.
CASES["single-container"] = (deployment_pod(), None)

# Several containers with ports: ISTIO_META_POD_PORTS lists them all, in container order.
CASES["several-containers"] = (deployment_pod(app="productpage", containers=[
    container("productpage", ports=[port(9080, "http")]),
    container("log-shipper", ports=[port(24224, "forward"), port(24231, "metrics")]),
    container("cache", ports=[port(11211, "memcache", "UDP")]),
]), None)

# The pod's own init containers: istio-init goes last (classic sidecar).
CASES["init-containers"] = (deployment_pod(init_containers=[
    container("migrate-db"), container("fetch-config")]), None)

# Named probe ports resolve through the container's own ports; an unknown name is not in
# ISTIO_KUBE_APP_PROBERS (the probe is still rewritten, as Istio does).
CASES["named-ports"] = (deployment_pod(containers=[container(
    "reviews", ports=[port(9080, "http"), port(9090, "http-admin")],
    readinessProbe=http_probe("/ready", "http"),
    livenessProbe=http_probe("/live", "http-admin"),
    startupProbe=http_probe("/started", "not-a-port-name"))]), None)

# HTTP probes: HTTPS becomes HTTP on the rewritten probe, host, headers and timeout carried into
# ISTIO_KUBE_APP_PROBERS, Go's HTML escaping of '&' in the path.
CASES["probes-http"] = (deployment_pod(containers=[container(
    "reviews", ports=[port(9080, "http")],
    readinessProbe=http_probe("/health?ready=1&full=1", 9080),
    livenessProbe={"httpGet": {"path": "/live", "port": 8443, "scheme": "HTTPS",
                               "host": "127.0.0.1",
                               "httpHeaders": [{"name": "X-Probe", "value": "<live>"}]},
                   "timeoutSeconds": 5, "periodSeconds": 20},
    startupProbe={"httpGet": {"path": "/started", "port": 9080}, "failureThreshold": 30,
                  "periodSeconds": 2})]), None)

# TCP probes become HTTP GETs of the agent, which does the TCP check itself.
CASES["probes-tcp"] = (deployment_pod(containers=[container(
    "redis", ports=[port(6379, "redis")],
    readinessProbe={"tcpSocket": {"port": 6379}, "initialDelaySeconds": 5, "periodSeconds": 10},
    livenessProbe={"tcpSocket": {"port": "redis"}, "initialDelaySeconds": 15})]), None)

# gRPC probes: service null when unset.
CASES["probes-grpc"] = (deployment_pod(containers=[container(
    "ratings", ports=[port(50051, "grpc")],
    readinessProbe={"grpc": {"port": 50051}, "periodSeconds": 5},
    livenessProbe={"grpc": {"port": 50051, "service": "ratings.v1.Ratings"},
                   "timeoutSeconds": 2},
    startupProbe={"exec": {"command": ["/bin/grpc_health_probe", "-addr=:50051"]}})]), None)

# Probe rewriting switched off by the pod: probes untouched, no ISTIO_KUBE_APP_PROBERS.
CASES["probes-rewrite-disabled"] = (deployment_pod(
    annotations={"sidecar.istio.io/rewriteAppHTTPProbers": "false"},
    containers=[container("reviews", ports=[port(9080)],
                          readinessProbe=http_probe("/ready", 9080))]), None)

# status.sidecar.istio.io/port moves the rewritten probes to that port.
CASES["probes-status-port"] = (deployment_pod(
    annotations={"status.sidecar.istio.io/port": "15030"},
    containers=[container("reviews", ports=[port(9080)],
                          readinessProbe=http_probe("/ready", 9080))]), None)

# Prometheus merge: the app's scrape settings move into ISTIO_PROMETHEUS_ANNOTATIONS and the pod
# points Prometheus at the agent; the spelling prometheus-io/path is the same annotation.
CASES["prometheus-merge"] = (deployment_pod(annotations={
    "prometheus.io/scrape": "true", "prometheus.io/port": "8080",
    "prometheus-io/path": "/metrics", "team": "bookinfo"}), None)

# prometheus.io/scrape: "false" turns the merge off: annotations untouched.
CASES["prometheus-scrape-false"] = (deployment_pod(annotations={
    "prometheus.io/scrape": "false", "prometheus.io/port": "8080"}), None)

# Existing labels win: tlsMode kept, canonical name from app.kubernetes.io/name, revision from
# app.kubernetes.io/version; the user's default-container annotation is left alone.
CASES["existing-labels"] = (deployment_pod(
    labels={"app": "reviews", "app.kubernetes.io/name": "reviews-svc",
            "app.kubernetes.io/version": "2.4.1", "version": "v1",
            "security.istio.io/tlsMode": "disabled", "pod-template-hash": "7d9f8c6b5d"},
    annotations={"kubectl.kubernetes.io/default-container": "sidecar-helper"},
    containers=[container("reviews", ports=[port(9080)]), container("sidecar-helper")]), None)

# Unicode and the JSON Pointer specials '/' and '~' in keys; an app label too long for a label value
# (truncated to 63, trailing '-' trimmed); '<' and '&' in values.
CASES["unicode-and-pointer-escapes"] = (deployment_pod(
    labels={"app": "a" * 62 + "-" + "zzzz", "pod-template-hash": "7d9f8c6b5d",
            "example.com/tilde~key": "x", "ünïcödé/ラベル": "値"},
    annotations={"example.com/a~b/c": "~/~0~1", "notes": "naïve café <b>&amp;</b> 日本語 🚀",
                 "prometheus.io~scrape": "maybe"}), None)

# 1,500 env vars on the app container: copied by nobody, passed over once.
CASES["env-1500"] = (deployment_pod(containers=[container(
    "reviews", ports=[port(9080, "http")],
    env=[{"name": f"SETTING_{i:04d}", "value": f"value-{i}-" + "x" * 16} for i in range(1500)],
    readinessProbe=http_probe("/ready", "http"))]), None)

# 50 containers, each with a port and a probe.
CASES["containers-50"] = (deployment_pod(app="batch", containers=[
    container(f"worker-{i:02d}", ports=[port(8000 + i, f"http-{i:02d}")],
              readinessProbe=http_probe("/ready", f"http-{i:02d}"))
    for i in range(50)]), None)

# Native sidecar: istio-init, then istio-proxy (restartPolicy Always, preStop drain) before the
# pod's own init containers; no regular container added.
CASES["native-sidecar"] = (deployment_pod(init_containers=[container("migrate-db")]),
                           {"template": "native"})

# A pod asking for a native sidecar from a classic template.
CASES["native-sidecar-by-annotation"] = (deployment_pod(
    annotations={"sidecar.istio.io/nativeSidecar": "true"}), None)

# Pod overrides of the proxy's resources and image type: istio-init and istio-proxy both get them
# (Istio renders both from the same "resources" block and .ProxyImage); any of the four resource
# annotations replaces the whole resources object.
CASES["proxy-resources-and-image-type"] = (deployment_pod(annotations={
    "sidecar.istio.io/proxyCPU": "250m", "sidecar.istio.io/proxyMemoryLimit": "2Gi",
    "sidecar.istio.io/proxyImageType": "distroless"}), None)

# sidecar.istio.io/proxyImage (a full reference, with a '/') beats the image type.
CASES["proxy-image"] = (deployment_pod(annotations={
    "sidecar.istio.io/proxyImage": "registry.example.com/mesh/proxyv2:1.24.1-fips",
    "sidecar.istio.io/proxyImageType": "debug"}), None)

# proxy.istio.io/config can hold the application per pod.
CASES["proxy-config-hold"] = (deployment_pod(annotations={
    "proxy.istio.io/config": "holdApplicationUntilProxyStarts: true\n"}), None)

# holdApplicationUntilProxyStarts: istio-proxy first, postStart pilot-agent wait.
CASES["hold-application"] = (deployment_pod(containers=[
    container("reviews", ports=[port(9080)]), container("log-shipper")]), {"template": "hold"})

# Webhook path segments: cluster and net, and a custom key (upper-cased, --slash-- is '/'):
# replaced in place and appended sorted; the network becomes the pod's topology label.
CASES["path-env"] = (deployment_pod(), {
    "path": "/inject/ns-rev/canary/cluster/east-1/net/network-east/istio_meta_dns_capture/true"
            "/custom_endpoint/https:--slash----slash--example.com"})

# The pod's topology.istio.io/network label beats the path's net segment.
CASES["network-label"] = (deployment_pod(labels={
    "app": "reviews", "version": "v1", "pod-template-hash": "7d9f8c6b5d",
    "topology.istio.io/network": "network-west"}),
    {"path": "/inject/net/network-east"})

# A bare pod with no labels, annotations, init containers or volumes: whole maps and lists are
# added; the workload is the pod itself.
CASES["bare-pod"] = ({
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "debug-shell", "namespace": "tools"},
    "spec": {"containers": [{"name": "shell", "image": "busybox:1.36",
                             "command": ["sleep", "3600"]}]},
}, {"namespace": "tools", "revision": "1-24-1"})

# A CronJob's pod: the owner is the CronJob (batch/v1), named without the Job's timestamp.
CASES["cronjob-pod"] = ({
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"generateName": "nightly-report-28734120-", "namespace": "jobs",
                 "labels": {"job-name": "nightly-report-28734120"},
                 "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job",
                                      "name": "nightly-report-28734120", "uid": "u",
                                      "controller": True}]},
    "spec": {"restartPolicy": "OnFailure",
             "containers": [{"name": "report", "image": "example/report:2"}]},
}, {"namespace": "jobs"})

# Re-invocation: a pod that already carries sidecar.istio.io/status gets an empty patch.
_injected = deployment_pod(annotations={"sidecar.istio.io/status": json.dumps({
    "initContainers": ["istio-init"], "containers": ["istio-proxy"], "volumes": ["istio-envoy"],
    "imagePullSecrets": None, "revision": "1-23-3"}, separators=(",", ":"))})
CASES["already-injected"] = (_injected, None)


def main():
    for name, (pod, params) in CASES.items():
        d = os.path.join(HERE, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "pod.json"), "w", encoding="utf-8") as f:
            json.dump(pod, f, indent=2, ensure_ascii=False)
            f.write("\n")
        p = os.path.join(d, "params.json")
        if params:
            with open(p, "w", encoding="utf-8") as f:
                json.dump(params, f, indent=2)
                f.write("\n")
        elif os.path.exists(p):
            os.remove(p)


if __name__ == "__main__":
    main()
