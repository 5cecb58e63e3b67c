"""Resource names exactly as the seed Helm chart computes them, so a release can be taken over."""

from __future__ import annotations

CHART_NAME = "dynamo"
_HELM_NAME_LIMIT = 63


def _trunc(value: str) -> str:
    """Helm's `trunc 63 | trimSuffix "-"`."""
    value = value[:_HELM_NAME_LIMIT]
    return value[:-1] if value.endswith("-") else value


def chart_name(name_override: str | None) -> str:
    """`dynamo.name`: the chart name unless overridden; it is the `app.kubernetes.io/name` label."""
    return _trunc(name_override or CHART_NAME)


def full_name(release: str, name_override: str | None, fullname_override: str | None) -> str:
    """`dynamo.fullname`: the prefix of every Dynamo resource name.

    A release name that already contains the chart name is used alone (`dynamo-canary` stays
    `dynamo-canary`), otherwise the two are joined (`r1` becomes `r1-dynamo`).
    """
    if fullname_override:
        return _trunc(fullname_override)
    name = name_override or CHART_NAME
    if name in release:
        return _trunc(release)
    return _trunc(f"{release}-{name}")
