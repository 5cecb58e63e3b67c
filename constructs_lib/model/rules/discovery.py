"""What `runtime.discovery: kubernetes` takes away (etcd) and needs (the API token)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ...errors import show
from . import Finding

if TYPE_CHECKING:
    from ..dynamo_v1 import EnvironmentV1
    from ..environment import EnvironmentBase


def _kubernetes(env: EnvironmentBase) -> EnvironmentV1 | None:
    from ..dynamo_v1 import EnvironmentV1

    if isinstance(env, EnvironmentV1) and env.runtime.discovery == "kubernetes":
        return env
    return None


def _written(value: Any) -> str:
    if isinstance(value, BaseModel):
        return show(value.model_dump(mode="json", exclude_unset=True))
    return show(value)


def kubernetes_discovery_uses_no_etcd(env: EnvironmentBase) -> Iterator[Finding]:
    """With kubernetes discovery no Dynamo pod reads ETCD_ENDPOINTS: an etcd deployed or named
    for them would serve nothing, so a file that configures one says two things at once."""
    if (v1 := _kubernetes(env)) is None:
        return
    etcd = v1.dependencies.etcd
    written = [key for key in type(etcd).model_fields if key in etcd.model_fields_set
               and not (key == "enabled" and not etcd.enabled)]
    for key in written:
        yield Finding(f"dependencies.etcd.{key}",
                      f"{_written(getattr(etcd, key))}, but runtime.discovery is kubernetes: the "
                      "pods find each other through the Kubernetes API and no etcd is deployed "
                      "or used; remove dependencies.etcd, or set runtime.discovery: etcd")


def kubernetes_discovery_mounts_the_token(env: EnvironmentBase) -> Iterator[Finding]:
    """The runtime authenticates to the API server with the pod's ServiceAccount token."""
    if (v1 := _kubernetes(env)) is None:
        return
    security = v1.security
    if ("automount_service_account_token" in security.model_fields_set
            and not security.automount_service_account_token):
        yield Finding("security.automount_service_account_token",
                      "false, but runtime.discovery is kubernetes: the Dynamo pods call the "
                      "Kubernetes API with their ServiceAccount's token, so it is mounted; "
                      "remove this setting, or set runtime.discovery: etcd")
