"""Cross-field rules of an environment: what no single field can check on its own.

Each rule is a function of a validated Environment that yields Findings: the field path as the
user wrote it in the file, and a message that starts with the value received and says what is
allowed. Problem rules make the environment invalid; advice rules produce warnings for settings
that are legal but probably not what was meant. All rules of a stage run, so a file's problems
are reported together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..environment import Environment


@dataclass(frozen=True)
class Finding:
    field: str
    """Dotted path of the setting in the environment file, e.g. `prefill.resources.gpus`."""
    message: str
    """The value received, then what is wrong and what is allowed."""
    rule: str = ""
    """The rule that found it (set by the runner)."""

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


Rule = Callable[["Environment"], Iterable[Finding]]


class RuleViolations(ValueError):
    """Every problem the rules found in one environment; the loader reports each on its line."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = list(findings)
        super().__init__("\n".join(str(f) for f in self.findings))


def _run(rules: Iterable[Rule], env: Environment) -> list[Finding]:
    return [replace(f, rule=rule.__name__) for rule in rules for f in rule(env)]


def problems(env: Environment) -> list[Finding]:
    """What makes this environment impossible to deploy as written."""
    found = _run(SHAPE_RULES, env) + _run(SETTING_RULES, env)
    # Rules about pods would only restate a missing section in other words, and placing pods
    # whose GPU counts disagree would repeat those mistakes: each stage runs on a sound base.
    if not found:
        found = _run(POD_RULES, env)
    if not found:
        found = _run(PLACEMENT_RULES, env)
    return found


def warnings(env: Environment) -> list[Finding]:
    """Settings that are legal but probably not what was meant."""
    return _run(ADVICE_RULES, env)


from . import (  # noqa: E402
    advice,
    disaggregation,
    etcd_tls,
    gpus,
    limits,
    names,
    ports,
    runtime_v1,
    structure,
)
from .capacity import deployment_fits_nodes  # noqa: E402

SHAPE_RULES: tuple[Rule, ...] = (
    structure.mode_matches_roles,
    structure.prefill_pool_runs_prefill_workers,
)
SETTING_RULES: tuple[Rule, ...] = (
    structure.dependencies_are_reachable,
    etcd_tls.etcd_tls_needs_dynamo_v1,
    etcd_tls.etcd_tls_applies_to_the_own_etcd,
    names.generated_names_are_valid,
    ports.ports_are_distinct,
    limits.pods_within_limits,
    limits.pod_annotations_fit,
)
POD_RULES: tuple[Rule, ...] = (
    gpus.pod_gpus_match_workers,
    gpus.parallelism_matches_worker_gpus,
    disaggregation.decode_and_prefill_serve_the_same_model,
    disaggregation.remote_prefill_has_what_it_needs,
    runtime_v1.one_prefill_pool_in_v1,
    disaggregation.no_setting_dynamo_overrides,
)
PLACEMENT_RULES: tuple[Rule, ...] = (deployment_fits_nodes,)
ADVICE_RULES: tuple[Rule, ...] = (
    advice.remote_prefill_without_rdma,
    advice.single_decode_worker_without_rdma,
    advice.prefill_workers_without_work,
    advice.unused_config_sections,
    advice.rdma_settings_without_rdma,
    advice.overridden_dependencies_still_deployed,
)
PROBLEM_RULES: tuple[Rule, ...] = SHAPE_RULES + SETTING_RULES + POD_RULES + PLACEMENT_RULES
ALL_RULES: tuple[Rule, ...] = PROBLEM_RULES + ADVICE_RULES

__all__ = [
    "ADVICE_RULES",
    "ALL_RULES",
    "PLACEMENT_RULES",
    "POD_RULES",
    "PROBLEM_RULES",
    "SETTING_RULES",
    "SHAPE_RULES",
    "Finding",
    "RuleViolations",
    "problems",
    "warnings",
]
