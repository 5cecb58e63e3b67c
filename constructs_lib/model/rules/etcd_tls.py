"""etcd's mutual TLS needs a Dynamo that speaks it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from . import Finding

if TYPE_CHECKING:
    from ..environment import EnvironmentBase as Environment

_FIELD = "dependencies.etcd.tls"


def _received(env: Environment) -> str:
    tls = env.dependencies.etcd.tls
    assert tls is not None
    return f"server_secret {tls.server_secret}, client_secret {tls.client_secret}"


def etcd_tls_needs_dynamo_v1(env: Environment) -> Iterator[Finding]:
    """Dynamo v0.1 reads only plain http etcd endpoints; its etcd client learnt TLS
    (ETCD_AUTH_CA, ETCD_AUTH_CLIENT_CERT, ETCD_AUTH_CLIENT_KEY) after v0.1.1, in
    ai-dynamo/dynamo#980."""
    from ..environment import Environment

    if env.dependencies.etcd.tls is None or not isinstance(env, Environment):
        return
    yield Finding(_FIELD, f"{_received(env)}, but dynamo is {env.dynamo.value}, whose etcd client "
                          "has no TLS; etcd TLS is allowed with dynamo: 1.x only (or remove "
                          f"{_FIELD})")
