"""Writes an Environment as an environment file a person would have written: only the settings
that differ from the model's defaults, in the model's order, serve configs in their own order."""

from __future__ import annotations

from typing import Any

from ..._render.yaml import dump
from ...model.environment import Environment

# Read first when someone opens the file; the rest follows the model's field order.
_LEADING = ("release", "namespace", "mode")


def render(environment: Environment, header: list[str]) -> str:
    data = environment.model_dump(
        mode="json", by_alias=True, exclude_defaults=True,
        exclude={"frontend": {"config"}, "prefill": {"config"}},
    )
    data["release"] = environment.release
    data["namespace"] = environment.namespace
    ordered: dict[str, Any] = {key: data.pop(key) for key in _LEADING if key in data}
    ordered.update(data)
    ordered.setdefault("frontend", {})["config"] = environment.frontend.config.render()
    if environment.prefill is not None:
        ordered.setdefault("prefill", {})["config"] = environment.prefill.config.render()
    comments = "".join(f"# {line}\n" if line else "#\n" for line in header)
    return comments + dump(ordered)
