"""How Dynamo pods are placed on nodes, replaced on update, and protected from disruption."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..model.hardening import DisruptionBudgetSettings, PlacementSettings, UpdateStrategy
from .k8s import Manifest, metadata

HOSTNAME = "kubernetes.io/hostname"


def strategy(settings: UpdateStrategy) -> dict[str, Any]:
    if settings.type == "Recreate":
        return {"type": "Recreate"}
    # maxSurge 0: a new pod starts only after an old one released its GPUs.
    return {"type": "RollingUpdate", "rollingUpdate": {
        "maxSurge": 0,
        "maxUnavailable": settings.max_unavailable if settings.max_unavailable is not None else 1,
    }}


def place(pod_spec: dict[str, Any], settings: PlacementSettings, *, host_network: bool,
          release_labels: Mapping[str, str], own_labels: Mapping[str, str]) -> None:
    """Node selector, tolerations, and keeping pods apart: with the host network no two of the
    release's Dynamo pods may share a node (they would bind the same ports); otherwise each
    Deployment's pods prefer different nodes."""
    if settings.node_selector:
        pod_spec["nodeSelector"] = dict(settings.node_selector)
    if settings.tolerations:
        pod_spec["tolerations"] = [t.render() for t in settings.tolerations]
    if host_network and settings.host_network_anti_affinity:
        pod_spec["affinity"] = {"podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [{
                "labelSelector": {"matchLabels": dict(release_labels)},
                "topologyKey": HOSTNAME,
            }],
        }}
    elif settings.spread_across_nodes:
        pod_spec["topologySpreadConstraints"] = [{
            "maxSkew": 1,
            "topologyKey": HOSTNAME,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": dict(own_labels)},
        }]


def disruption_budget(name: str, namespace: str | None, labels: Mapping[str, str],
                      selector: Mapping[str, str], replicas: int,
                      settings: DisruptionBudgetSettings) -> Manifest | None:
    """A PodDisruptionBudget for two or more replicas, or None.

    One replica gets none: its only effect would be to block draining the node. Pods that are
    not ready (still loading, or failing) may always be evicted, so a broken pod never holds a
    drain either.
    """
    if not settings.enabled or replicas < 2:
        return None
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(name, namespace, labels),
        "spec": {
            "maxUnavailable": settings.max_unavailable,
            "selector": {"matchLabels": dict(selector)},
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }
