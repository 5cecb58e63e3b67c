"""Rules across roles: prefill workers must be able to hand their KV cache to the decode worker.

In Dynamo v0.1 the decode VllmWorker with `remote-prefill` puts prompts on a NATS queue named
after its served model; PrefillWorkers take them, compute the KV cache and write it into the
decode worker's blocks through the kv-transfer connector (NIXL). That only works when both
sides load the same model with the same block layout.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ..errors import show
from ..model.serve_config import Component
from . import Finding
from .serve_pods import PodView, ServeDeployment

DECODE, PREFILL = Component.VLLM_WORKER, Component.PREFILL_WORKER

_SAME_ON_BOTH_SIDES = {
    "model": "both must load the same model: KV cache computed by one model is meaningless "
             "to another",
    "served-model-name": "it names the NATS prefill queue, so prefill workers would wait on a "
                         "queue the decode worker never fills",
    "block-size": "KV cache moves block by block, so both sides must cut it into blocks of "
                  "the same size",
    "max-model-len": "both sides must accept the same prompt lengths, or long prompts fail in "
                     "prefill after decode accepted them",
}
# Roles vLLM accepts on each side of a prefill -> decode transfer (none given means both).
_DECODE_ROLES = {None, "kv_both", "kv_consumer"}
_PREFILL_ROLES = {None, "kv_both", "kv_producer"}


def _setting(value: Any) -> str:
    return "not set" if value is None else show(value)


def _kv(pod: PodView, component: Component) -> dict[str, Any] | None:
    value = pod.setting(component, "kv-transfer-config")
    kv: dict[str, Any] | None = json.loads(value) if isinstance(value, str) else value
    return kv


def _peer(pod: PodView, other: PodView, component: Component, key: str) -> str:
    """Where `other` sets `key`, as named in a finding about `pod`."""
    same = pod.subject is other.subject
    return other.written_at(component, key) if same else other.cited_at(component, key)


def decode_and_prefill_serve_the_same_model(deployment: ServeDeployment) -> Iterator[Finding]:
    """Model, served name, block size, context length and KV connector agree across roles."""
    decode = deployment.decode
    if decode is None:
        return
    for prefill in deployment.prefill_pods:
        for key, reason in _SAME_ON_BOTH_SIDES.items():
            ours, theirs = prefill.setting(PREFILL, key), decode.setting(DECODE, key)
            if ours != theirs:
                yield Finding(prefill.written_at(PREFILL, key),
                              f"{_setting(ours)}, but the decode worker's "
                              f"({_peer(prefill, decode, DECODE, key)}) is {_setting(theirs)}; "
                              f"{reason}", subject=prefill.subject)
        ours_kv, theirs_kv = _kv(prefill, PREFILL), _kv(decode, DECODE)
        if ours_kv is None or theirs_kv is None:
            continue  # a missing connector matters only with remote prefill; reported there
        where = prefill.written_at(PREFILL, "kv-transfer-config")
        if ours_kv["kv_connector"] != theirs_kv["kv_connector"]:
            yield Finding(where, f"connector {ours_kv['kv_connector']}, but the decode worker's "
                                 f"({_peer(prefill, decode, DECODE, 'kv-transfer-config')}) is "
                                 f"{theirs_kv['kv_connector']}; both ends of the KV transfer "
                                 "must use the same connector", subject=prefill.subject)
        elif (ours_kv.get("kv_role") not in _PREFILL_ROLES
              or theirs_kv.get("kv_role") not in _DECODE_ROLES):
            yield Finding(where, f"kv_role {_setting(ours_kv.get('kv_role'))} with the decode "
                                 f"worker's kv_role {_setting(theirs_kv.get('kv_role'))}; "
                                 "prefill produces the KV cache and decode consumes it "
                                 "(kv_producer/kv_consumer, or kv_both on both sides)",
                          subject=prefill.subject)


def remote_prefill_has_what_it_needs(deployment: ServeDeployment) -> Iterator[Finding]:
    """remote-prefill needs connectors on both sides, pipeline parallelism 1 and a prefill
    worker that runs."""
    decode = deployment.decode
    if decode is None or decode.setting(DECODE, "remote-prefill") is not True:
        return
    for pod, component in [(decode, DECODE)] + [(p, PREFILL) for p in deployment.prefill_pods]:
        if _kv(pod, component) is None:
            yield Finding(pod.written_at(component, "kv-transfer-config"),
                          f"not set, but {_peer(pod, decode, DECODE, 'remote-prefill')} is "
                          "true: disaggregated prefill moves the KV cache through a "
                          "kv-transfer connector on both sides, e.g. "
                          "'{\"kv_connector\":\"DynamoNixlConnector\"}'", subject=pod.subject)
    switch = decode.written_at(DECODE, "remote-prefill")
    pp = decode.setting(DECODE, "pipeline-parallel-size")
    if pp is not None and pp != 1:
        yield Finding(decode.written_at(DECODE, "pipeline-parallel-size"),
                      f"{pp}, but {switch} is true, and Dynamo v0.1 supports remote prefill "
                      "only with pipeline-parallel-size 1 (it would silently run the worker "
                      "with 1); use tensor parallelism instead", subject=decode.subject)
    running = [p for p in deployment.prefill_pods if p.replicas > 0]
    if not running:
        where = f"PrefillWorker is not in {decode.path('graph')}"
        pools = [p for p in deployment.pods if p.role == "prefill"]
        for pool in pools:
            where += f" and {pool.cite('replicas')} is {pool.replicas}"
        yield Finding(switch, f"true, but no PrefillWorker runs ({where}): prompts sent for "
                              "remote prefill would wait in the queue forever",
                      subject=decode.subject)


# What Dynamo v0.1's workers force, whatever the configuration says: (key, forced value).
_PREFILL_WORKER_FORCES = [("enable-chunked-prefill", False), ("pipeline-parallel-size", 1),
                          ("enable-prefix-caching", False), ("enforce-eager", True),
                          ("disable-async-output-proc", True)]
_REMOTE_PREFILL_FORCES = [("enable-chunked-prefill", False), ("preemption-mode", "swap")]


def no_setting_dynamo_overrides(deployment: ServeDeployment) -> Iterator[Finding]:
    """A setting the worker silently replaces at start-up is refused instead of ignored."""
    decode = deployment.decode
    checks: list[tuple[PodView, Component, list[tuple[str, Any]], str]] = []
    if decode is not None and decode.setting(DECODE, "remote-prefill") is True:
        checks.append((decode, DECODE, _REMOTE_PREFILL_FORCES,
                       "VllmWorker, with remote-prefill true,"))
    checks += [(pod, PREFILL, _PREFILL_WORKER_FORCES, "PrefillWorker")
               for pod in deployment.prefill_pods]
    for pod, component, forces, who in checks:
        for key, forced in forces:
            value = pod.setting(component, key)
            if value is not None and value != forced:
                yield Finding(pod.written_at(component, key),
                              f"{show(value)}, but Dynamo v0.1's {who} always runs with "
                              f"{key} {show(forced)} and ignores this setting; remove it",
                              subject=pod.subject)
