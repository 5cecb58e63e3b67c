"""The rules of a Dynamo v0.1 deployment, run by its FrontendDeployment and PrefillWorkerPools."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from . import Finding, Stage, disaggregation, gpus, serve_advice, tagged
from .serve_pods import ServeDeployment

Rule = Callable[[ServeDeployment], Iterable[Finding]]

POD_RULES: tuple[Rule, ...] = (
    gpus.pod_gpus_match_workers,
    gpus.parallelism_matches_worker_gpus,
    disaggregation.decode_and_prefill_serve_the_same_model,
    disaggregation.remote_prefill_has_what_it_needs,
    disaggregation.no_setting_dynamo_overrides,
)
ADVICE_RULES: tuple[Rule, ...] = (
    serve_advice.remote_prefill_without_rdma,
    serve_advice.single_decode_worker_without_rdma,
    serve_advice.prefill_workers_without_work,
    serve_advice.unused_config_sections,
)


def pod_problems(deployment: ServeDeployment) -> list[Finding]:
    return [f for rule in POD_RULES for f in tagged(rule, Stage.POD, rule(deployment))]


def advice(deployment: ServeDeployment) -> list[Finding]:
    return [f for rule in ADVICE_RULES for f in tagged(rule, Stage.POD, rule(deployment))]


def ports_are_distinct(*, metrics_port: int, serve_port: int, service_port: int,
                         serve_port_written: str, where: Callable[[str], str],
                         subject: object) -> Iterator[Finding]:
    """The metrics sidecar shares the frontend pod's network and its Service."""
    if metrics_port == serve_port:
        yield Finding(where("metrics.port"),
                      f"{metrics_port}: {serve_port_written} of the frontend pod is {serve_port} "
                      "too; containers of one pod share its network, so their ports must differ",
                      subject=subject)
    if metrics_port == service_port:
        yield Finding(where("metrics.port"),
                      f"{metrics_port}: {where('service.port')} is {service_port} too; the "
                      "frontend Service exposes both, and the ports of a Service must differ",
                      subject=subject)


def etcd_tls_needs_dynamo_v1(secret: str | None, where: Callable[[str], str],
                             subject: object) -> Iterator[Finding]:
    """Dynamo v0.1 reads only plain http etcd endpoints: a client certificate is of no use."""
    if secret:
        yield Finding(where("etcd_client_tls_secret"),
                      f"{secret}, but Dynamo v0.1 has no etcd TLS client (it reads plain http "
                      "endpoints only); use the Dynamo 1.x constructs, or an etcd without TLS",
                      subject=subject)
