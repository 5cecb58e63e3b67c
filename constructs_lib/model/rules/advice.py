"""Warnings: settings that are legal, deploy, and are still probably not what was meant."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...errors import show
from ..pods import pods
from ..serve_config import Component
from . import Finding

if TYPE_CHECKING:
    from ..environment import Environment

DECODE, PREFILL = Component.VLLM_WORKER, Component.PREFILL_WORKER
_SLOWER = "two to three orders of magnitude slower than RDMA"


def _remote_prefill(env: Environment) -> str | None:
    """Where remote-prefill is switched on, when the decode worker prefills remotely."""
    frontend = pods(env)[0]
    if frontend.runs(DECODE) and frontend.setting(DECODE, "remote-prefill") is True:
        return frontend.written_at(DECODE, "remote-prefill")
    return None


def _prefill_pool_runs(env: Environment) -> bool:
    return any(p.role == "prefill" and p.replicas > 0 for p in pods(env))


def remote_prefill_without_rdma(env: Environment) -> Iterator[Finding]:
    """Disaggregation moves the KV cache of every prompt; without RDMA it goes over TCP."""
    switch = _remote_prefill(env)
    if env.rdma.enabled or switch is None:
        return
    if _prefill_pool_runs(env):
        how = f"the prefill pods send the decode worker their KV cache over TCP, {_SLOWER}"
    else:
        how = ("NIXL moves the KV cache between this pod's workers over TCP unless UCX finds "
               f"CUDA IPC, and TCP is {_SLOWER}")
    yield Finding("rdma.enabled", f"false, while the decode worker prefills remotely ({switch}): "
                                  f"{how}; enable RDMA, or turn remote-prefill off")


def single_decode_worker_without_rdma(env: Environment) -> Iterator[Finding]:
    """All prefill pods converge on one decode worker; over TCP its link is the bottleneck."""
    if env.rdma.enabled or _remote_prefill(env) is None or not _prefill_pool_runs(env):
        return
    frontend = pods(env)[0]
    if frontend.replicas * frontend.config.workers(DECODE) != 1:
        return
    yield Finding("frontend.replicas",
                  "1, with one VllmWorker worker and no RDMA: every prefill pod sends its KV "
                  "cache to this one decode worker over TCP, so one pod's network link caps "
                  "the throughput of the whole deployment; enable RDMA, or add decode replicas")


def prefill_workers_without_work(env: Environment) -> Iterator[Finding]:
    """Prefill workers only get work from a decode worker that prefills remotely."""
    frontend = pods(env)[0]
    if not frontend.runs(DECODE) or _remote_prefill(env) is not None:
        return
    idle = sum(p.replicas * p.prefill_gpus for p in pods(env))
    if idle:
        value = frontend.setting(DECODE, "remote-prefill")
        yield Finding(frontend.written_at(DECODE, "remote-prefill"),
                      f"{'not set' if value is None else show(value)}, so the decode worker "
                      f"prefills every prompt itself and the PrefillWorkers' {idle} GPUs stay "
                      "idle; set remote-prefill: true, or remove the prefill workers")


def unused_config_sections(env: Environment) -> Iterator[Finding]:
    """A section no process of its pod reads is a setting that silently does nothing."""
    for pod in pods(env):
        runs = ("frontend.graph" if pod.role == "frontend"
                else "the prefill pod runs only PrefillWorker")
        for component in Component:
            if pod.config.section(component) is not None and not pod.runs(component):
                yield Finding(pod.path("config", component.value),
                              f"given, but {component.value} does not run in the {pod.role} "
                              f"pod ({runs}), so nothing reads this section")
        if pod.config.common is not None and not any(
                (section := pod.config.section(c)) is not None and section.common_configs
                for c in pod.components):
            yield Finding(pod.path("config", "Common"),
                          f"given, but no component of the {pod.role} pod lists its keys in "
                          "common-configs, so nothing reads this section")


def rdma_settings_without_rdma(env: Environment) -> Iterator[Finding]:
    """The network mode and host network are applied together with RDMA, or not at all."""
    if env.rdma.enabled:
        return
    for key in ("network_mode", "host_network"):
        if key in env.rdma.model_fields_set:
            yield Finding(f"rdma.{key}", f"{show(getattr(env.rdma, key))}, but rdma.enabled is "
                                         "false and this setting applies only with RDMA")


def overridden_dependencies_still_deployed(env: Environment) -> Iterator[Finding]:
    """An override makes the pods use another etcd or NATS; the deployed one then idles."""
    etcd, nats = env.dependencies.etcd, env.dependencies.nats
    if etcd.enabled and etcd.endpoints_override:
        yield Finding("dependencies.etcd.endpoints_override",
                      f"{etcd.endpoints_override}, so the pods use that etcd, but "
                      "dependencies.etcd.enabled is true and deploys one that nothing uses; "
                      "set enabled: false")
    if nats.enabled and nats.server_override:
        yield Finding("dependencies.nats.server_override",
                      f"{nats.server_override}, so the pods use that NATS, but "
                      "dependencies.nats.enabled is true and deploys one that nothing uses; "
                      "set enabled: false")
