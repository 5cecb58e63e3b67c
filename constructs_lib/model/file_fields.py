"""Where each construct prop of a chart composed from an environment file was written in the
file, so that the constructs' rules report the file's own field names."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .dynamo_v1 import EnvironmentV1
    from .environment import Environment, EnvironmentBase

FieldNames = Callable[[str], str]


def naming_field(env: EnvironmentBase) -> str:
    """The field that decides the Dynamo objects' names."""
    return "fullname_override" if env.fullname_override else "release"


_WORKLOAD_FIELDS = {"rdma": "rdma.enabled", "etcd_client_tls_secret": "dependencies.etcd.tls"}
"""Props every Dynamo workload has, by the file's field that sets them."""


def _workload_field(head: str, env: EnvironmentBase) -> str | None:
    """The file's field behind a prop every Dynamo workload has; None for any other prop."""
    if head in ("full_name", "name"):
        return naming_field(env)
    return _WORKLOAD_FIELDS.get(head)


def _section(section: str, env: Environment,
             top_level: tuple[str, ...] = ("service",)) -> FieldNames:
    def field(prop: str) -> str:
        head = prop.split(".", 1)[0]
        if (shared := _workload_field(head, env)) is not None:
            return shared
        if head in top_level:
            return prop
        return f"{section}.{prop}" if prop else section
    return field


def frontend(env: Environment) -> FieldNames:
    """The frontend construct's props: the `frontend` section, `service` and `rdma` at the top."""
    return _section("frontend", env)


def prefill(env: Environment) -> FieldNames:
    """The prefill pool's props: the `prefill` section."""
    return _section("prefill", env)


def dependencies(env: EnvironmentBase) -> FieldNames:
    """The DependencyStack's props: `dependencies`, and `release` and `network_policy` at the
    top."""
    def field(prop: str) -> str:
        head = prop.split(".", 1)[0]
        if head in ("release", "network_policy"):
            return prop
        return f"dependencies.{prop}"
    return field


def kubernetes_discovery(env: EnvironmentBase) -> FieldNames:
    """The KubernetesDiscovery's props: names from the naming field, the rest from `runtime`."""
    def field(prop: str) -> str:
        head = prop.split(".", 1)[0]
        if head in ("full_name", "name"):
            return naming_field(env)
        if head == "install_crd":
            return "runtime.install_discovery_crd"
        if head == "worker_port":
            return "runtime.system_port"
        if head in ("release", "namespace"):
            return head
        return "runtime.discovery"
    return field


def nodes(env: EnvironmentBase) -> FieldNames:
    """The GpuNodePool's props: the `nodes` section."""
    return lambda prop: f"nodes.{prop}"


def named(env: EnvironmentBase) -> FieldNames:
    """Objects named outright (NetworkPolicy, monitors): named after the naming field."""
    return lambda prop: naming_field(env)


def value_as_written(env: EnvironmentBase) -> Callable[[str], object]:
    """The file's value behind a prop that derives from it: names come from the naming field."""
    def value(prop: str) -> object:
        if prop in ("full_name", "name"):
            return env.fullname_override or env.release
        if prop == "release":
            return env.release
        return None
    return value


_V1_TOP_LEVEL = {"runtime": "runtime", "kv_transfer": "kv_transfer", "kv_events": "kv_events",
                 "model": "model", "service": "service"}


def _v1_section(section: str, env: EnvironmentV1, own_engine: dict[str, object]) -> FieldNames:
    def field(prop: str) -> str:
        head, _, rest = prop.partition(".")
        if (shared := _workload_field(head, env)) is not None:
            return shared
        if head == "nats_url":
            return "dependencies.nats.enabled"
        if head == "served_model_name":
            return "model.served_name"
        if head == "service_monitor":
            return f"monitoring.{prop}"
        if head == "gpus_per_node":
            return "nodes.gpus_per_node"
        if head in _V1_TOP_LEVEL:
            return prop
        if head == "engine" and rest and rest not in own_engine and rest in env.engine.root:
            return prop  # inherited from the shared engine section
        return f"{section}.{prop}" if prop else section
    return field


def frontend_v1(env: EnvironmentV1) -> FieldNames:
    """The 1.x frontend's props: `frontend`, with the model's name, the service, the runtime
    and monitoring at the top."""
    return _v1_section("frontend", env, {})


def decode_v1(env: EnvironmentV1) -> FieldNames:
    """The decode pool's props: `decode`, with the model, the KV settings and the runtime at
    the top, and engine arguments where they were written (`decode.engine` or `engine`)."""
    return _v1_section("decode", env, env.decode.engine.root)


def prefill_v1(env: EnvironmentV1) -> FieldNames:
    """The prefill pool's props, as `decode_v1` for the `prefill` section."""
    assert env.prefill is not None
    return _v1_section("prefill", env, env.prefill.engine.root)
