"""Rules on sizes the API server or the planner bound: pods per environment, annotations per pod."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..base import MAX_ANNOTATION_BYTES, RESERVED_ANNOTATION_BYTES, annotation_bytes
from . import Finding

if TYPE_CHECKING:
    from ..environment import Environment

MAX_PODS = 2000
"""Dynamo pods of one environment (replicas, and with Dynamo 1.x one pod per worker)."""


def pods_within_limits(env: Environment) -> Iterator[Finding]:
    """Placing pods costs time per pod and node; an environment of more pods than any GPU
    cluster runs is a typo, and is refused before it is planned."""
    from ..environment import Generation
    from ..roles import decode_role, prefill_role

    if env.dynamo is not Generation.V1:
        return  # at most 2 x MAX_REPLICAS pods, which the replica bounds already keep
    decode, prefill = decode_role(env), prefill_role(env)
    total = env.frontend.replicas + decode.workers + prefill.workers
    if total > MAX_PODS:
        yield Finding("frontend.replicas", (
            f"{env.frontend.replicas}, with {decode.workers} decode and {prefill.workers} "
            f"prefill worker pods: {total} pods; at most {MAX_PODS} Dynamo pods are accepted "
            "in one environment"))


def pod_annotations_fit(env: Environment) -> Iterator[Finding]:
    """The API server refuses a pod template of more than 256 KiB of annotations."""
    limit = MAX_ANNOTATION_BYTES - RESERVED_ANNOTATION_BYTES
    roles = [("frontend", env.frontend.annotations)]
    if env.prefill is not None:
        roles.append(("prefill", env.prefill.annotations))
    for role, own in roles:
        size = annotation_bytes({**env.pod_annotations, **own})
        if size > limit:
            yield Finding(f"{role}.annotations", (
                f"with pod_annotations, the {role} pods' annotations take {size} bytes; at most "
                f"{limit} are accepted (the API server refuses more than 256 KiB, and 1 KiB is "
                "kept for the ones this library adds)"))
