"""Rules of the DependencyStack: an etcd to reach, TLS on the etcd it deploys, and
NetworkPolicies that let its clients in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from cdk8s import Chart

from . import Finding
from .subjects import subjects_of

if TYPE_CHECKING:
    from ..dependencies import DependencyStack
    from ..workload import DynamoWorkload


def dependencies_are_reachable(stack: DependencyStack, chart: Chart) -> Iterator[Finding]:
    """A dependency that is not deployed must be named by an override: etcd unless every
    workload of the chart that uses this stack finds the others through the Kubernetes API,
    NATS when one of them needs it."""
    from ..workload import DynamoWorkload

    etcd, nats, where = stack.etcd_settings, stack.nats_settings, stack.locator.field
    clients = [w for w in subjects_of(chart, DynamoWorkload)
               if w.connects_to(stack) or w.dependencies is stack]
    nats_needed = any(w.needs_nats for w in clients)
    etcd_needed = not clients or any(w.needs_etcd for w in clients)
    if not etcd.enabled and not etcd.endpoints_override and etcd_needed:
        yield Finding(where("etcd.enabled"),
                      f"false, but {where('etcd.endpoints_override')} is not set: the Dynamo "
                      "pods would have no etcd; set it to the etcd to use (host:port)")
    if not nats.enabled and not nats.server_override and nats_needed:
        yield Finding(where("nats.enabled"),
                      f"false, but {where('nats.server_override')} is not set: the Dynamo "
                      "pods would have no NATS; set it to the NATS to use (nats://host:port)")


def etcd_tls_applies_to_the_own_etcd(stack: DependencyStack) -> Iterator[Finding]:
    """The switch secures the etcd the stack deploys; an external etcd is not configured by
    this library."""
    etcd, where = stack.etcd_settings, stack.locator.field
    if etcd.tls is None:
        return
    received = f"server_secret {etcd.tls.server_secret}, client_secret {etcd.tls.client_secret}"
    if not etcd.enabled:
        yield Finding(where("etcd.tls"),
                      f"{received}, but {where('etcd.enabled')} is false: TLS applies to the "
                      f"release's own etcd; enable it or remove {where('etcd.tls')}")
    elif etcd.endpoints_override:
        yield Finding(where("etcd.tls"),
                      f"{received}, but {where('etcd.endpoints_override')} "
                      f"({etcd.endpoints_override}) sends the Dynamo pods to another etcd: TLS "
                      "applies to the release's own etcd; remove one of the two")


def clients_are_admitted(stack: DependencyStack, chart: Chart) -> Iterator[Finding]:
    """A workload of the chart that connects to this stack's etcd or NATS gets through their
    NetworkPolicies, whatever order the constructs were created in."""
    from ..workload import DynamoWorkload

    for workload in subjects_of(chart, DynamoWorkload):
        if not workload.connects_to(stack) or stack.admits(workload):
            continue
        if workload.host_network:
            why = ("runs in the host network, where no pod selector matches its traffic, and "
                   "the policies admit host-network clients only with clients_use_host_network")
        else:
            labels = ", ".join(f"{k}={v}" for k, v in sorted(workload.pod_labels.items()))
            why = f"has pods labelled {labels}, which client_pod_labels does not select"
        yield Finding(stack.locator.field("network_policy"),
                      f"enabled, but {workload.node.path} connects to this stack's etcd or NATS "
                      f"and {why}: give that workload dependencies=<this stack> (its policies "
                      "then admit it), or turn network_policy off")


def nats_is_reachable(workload: DynamoWorkload) -> Iterator[Finding]:
    """Pods that need NATS and were given addresses instead of a stack need a NATS address (a
    DependencyStack says so itself)."""
    if workload.needs_nats and not workload.nats_url and workload.dependencies is None:
        yield Finding(workload.locator.field("nats_url"),
                      f"not given, but {workload.nats_use} need NATS: give the NATS to use "
                      "(nats://host:port), or dependencies=<a DependencyStack that deploys "
                      "NATS>", subject=workload)
