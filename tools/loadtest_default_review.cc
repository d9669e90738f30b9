// The built-in request body of `revrouter loadtest`: a Deployment's pod CREATE as the API server
// sends it (defaults applied, managedFields, 30 env vars, probes, affinity, tolerations; the
// "typical" review of bench/bench_injection.cc), used when no recorded reviews are given.
#include "tools/loadtest_body.h"

namespace revrouter::loadtest {

std::string_view default_review() {
  static constexpr std::string_view kReview = R"json(
{
  "apiVersion": "admission.k8s.io/v1",
  "kind": "AdmissionReview",
  "request": {
    "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
    "kind": {"group": "", "version": "v1", "kind": "Pod"},
    "resource": {"group": "", "version": "v1", "resource": "pods"},
    "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
    "requestResource": {"group": "", "version": "v1", "resource": "pods"},
    "namespace": "bookinfo",
    "operation": "CREATE",
    "userInfo": {
      "username": "system:serviceaccount:kube-system:replicaset-controller",
      "uid": "2a3b4c5d-1111-2222-3333-444455556666",
      "groups": [
        "system:serviceaccounts",
        "system:serviceaccounts:kube-system",
        "system:authenticated"
      ]
    },
    "object": {
      "apiVersion": "v1",
      "kind": "Pod",
      "metadata": {
        "generateName": "reviews-v1-7d9f8c6b5d-",
        "namespace": "bookinfo",
        "creationTimestamp": null,
        "labels": {"app": "reviews", "version": "v1", "pod-template-hash": "7d9f8c6b5d"},
        "annotations": {"kubectl.kubernetes.io/restartedAt": "2024-11-20T10:15:00Z"},
        "ownerReferences": [
          {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": "reviews-v1-7d9f8c6b5d",
            "uid": "6f1c7a52-3b1e-4d43-9a53-0f3c1f0e9b21",
            "controller": true,
            "blockOwnerDeletion": true
          }
        ],
        "managedFields": [
          {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "apiVersion": "v1",
            "time": "2024-11-20T10:15:02Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
              "f:metadata": {
                "f:generateName": {},
                "f:labels": {".": {}, "f:app": {}, "f:version": {}, "f:pod-template-hash": {}},
                "f:ownerReferences": {
                  ".": {},
                  "k:{\"uid\":\"6f1c7a52-3b1e-4d43-9a53-0f3c1f0e9b21\"}": {}
                }
              },
              "f:spec": {
                "f:containers": {
                  "k:{\"name\":\"reviews\"}": {
                    ".": {},
                    "f:env": {},
                    "f:image": {},
                    "f:imagePullPolicy": {},
                    "f:livenessProbe": {},
                    "f:name": {},
                    "f:ports": {},
                    "f:readinessProbe": {},
                    "f:resources": {},
                    "f:securityContext": {},
                    "f:terminationMessagePath": {},
                    "f:terminationMessagePolicy": {},
                    "f:volumeMounts": {}
                  }
                },
                "f:dnsPolicy": {},
                "f:enableServiceLinks": {},
                "f:restartPolicy": {},
                "f:schedulerName": {},
                "f:securityContext": {},
                "f:serviceAccount": {},
                "f:serviceAccountName": {},
                "f:terminationGracePeriodSeconds": {},
                "f:volumes": {}
              }
            }
          }
        ]
      },
      "spec": {
        "volumes": [
          {"name": "tmp", "emptyDir": {}},
          {
            "name": "kube-api-access-7xk2p",
            "projected": {
              "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {
                  "configMap": {
                    "name": "kube-root-ca.crt",
                    "items": [{"key": "ca.crt", "path": "ca.crt"}]
                  }
                },
                {
                  "downwardAPI": {
                    "items": [
                      {
                        "path": "namespace",
                        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}
                      }
                    ]
                  }
                }
              ],
              "defaultMode": 420
            }
          }
        ],
        "containers": [
          {
            "name": "reviews",
            "image": "docker.io/istio/examples-bookinfo-reviews-v1:1.20.2",
            "ports": [
              {"name": "http", "containerPort": 9080, "protocol": "TCP"},
              {"name": "http-admin", "containerPort": 9090, "protocol": "TCP"}
            ],
            "env": [
              {"name": "APP_SETTING_0", "value": "value-0-abcdefghijklmnop"},
              {"name": "APP_SETTING_1", "value": "value-1-abcdefghijklmnop"},
              {"name": "APP_SETTING_2", "value": "value-2-abcdefghijklmnop"},
              {"name": "APP_SETTING_3", "value": "value-3-abcdefghijklmnop"},
              {"name": "APP_SETTING_4", "value": "value-4-abcdefghijklmnop"},
              {"name": "APP_SETTING_5", "value": "value-5-abcdefghijklmnop"},
              {"name": "APP_SETTING_6", "value": "value-6-abcdefghijklmnop"},
              {"name": "APP_SETTING_7", "value": "value-7-abcdefghijklmnop"},
              {"name": "APP_SETTING_8", "value": "value-8-abcdefghijklmnop"},
              {"name": "APP_SETTING_9", "value": "value-9-abcdefghijklmnop"},
              {"name": "APP_SETTING_10", "value": "value-10-abcdefghijklmnop"},
              {"name": "APP_SETTING_11", "value": "value-11-abcdefghijklmnop"},
              {"name": "APP_SETTING_12", "value": "value-12-abcdefghijklmnop"},
              {"name": "APP_SETTING_13", "value": "value-13-abcdefghijklmnop"},
              {"name": "APP_SETTING_14", "value": "value-14-abcdefghijklmnop"},
              {"name": "APP_SETTING_15", "value": "value-15-abcdefghijklmnop"},
              {"name": "APP_SETTING_16", "value": "value-16-abcdefghijklmnop"},
              {"name": "APP_SETTING_17", "value": "value-17-abcdefghijklmnop"},
              {"name": "APP_SETTING_18", "value": "value-18-abcdefghijklmnop"},
              {"name": "APP_SETTING_19", "value": "value-19-abcdefghijklmnop"},
              {"name": "APP_SETTING_20", "value": "value-20-abcdefghijklmnop"},
              {"name": "APP_SETTING_21", "value": "value-21-abcdefghijklmnop"},
              {"name": "APP_SETTING_22", "value": "value-22-abcdefghijklmnop"},
              {"name": "APP_SETTING_23", "value": "value-23-abcdefghijklmnop"},
              {"name": "APP_SETTING_24", "value": "value-24-abcdefghijklmnop"},
              {"name": "APP_SETTING_25", "value": "value-25-abcdefghijklmnop"},
              {"name": "APP_SETTING_26", "value": "value-26-abcdefghijklmnop"},
              {"name": "APP_SETTING_27", "value": "value-27-abcdefghijklmnop"},
              {"name": "APP_SETTING_28", "value": "value-28-abcdefghijklmnop"},
              {"name": "APP_SETTING_29", "value": "value-29-abcdefghijklmnop"}
            ],
            "resources": {
              "limits": {"cpu": "1", "memory": "512Mi"},
              "requests": {"cpu": "100m", "memory": "128Mi"}
            },
            "volumeMounts": [
              {"name": "tmp", "mountPath": "/tmp"},
              {
                "name": "kube-api-access-7xk2p",
                "readOnly": true,
                "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"
              }
            ],
            "readinessProbe": {
              "httpGet": {"path": "/ready", "port": "http", "scheme": "HTTP"},
              "initialDelaySeconds": 5,
              "timeoutSeconds": 1,
              "periodSeconds": 10,
              "successThreshold": 1,
              "failureThreshold": 3
            },
            "livenessProbe": {
              "tcpSocket": {"port": 9080},
              "timeoutSeconds": 1,
              "periodSeconds": 10,
              "successThreshold": 1,
              "failureThreshold": 3
            },
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
            "imagePullPolicy": "IfNotPresent",
            "securityContext": {"runAsUser": 1000, "allowPrivilegeEscalation": false}
          }
        ],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "bookinfo-reviews",
        "serviceAccount": "bookinfo-reviews",
        "securityContext": {},
        "schedulerName": "default-scheduler",
        "affinity": {
          "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
              {
                "weight": 100,
                "podAffinityTerm": {
                  "labelSelector": {
                    "matchExpressions": [
                      {"key": "app", "operator": "In", "values": ["reviews"]}
                    ]
                  },
                  "topologyKey": "kubernetes.io/hostname"
                }
              }
            ]
          }
        },
        "tolerations": [
          {
            "key": "node.kubernetes.io/not-ready",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 300
          },
          {
            "key": "node.kubernetes.io/unreachable",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 300
          }
        ],
        "priority": 0,
        "enableServiceLinks": true,
        "preemptionPolicy": "PreemptLowerPriority"
      },
      "status": {}
    },
    "oldObject": null,
    "dryRun": false,
    "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}
  }
})json";
  return kReview;
}

}  // namespace revrouter::loadtest
