"""What etcd's and NATS' manifests share: who may connect, disruption, placement, privileges."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..model.environment import Resources
from ..model.hardening import DependencyHardening
from .escape_hatches import restrict_container, restrict_pod
from .k8s import Manifest, metadata

HOSTNAME = "kubernetes.io/hostname"


@dataclass(frozen=True)
class Clients:
    """Who connects to a dependency's client port."""

    pod_selectors: Sequence[Mapping[str, str]]
    """Label sets that select the client pods (each admitted on its own)."""
    host_network: bool = False
    """The clients use the host network, so their traffic comes from node addresses, which no
    pod selector matches."""
    allowed_cidrs: Sequence[str] = field(default_factory=tuple)
    """Further source ranges admitted to the client port."""
    network_policy: bool = True
    """Emit the NetworkPolicy at all."""


def network_policy(name: str, namespace: str, labels: Mapping[str, str],
                   selector: Mapping[str, str], clients: Clients, *, client_ports: Sequence[int],
                   peer_ports: Sequence[int]) -> Manifest | None:
    """Admit the clients on the client ports and the dependency's own members on every port it
    serves; nothing else. Egress stays open (members resolve and reach each other by DNS)."""
    if not clients.network_policy:
        return None
    sources: list[dict[str, Any]] | None = [
        *({"podSelector": {"matchLabels": dict(labels)}} for labels in clients.pod_selectors),
        *({"ipBlock": {"cidr": cidr}} for cidr in clients.allowed_cidrs),
    ]
    if clients.host_network and not clients.allowed_cidrs:
        # Host-network clients connect from node addresses that no selector can name and that
        # this library does not know: the client port stays open to every source. Give the
        # nodes' CIDRs in network_policy.allowed_cidrs to close it.
        sources = None
    client_rule: dict[str, Any] = {"ports": [{"port": p, "protocol": "TCP"} for p in client_ports]}
    if sources is not None:
        client_rule["from"] = sources
    peer_rule = {
        "from": [{"podSelector": {"matchLabels": dict(selector)}}],
        "ports": [{"port": p, "protocol": "TCP"} for p in (*client_ports, *peer_ports)],
    }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(name, namespace, labels),
        "spec": {
            "podSelector": {"matchLabels": dict(selector)},
            "policyTypes": ["Ingress"],
            "ingress": [client_rule, peer_rule],
        },
    }


def disruption_budget(name: str, namespace: str, labels: Mapping[str, str],
                      selector: Mapping[str, str], replicas: int,
                      settings: DependencyHardening) -> Manifest | None:
    """One member at a time for a replicated dependency, so a drain never costs the quorum."""
    if replicas < 2 or not settings.disruption_budget:
        return None
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(name, namespace, labels),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": dict(selector)}},
    }


def harden_pod(pod_spec: dict[str, Any], selector: Mapping[str, str], replicas: int,
               settings: DependencyHardening) -> None:
    """Non-root with a read-only root filesystem and no token, and members on separate nodes."""
    restrict_pod(pod_spec, run_as_user=settings.run_as_user)
    for container in pod_spec["containers"]:
        restrict_container(container, read_only_root_filesystem=settings.read_only_root_filesystem,
                           run_as_user=settings.run_as_user)
    if replicas < 2:
        return
    term: dict[str, Any] = {"labelSelector": {"matchLabels": dict(selector)},
                            "topologyKey": HOSTNAME}
    anti_affinity: dict[str, Any]
    if settings.anti_affinity == "required":
        anti_affinity = {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
    else:
        anti_affinity = {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "podAffinityTerm": term}]}
    pod_spec["affinity"] = {"podAntiAffinity": anti_affinity}


def resources(settings: Resources) -> dict[str, Any]:
    rendered = {}
    if requests := settings.requests.render():
        rendered["requests"] = requests
    if limits := settings.limits.render():
        rendered["limits"] = limits
    return rendered
