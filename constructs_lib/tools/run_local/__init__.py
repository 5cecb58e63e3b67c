"""Run synthesized Dynamo 1.x containers on 127.0.0.1 without a GPU (end-to-end tests).

Standard library only. The processes it starts run in a separate Dynamo venv
(``scripts/install-dynamo-runtime.sh``), with ``dynamo.vllm`` replaced by the mock engine.

- :mod:`.tokenizer` writes a tiny Hugging Face style model folder for the mocker.
- :mod:`.processes` starts, waits for and stops processes; free ports; loopback check.
- :mod:`.netns` puts a run into a private network namespace holding only ``lo`` (the zmq
  event plane binds 0.0.0.0), or says why it cannot.
- :mod:`.translate` turns a Kubernetes container dict into a local command (rules R*, L*,
  K*, D*, F*, W*, E*, N* documented there).
- :mod:`.groups` reads LeaderWorkerSet pools: each group runs as its leader; the followers
  are checked against it, not started.
- :mod:`.client` is a minimal OpenAI client (chat, streaming chat, worker ids).
- :mod:`.pods` names each local process's pod as its controller would, with a UID.
- :mod:`.control_plane` plays the cluster's control plane for pods that use Dynamo's
  kubernetes discovery: the stand-in API server of :mod:`.kube_api` (RBAC from the manifests'
  Roles, custom resources under their CRD's schema, :mod:`.kube_schema`), the kubelet's
  probing, the EndpointSlice controller and the garbage collector; :mod:`.mountns` gives each
  pod its ServiceAccount token files in a mount namespace of its own; :mod:`.tls` makes the
  API server's certificate.
- :mod:`.stack` ties them together: the namespace, the control plane and dependencies first,
  then the Dynamo containers.
- :mod:`.synthesized` starts a synthesized environment's manifests and checks it (requests,
  the KV router's view of the workers' KV events).
"""

from __future__ import annotations

import os
from pathlib import Path

from . import netns
from .client import ChatResult, ClientError, OpenAIClient, StreamResult, WorkerIds
from .processes import (
    Listener,
    PortAllocator,
    ProcessError,
    ProcessGroup,
    listening_sockets,
    non_loopback_listeners,
)
from .stack import LocalStack
from .tokenizer import write_tiny_model
from .translate import (
    CannotRunLocally,
    GroupPod,
    LocalCommand,
    LocalContext,
    translate_container,
)

__all__ = [
    "CannotRunLocally", "ChatResult", "ClientError", "GroupPod", "Listener", "LocalCommand",
    "LocalContext", "LocalStack", "OpenAIClient", "PortAllocator", "ProcessError",
    "ProcessGroup", "StreamResult", "WorkerIds", "dynamo_python", "listening_sockets",
    "netns", "non_loopback_listeners", "translate_container", "write_tiny_model",
]  # fmt: skip

REPO_ROOT = Path(__file__).resolve().parents[3]


def dynamo_python() -> Path:
    """The Dynamo venv's interpreter: ``$DYNAMO_VENV`` or ``<repo>/.venv-dynamo``."""
    venv = Path(os.environ.get("DYNAMO_VENV") or REPO_ROOT / ".venv-dynamo")
    return venv / "bin" / "python"
