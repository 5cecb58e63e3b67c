"""Autoscaled worker pools in the environment file: the autoscaler owns the replicas."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from . import Finding

if TYPE_CHECKING:
    from ..environment import EnvironmentBase as Environment


def autoscaled_pool_leaves_replicas_out(env: Environment) -> Iterator[Finding]:
    """A pool's `replicas` and its autoscaler would fight: the Deployment (or LeaderWorkerSet)
    of an autoscaled pool carries no replicas, so a count written in the file would be silently
    ignored."""
    from ..dynamo_v1 import EnvironmentV1

    if not isinstance(env, EnvironmentV1):
        return
    for role, pool in (("decode", env.decode), ("prefill", env.prefill)):
        if pool is None or not pool.autoscaling.enabled or "replicas" not in pool.model_fields_set:
            continue
        scaling = pool.autoscaling
        yield Finding(f"{role}.replicas", (
            f"{pool.replicas}, but {role}.autoscaling.mode is {scaling.mode}: the autoscaler "
            f"sets the pool's replicas, from {role}.autoscaling.min_replicas "
            f"({scaling.min_replicas}) to max_replicas ({scaling.max_replicas}), and the "
            f"manifests carry none; remove {role}.replicas (min_replicas is the floor)"))
