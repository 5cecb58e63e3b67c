"""Warnings about the file: settings that are legal and still probably not what was meant."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...errors import show
from . import Finding

if TYPE_CHECKING:
    from ..environment import EnvironmentBase as Environment


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


def discovery_crd_without_kubernetes_discovery(env: Environment) -> Iterator[Finding]:
    """The CRD holds what kubernetes discovery writes; with etcd discovery it is not emitted."""
    from ..dynamo_v1 import EnvironmentV1

    if (isinstance(env, EnvironmentV1) and env.runtime.install_discovery_crd
            and env.runtime.discovery != "kubernetes"):
        yield Finding("runtime.install_discovery_crd",
                      f"true, but runtime.discovery is {env.runtime.discovery}: the CRD serves "
                      "kubernetes discovery only and is not emitted; set discovery: kubernetes "
                      "or remove this setting")
