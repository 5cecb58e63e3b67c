"""Rules on ports: within a pod, and within a Service, each port is used once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from . import Finding

if TYPE_CHECKING:
    from ..environment import Environment


def ports_are_distinct(env: Environment) -> Iterator[Finding]:
    """The metrics sidecar shares the frontend pod's network and its Service."""
    metrics = env.frontend.metrics
    if not metrics.enabled:
        return
    config = env.frontend.config
    serve = ("frontend.config.Frontend.port" if config.frontend and config.frontend.port
             else "the default serve port")
    if metrics.port == config.http_port:
        yield Finding("frontend.metrics.port",
                      f"{metrics.port}: {serve} of the frontend pod is {config.http_port} too; "
                      "containers of one pod share its network, so their ports must differ")
    if metrics.port == env.service.port:
        yield Finding("frontend.metrics.port",
                      f"{metrics.port}: service.port is {env.service.port} too; the frontend "
                      "Service exposes both, and the ports of a Service must differ")
