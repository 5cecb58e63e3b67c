"""Every rule that refuses a deployment, by name, in the order a reader fixes what they find."""

from __future__ import annotations

PROBLEM_RULES: tuple[str, ...] = (
    # Settings
    "dependencies_are_reachable",
    "nats_is_reachable",
    "kubernetes_discovery_is_provided",
    "etcd_tls_applies_to_the_own_etcd",
    "generated_names_are_valid",
    "ports_are_distinct",
    "worker_ports_are_distinct",
    "autoscaling_signal_is_exported",
    "etcd_tls_needs_dynamo_v1",
    "clients_are_admitted",
    # Pods
    "pod_gpus_match_workers",
    "parallelism_matches_worker_gpus",
    "worker_gpus_fill_whole_nodes",
    "decode_and_prefill_serve_the_same_model",
    "remote_prefill_has_what_it_needs",
    "no_setting_dynamo_overrides",
    "disaggregation_has_both_sides",
    "kv_router_gets_kv_events",
    "frontend_serves_the_workers_model",
    # Placement
    "worker_groups_fit_nodes",
    "autoscaling_maximum_fits_nodes",
    "deployment_fits_nodes",
)

ONLY_WHEN_COMPOSED_BY_HAND: frozenset[str] = frozenset({
    "clients_are_admitted", "nats_is_reachable", "kubernetes_discovery_is_provided",
    "disaggregation_has_both_sides", "kv_router_gets_kv_events",
    "frontend_serves_the_workers_model"})
"""Rules a chart composed from an environment file cannot break: it wires the constructs
itself."""


def report_order(rule: str) -> int:
    return PROBLEM_RULES.index(rule) if rule in PROBLEM_RULES else len(PROBLEM_RULES)
