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
