"""Rules that only Dynamo 1.x needs: it runs every prefill worker from one Deployment."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..roles import prefill_role
from . import Finding

if TYPE_CHECKING:
    from ..environment import Environment

_NOT_ENGINE = {"ServiceArgs", "common-configs"}


def one_prefill_pool_in_v1(env: Environment) -> Iterator[Finding]:
    """In 1.x the prefill workers of the frontend pod and of the prefill pool become replicas
    of one Deployment, so they must be configured alike."""
    from ..environment import Generation

    groups = prefill_role(env).groups
    if env.dynamo is not Generation.V1 or len(groups) < 2:
        return
    first, *others = groups
    wanted = {k: v for k, v in first.engine.items() if k not in _NOT_ENGINE}
    for other in others:
        if other.gpus_per_worker != first.gpus_per_worker:
            yield Finding(f"{other.config_path}.ServiceArgs.resources.gpu",
                          f"{other.gpus_per_worker}, but {first.config_path} gives each prefill "
                          f"worker {first.gpus_per_worker}; Dynamo 1.x runs all prefill workers "
                          "as replicas of one Deployment, so they must take the same GPUs")
        got = {k: v for k, v in other.engine.items() if k not in _NOT_ENGINE}
        for key in sorted(set(wanted) | set(got)):
            if wanted.get(key) != got.get(key):
                yield Finding(f"{other.config_path}.{key}",
                              f"{_show(got.get(key))}, but {first.config_path}.{key} is "
                              f"{_show(wanted.get(key))}; Dynamo 1.x runs all prefill workers as "
                              "replicas of one Deployment, so they must be configured alike")


def _show(value: object) -> str:
    return "not set" if value is None else str(value)
