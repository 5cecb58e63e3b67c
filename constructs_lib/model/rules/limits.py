"""Rules on sizes the API server or the planner bound: pods per environment, annotations per pod."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..base import MAX_ANNOTATION_BYTES, RESERVED_ANNOTATION_BYTES, annotation_bytes
from . import Finding

if TYPE_CHECKING:
    from ..environment import EnvironmentBase

MAX_PODS = 2000
"""Dynamo pods of one environment (replicas, and with Dynamo 1.x one pod per worker)."""


def pods_within_limits(env: EnvironmentBase) -> Iterator[Finding]:
    """Placing pods costs time per pod and node; an environment of more pods than any GPU
    cluster runs is a typo, and is refused before it is planned."""
    from ..dynamo_v1 import EnvironmentV1, nodes_per_worker

    if not isinstance(env, EnvironmentV1):
        return  # at most 2 x MAX_REPLICAS pods, which the replica bounds already keep
    # A worker larger than a node of `nodes` is a pod per node it spans; an autoscaled pool
    # may run its maximum.
    per_node = env.nodes.gpus_per_node if env.nodes is not None else None
    decode_count = env.decode.autoscaling.planned_replicas(env.decode.replicas)
    decode = decode_count * nodes_per_worker(env.decode.gpus, per_node)
    prefill_count = (env.prefill.autoscaling.planned_replicas(env.prefill.replicas)
                     if env.prefill else 0)
    prefill = (prefill_count * nodes_per_worker(env.prefill.gpus, per_node)
               if env.prefill else 0)
    total = env.frontend.replicas + decode + prefill
    if total > MAX_PODS:
        role = "prefill" if prefill >= decode and env.prefill else "decode"
        pool = env.prefill if role == "prefill" and env.prefill else env.decode
        field = (f"{role}.autoscaling.max_replicas" if pool.autoscaling.enabled
                 else f"{role}.replicas")
        yield Finding(field, (
            f"{prefill_count if role == 'prefill' else decode_count}, with "
            f"{env.frontend.replicas} frontend, {decode} decode and {prefill} prefill pods: "
            f"{total} pods; at most {MAX_PODS} Dynamo pods are accepted in one environment"))


def pod_annotations_fit(env: EnvironmentBase) -> Iterator[Finding]:
    """The API server refuses a pod template of more than 256 KiB of annotations."""
    from ..dynamo_v1 import EnvironmentV1
    from ..environment import Environment

    limit = MAX_ANNOTATION_BYTES - RESERVED_ANNOTATION_BYTES
    roles: list[tuple[str, dict[str, str]]] = []
    if isinstance(env, Environment | EnvironmentV1):
        roles.append(("frontend", env.frontend.annotations))
        if isinstance(env, EnvironmentV1):
            roles.append(("decode", env.decode.annotations))
        if env.prefill is not None:
            roles.append(("prefill", env.prefill.annotations))
    for role, own in roles:
        size = annotation_bytes({**env.pod_annotations, **own})
        if size > limit:
            yield Finding(f"{role}.annotations", (
                f"with pod_annotations, the {role} pods' annotations take {size} bytes; at most "
                f"{limit} are accepted (the API server refuses more than 256 KiB, and 1 KiB is "
                "kept for the ones this library adds)"))
