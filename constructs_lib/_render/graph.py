"""The graph file that `dynamo serve` imports: which components run, linked in order."""

from __future__ import annotations

from collections.abc import Sequence

from ..model.serve_config import Component


def render(chain: Sequence[Component]) -> str:
    imports = sorted(f"from {c.module} import {c.value}" for c in chain)
    link = chain[0].value + "".join(f".link({c.value})" for c in chain[1:])
    return "\n".join([*imports, link]) + "\n"
