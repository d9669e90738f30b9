#!/usr/bin/env bash
# Rewrites manifests/configmap.yaml from config/example.yaml and config/templates/example-sidecar.yaml
# (admission_tests' WebhookManifest.ShippedConfigMapIsTheExampleConfig fails when they drift apart).
set -euo pipefail
cd "$(dirname "$0")/../.."
indent() { sed 's/^/    /; s/^ *$//' "$1"; }
{
  cat <<'HEADER'
# The routing table and the sidecar templates it names, mounted at /etc/revrouter/config (see the
# Deployment's volume items for where each key lands). revrouter reloads them when the ConfigMap
# changes; a table that does not load is reported and the last good one stays in use.
# Generated from config/ by tests/manifests/refresh-configmap.sh.
apiVersion: v1
kind: ConfigMap
metadata:
  name: revrouter-config
  namespace: istio-system
  labels:
    app.kubernetes.io/name: revrouter
    app.kubernetes.io/component: injector-webhook
data:
  routing.yaml: |
HEADER
  indent config/example.yaml
  echo "  example-sidecar.yaml: |"
  indent config/templates/example-sidecar.yaml
} > manifests/configmap.yaml
