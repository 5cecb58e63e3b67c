"""Warnings about a Dynamo v0.1 deployment: legal, deployable, and probably not what was meant."""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import show
from ..model.serve_config import Component
from . import Finding
from .serve_pods import ServeDeployment

DECODE, PREFILL = Component.VLLM_WORKER, Component.PREFILL_WORKER
_SLOWER = "two to three orders of magnitude slower than RDMA"


def _remote_prefill(deployment: ServeDeployment) -> str | None:
    """Where remote-prefill is switched on, when the decode worker prefills remotely."""
    decode = deployment.decode
    if decode is not None and decode.setting(DECODE, "remote-prefill") is True:
        return decode.written_at(DECODE, "remote-prefill")
    return None


def _prefill_pool_runs(deployment: ServeDeployment) -> bool:
    return any(p.role == "prefill" and p.replicas > 0 for p in deployment.pods)


def _rdma_off(deployment: ServeDeployment) -> str:
    frontend = deployment.frontend
    assert frontend is not None
    return frontend.path("rdma")


def remote_prefill_without_rdma(deployment: ServeDeployment) -> Iterator[Finding]:
    """Disaggregation moves the KV cache of every prompt; without RDMA it goes over TCP."""
    switch = _remote_prefill(deployment)
    if deployment.rdma or switch is None:
        return
    if _prefill_pool_runs(deployment):
        how = f"the prefill pods send the decode worker their KV cache over TCP, {_SLOWER}"
    else:
        how = ("NIXL moves the KV cache between this pod's workers over TCP unless UCX finds "
               f"CUDA IPC, and TCP is {_SLOWER}")
    yield Finding(_rdma_off(deployment),
                  f"false, while the decode worker prefills remotely ({switch}): {how}; enable "
                  "RDMA, or turn remote-prefill off", subject=deployment.frontend)


def single_decode_worker_without_rdma(deployment: ServeDeployment) -> Iterator[Finding]:
    """All prefill pods converge on one decode worker; over TCP its link is the bottleneck."""
    decode = deployment.decode
    if (deployment.rdma or decode is None or _remote_prefill(deployment) is None
            or not _prefill_pool_runs(deployment)):
        return
    if decode.replicas * decode.config.workers(DECODE) != 1:
        return
    yield Finding(decode.path("replicas"),
                  "1, with one VllmWorker worker and no RDMA: every prefill pod sends its KV "
                  "cache to this one decode worker over TCP, so one pod's network link caps "
                  "the throughput of the whole deployment; enable RDMA, or add decode replicas",
                  subject=decode.subject)


def prefill_workers_without_work(deployment: ServeDeployment) -> Iterator[Finding]:
    """Prefill workers only get work from a decode worker that prefills remotely."""
    decode = deployment.decode
    if decode is None or _remote_prefill(deployment) is not None:
        return
    idle = sum(p.replicas * p.prefill_gpus for p in deployment.pods)
    if idle:
        value = decode.setting(DECODE, "remote-prefill")
        yield Finding(decode.written_at(DECODE, "remote-prefill"),
                      f"{'not set' if value is None else show(value)}, so the decode worker "
                      f"prefills every prompt itself and the PrefillWorkers' {idle} GPUs stay "
                      "idle; set remote-prefill: true, or remove the prefill workers",
                      subject=decode.subject)


def unused_config_sections(deployment: ServeDeployment) -> Iterator[Finding]:
    """A section no process of its pod reads is a setting that silently does nothing."""
    for pod in deployment.pods:
        runs = (pod.path("graph") if pod.role == "frontend"
                else "the prefill pod runs only PrefillWorker")
        for component in Component:
            if pod.config.section(component) is not None and not pod.runs(component):
                yield Finding(pod.path("config", component.value),
                              f"given, but {component.value} does not run in the {pod.role} "
                              f"pod ({runs}), so nothing reads this section",
                              subject=pod.subject)
        if pod.config.common is not None and not any(
                (section := pod.config.section(c)) is not None and section.common_configs
                for c in pod.components):
            yield Finding(pod.path("config", "Common"),
                          f"given, but no component of the {pod.role} pod lists its keys in "
                          "common-configs, so nothing reads this section", subject=pod.subject)
