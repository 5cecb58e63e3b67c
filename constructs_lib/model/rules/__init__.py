"""Rules of the environment file itself: which sections a file needs for its mode, and what
its choice of Dynamo generation allows. Rules about what gets deployed belong to the
constructs (`constructs_lib.rules`), which a chart composed from the file runs too.

Each rule is a function of a validated Environment that yields Findings located at the field
as written in the file. All rules run, so a file's problems are reported together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from ...rules import Finding, RuleViolations

if TYPE_CHECKING:
    from ..environment import EnvironmentBase as Environment

Rule = Callable[["Environment"], Iterable[Finding]]


def _run(rules: Iterable[Rule], env: Environment) -> list[Finding]:
    return [replace(f, rule=rule.__name__) for rule in rules for f in rule(env)]


def problems(env: Environment) -> list[Finding]:
    """What makes this file impossible to compose into a chart as written."""
    return _run(FILE_RULES, env)


def warnings(env: Environment) -> list[Finding]:
    """Settings of the file that are legal but probably not what was meant."""
    return _run(ADVICE_RULES, env)


from . import advice, autoscaling, discovery, etcd_tls, limits, structure  # noqa: E402

FILE_RULES: tuple[Rule, ...] = (
    structure.mode_matches_roles,
    structure.prefill_pool_runs_prefill_workers,
    etcd_tls.etcd_tls_needs_dynamo_v1,
    discovery.kubernetes_discovery_uses_no_etcd,
    discovery.kubernetes_discovery_mounts_the_token,
    limits.pods_within_limits,
    limits.pod_annotations_fit,
    autoscaling.autoscaled_pool_leaves_replicas_out,
)
ADVICE_RULES: tuple[Rule, ...] = (
    advice.rdma_settings_without_rdma,
    advice.overridden_dependencies_still_deployed,
    advice.discovery_crd_without_kubernetes_discovery,
)

__all__ = ["ADVICE_RULES", "FILE_RULES", "Finding", "RuleViolations", "problems", "warnings"]
