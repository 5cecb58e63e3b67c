"""Where each construct prop of a chart composed from an environment file was written in the
file, so that the constructs' rules report the file's own field names."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .environment import Environment

FieldNames = Callable[[str], str]


def naming_field(env: Environment) -> str:
    """The field that decides the Dynamo objects' names."""
    return "fullname_override" if env.fullname_override else "release"


def _section(section: str, env: Environment,
             top_level: tuple[str, ...] = ("service",)) -> FieldNames:
    def field(prop: str) -> str:
        head = prop.split(".", 1)[0]
        if head in ("full_name", "name"):
            return naming_field(env)
        if head == "rdma":
            return "rdma.enabled"
        if head == "etcd_client_tls_secret":
            return "dependencies.etcd.tls"
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


def dependencies(env: Environment) -> FieldNames:
    """The DependencyStack's props: `dependencies`, and `release` and `network_policy` at the
    top."""
    def field(prop: str) -> str:
        head = prop.split(".", 1)[0]
        if head in ("release", "network_policy"):
            return prop
        return f"dependencies.{prop}"
    return field


def nodes(env: Environment) -> FieldNames:
    """The GpuNodePool's props: the `nodes` section."""
    return lambda prop: f"nodes.{prop}"


def named(env: Environment) -> FieldNames:
    """Objects named outright (NetworkPolicy, monitors): named after the naming field."""
    return lambda prop: naming_field(env)


def value_as_written(env: Environment) -> Callable[[str], object]:
    """The file's value behind a prop that derives from it: names come from the naming field."""
    def value(prop: str) -> object:
        if prop in ("full_name", "name"):
            return env.fullname_override or env.release
        if prop == "release":
            return env.release
        return None
    return value
