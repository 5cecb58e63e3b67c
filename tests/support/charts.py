"""Synthesizing a few constructs in a test, without an environment file."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import cdk8s

_ids = itertools.count()


def synthesize_with(build: Callable[[cdk8s.Chart], object],
          namespace: str = "inference") -> list[dict[str, Any]]:
    """The manifests `build` adds to a fresh chart."""
    chart = cdk8s.Chart(cdk8s.Testing.app(), f"test{next(_ids)}", namespace=namespace,
                        disable_resource_name_hashes=True)
    build(chart)
    return [dict(d) for d in cdk8s.Testing.synth(chart)]


def find(documents: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in documents
             if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def kinds(documents: list[dict[str, Any]]) -> list[str]:
    return sorted(d["kind"] for d in documents)


def refusals(build: Callable[[cdk8s.Chart], object],
             namespace: str = "inference") -> list[str]:
    """The problems `app.synth()` refuses the chart `build` composes with, one per line as
    `<construct path>: <message>` (empty when the chart synthesizes)."""
    chart = cdk8s.Chart(cdk8s.Testing.app(), f"test{next(_ids)}", namespace=namespace,
                        disable_resource_name_hashes=True)
    build(chart)
    try:
        cdk8s.Testing.synth(chart)
    except RuntimeError as error:
        return [_refusal(line) for line in str(error).splitlines() if line.startswith("  [")]
    return []


def _refusal(line: str) -> str:
    path, message = line.strip()[1:].split("] ", 1)
    return f"{path}: {message}"


def composed(environment: Any, name: str = "env", check_rules: bool = True) -> Any:
    """The DynamoChart of `environment`, in an App of its own."""
    from constructs_lib.chart import DynamoChart

    return DynamoChart(cdk8s.App(), name, environment, check_rules=check_rules)


def plan_of(environment: Any) -> Any:
    """The placement plan of `environment`'s chart, whether it fits or not."""
    return composed(environment, check_rules=False).plan()
