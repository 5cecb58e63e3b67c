"""A Dynamo 1.x environment read as the v0.1 pods its description names.

Until the 1.x format describes workers in 1.x terms, a 1.x environment is a v0.1 serve
configuration translated pod by pod, and the v0.1 pod rules check that description with the
file's own field names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..rules import Locator
from ..rules.serve_pods import PodView, ServeDeployment
from . import file_fields
from .serve_config import Component

if TYPE_CHECKING:
    from .environment import Environment


def _in_file(names: file_fields.FieldNames) -> Locator:
    return Locator(lambda: "", names=names)


def serve_deployment(env: Environment) -> ServeDeployment:
    """The frontend pod, and in multi-node mode the prefill pool's pod, of the description."""
    from .environment import Mode

    http_port = env.frontend.config.http_port
    views = [PodView(
        role="frontend",
        deployment=env.names.frontend_deployment,
        config=env.frontend.config,
        components=tuple(env.frontend.graph),
        gpus=env.frontend.resources.gpus,
        replicas=env.frontend.replicas,
        ports=(http_port,),
        host_network=False,
        locator=_in_file(file_fields.frontend(env)),
        subject=None,
    )]
    if env.mode is Mode.MULTINODE and env.prefill is not None:
        views.append(PodView(
            role="prefill",
            deployment=env.names.prefill_deployment,
            config=env.prefill.config,
            components=(Component.PREFILL_WORKER,),
            gpus=env.prefill.resources.gpus,
            replicas=env.prefill.replicas,
            ports=(http_port,),
            host_network=False,
            locator=_in_file(file_fields.prefill(env)),
            subject=None,
        ))
    return ServeDeployment(pods=views, rdma=env.rdma.enabled)
