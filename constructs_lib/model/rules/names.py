"""Rules on the names the manifests give to their objects, each checked for its kind."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, NamedTuple

from ...errors import show
from ..base import is_dns_1035_label, is_dns_label, is_dns_subdomain
from . import Finding

if TYPE_CHECKING:
    from ..environment import Environment, FrontendSettings, PrefillSettings

# A StatefulSet stamps its pods with `controller-revision-hash: <name>-<hash>`, a label value
# of at most 63 characters; the hash takes up to 11, so longer names leave pods uncreatable.
_STATEFULSET_LIMIT = 52
_SUBDOMAIN = "DNS-1123 subdomains of at most 253 lower-case letters, digits, '-' and '.'"

_KIND_RULES: dict[str, tuple[Callable[[str], bool], int, str]] = {
    "Service": (is_dns_1035_label, 63,
                "DNS-1035 labels of at most 63 lower-case letters, digits and '-', starting "
                "with a letter"),
    "StatefulSet": (lambda n: is_dns_label(n, _STATEFULSET_LIMIT), _STATEFULSET_LIMIT,
                    f"DNS-1123 labels of at most {_STATEFULSET_LIMIT} characters (their pods' "
                    "controller-revision-hash label appends 11 more)"),
    "Deployment": (is_dns_subdomain, 253, _SUBDOMAIN),
    "ConfigMap": (is_dns_subdomain, 253, _SUBDOMAIN),
    "ServiceMonitor": (is_dns_subdomain, 253, _SUBDOMAIN),
    "PodMonitor": (is_dns_subdomain, 253, _SUBDOMAIN),
    "NetworkPolicy": (is_dns_subdomain, 253, _SUBDOMAIN),
    "PodDisruptionBudget": (is_dns_subdomain, 253, _SUBDOMAIN),
}


class GeneratedName(NamedTuple):
    field: str
    """The setting that decides the name: `release` or `fullname_override`."""
    kind: str
    name: str
    dependency: bool
    """etcd's and NATS's names follow the release alone; no override changes them."""


def generated_names(env: Environment) -> list[GeneratedName]:
    """Every object name the environment produces, with the setting that decides it."""
    from ..environment import Generation, Mode
    from ..roles import decode_role, prefill_role

    field = "fullname_override" if env.fullname_override else "release"
    names, deps = env.names, env.dependency_names
    metrics = env.frontend.metrics
    monitored = metrics.enabled and metrics.service_monitor.enabled
    dynamo: list[tuple[str, str]]
    # A Deployment of two or more replicas has a PodDisruptionBudget of its name, when enabled.
    budgets: list[tuple[str, int, FrontendSettings | PrefillSettings]] = []
    if env.dynamo is Generation.V1:
        v1 = env.v1_names
        prefill_settings = env.prefill or env.frontend
        dynamo = [("Deployment", v1.deployment("frontend")), ("Service", v1.frontend_service),
                  ("Deployment", v1.deployment("decode"))]
        budgets = [(v1.deployment("frontend"), env.frontend.replicas, env.frontend),
                   (v1.deployment("decode"), decode_role(env).workers, env.frontend)]
        if prefill_role(env).workers:
            dynamo.append(("Deployment", v1.deployment("prefill")))
            budgets.append((v1.deployment("prefill"), prefill_role(env).workers,
                            prefill_settings))
        if monitored:
            dynamo += [("ServiceMonitor", v1.service_monitor), ("PodMonitor", v1.worker_monitor)]
        network_policy = v1.network_policy
    else:
        dynamo = [("Deployment", names.frontend_deployment), ("Service", names.frontend_service),
                  ("ConfigMap", names.configs_config_map), ("ConfigMap", names.graphs_config_map)]
        budgets = [(names.frontend_deployment, env.frontend.replicas, env.frontend)]
        if env.mode is Mode.MULTINODE:
            dynamo += [("Deployment", names.prefill_deployment),
                       ("ConfigMap", names.prefill_configs_config_map)]
            if env.prefill is not None:
                budgets.append((names.prefill_deployment, env.prefill.replicas, env.prefill))
        if monitored:
            dynamo.append(("ServiceMonitor", names.service_monitor))
        network_policy = names.network_policy
    dynamo += [("PodDisruptionBudget", name) for name, replicas, role in budgets
               if replicas >= 2 and role.disruption_budget.enabled]
    policies = env.network_policy.enabled
    if policies:
        dynamo.append(("NetworkPolicy", network_policy))
    dependencies = []
    etcd, nats = env.dependencies.etcd, env.dependencies.nats
    if etcd.enabled:
        dependencies += [("Service", deps.etcd), ("Service", deps.etcd_headless),
                         ("StatefulSet", deps.etcd)]
    if nats.enabled:
        dependencies += [("Service", deps.nats), ("Service", deps.nats_headless),
                         ("StatefulSet", deps.nats), ("ConfigMap", deps.nats_config_map)]
    # Each dependency's NetworkPolicy and PodDisruptionBudget take its StatefulSet's name.
    for settings, name in ((etcd, deps.etcd), (nats, deps.nats)):
        if settings.enabled and policies:
            dependencies.append(("NetworkPolicy", name))
        if settings.enabled and settings.replicas >= 2 and settings.disruption_budget:
            dependencies.append(("PodDisruptionBudget", name))
    return ([GeneratedName(field, kind, name, False) for kind, name in dynamo]
            + [GeneratedName("release", kind, name, True) for kind, name in dependencies])


def generated_names_are_valid(env: Environment) -> Iterator[Finding]:
    """Every generated name is valid for its kind; one line per setting that decides names."""
    wrong: dict[str, list[GeneratedName]] = {}
    for generated in generated_names(env):
        if not _KIND_RULES[generated.kind][0](generated.name):
            wrong.setdefault(generated.field, []).append(generated)
    for field, names in wrong.items():
        reasons, too_long = [], False
        for kind in _KIND_RULES:
            listed = []
            for g in (g for g in names if g.kind == kind):
                over = len(g.name) > _KIND_RULES[kind][1]
                too_long |= over
                listed.append(f"{g.name} ({len(g.name)} characters)" if over else g.name)
            if listed:
                what = f"{kind} names" if len(listed) > 1 else f"a {kind} name"
                reasons.append(f"{', '.join(listed)} cannot be {what}: {kind} names are "
                               f"{_KIND_RULES[kind][2]}")
        remedies = []
        if too_long:
            remedies.append("shorten it" if field == "fullname_override"
                            or any(g.dependency for g in names)
                            else "shorten it or set fullname_override")
        if any(not g.name[:1].isalpha() for g in names):
            remedies.append("start it with a letter")
        value = env.fullname_override if field == "fullname_override" else env.release
        yield Finding(field, f"{show(value)}: {'; '.join(reasons)}; {' and '.join(remedies)}")
