"""The objects Dynamo 1.x's `kubernetes` discovery backend needs without NVIDIA's operator.

Measured against the 1.6.1 runtime (docs/dynamo-1x-runtime.md, section 6): every component
lists and watches the EndpointSlices labelled `nvidia.com/dynamo-discovery-enabled=true` and the
DynamoWorkerMetadata objects of its namespace; each worker applies (server-side, field manager
`dynamo-worker`) one DynamoWorkerMetadata named after its pod, owned by the pod, and counts only
while an EndpointSlice marks that pod ready. Nothing reads a single object by name or deletes
one: garbage collection follows the owner reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .k8s import Manifest, metadata

DISCOVERY_LABEL = "nvidia.com/dynamo-discovery-enabled"
"""The label the runtime selects EndpointSlices by; slices copy it from their Service, and the
worker pods carry it so that the Service selects them."""
DISCOVERY_LABELS = {DISCOVERY_LABEL: "true"}

GROUP = "nvidia.com"
VERSION = "v1alpha1"
KIND = "DynamoWorkerMetadata"
PLURAL = "dynamoworkermetadatas"
CRD_NAME = f"{PLURAL}.{GROUP}"

ROLE_RULES: tuple[Mapping[str, Any], ...] = (
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
     "verbs": ["list", "watch"]},
    # An apply that creates the object is authorized as create as well as patch.
    {"apiGroups": [GROUP], "resources": [PLURAL], "verbs": ["create", "list", "patch", "watch"]},
)
"""Exactly what the runtime calls in pod mode (the default `DYN_KUBE_DISCOVERY_MODE`)."""


def _from_field(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def pod_env() -> list[dict[str, Any]]:
    """Who the pod is: the runtime names its DynamoWorkerMetadata after the pod, owns it by the
    pod's UID, and lists in the pod's namespace."""
    return [_from_field("POD_NAME", "metadata.name"), _from_field("POD_UID", "metadata.uid"),
            _from_field("POD_NAMESPACE", "metadata.namespace")]


def service_account(name: str, namespace: str, labels: Mapping[str, str]) -> Manifest:
    # The runtime reads the in-cluster token from the mounted files.
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": metadata(name, namespace, labels),
            "automountServiceAccountToken": True}


def role(name: str, namespace: str, labels: Mapping[str, str]) -> Manifest:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": metadata(name, namespace, labels),
            "rules": [{key: list(value) for key, value in rule.items()} for rule in ROLE_RULES]}


def role_binding(name: str, namespace: str, labels: Mapping[str, str],
                 service_account_name: str) -> Manifest:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": metadata(name, namespace, labels),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": service_account_name,
                          "namespace": namespace}]}


def service(name: str, namespace: str, labels: Mapping[str, str],
            selector: Mapping[str, str], port: int) -> Manifest:
    """Headless: nothing is routed through it; its EndpointSlices, which carry its labels, tell
    the runtime which worker pods are ready (not-ready addresses stay unpublished)."""
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": metadata(name, namespace, {**labels, **DISCOVERY_LABELS}),
            "spec": {"clusterIP": "None", "selector": dict(selector), "ports": [
                {"name": "system", "port": port, "targetPort": "system", "protocol": "TCP"}]}}


def custom_resource_definition(labels: Mapping[str, str]) -> Manifest:
    """The DynamoWorkerMetadata CRD, written from what the runtime stores: `spec.data` is the
    worker's discovery metadata (endpoints, model cards, event channels), a JSON object whose
    shape is the runtime's business, so it is kept whole."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": metadata(CRD_NAME, labels=labels),
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"kind": KIND, "listKind": f"{KIND}List", "plural": PLURAL,
                      "singular": KIND.lower()},
            "versions": [{
                "name": VERSION,
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "description": "What one Dynamo worker pod serves, written by the worker "
                                   "for Dynamo's kubernetes discovery backend.",
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "metadata": {"type": "object"},
                        "spec": {
                            "type": "object",
                            "required": ["data"],
                            "properties": {"data": {
                                "type": "object",
                                "description": "The worker's endpoints, model cards and event "
                                               "channels, as the runtime serialises them.",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }},
                        },
                    },
                    "required": ["spec"],
                }},
            }],
        },
    }
