"""Upgrades a Dynamo v0.1 environment file to the Dynamo 1.x format.

A v0.1 file describes `dynamo serve` graphs: pods that run several components and worker
processes, configured in Dynamo v0.1's vocabulary. A 1.x file describes what 1.x runs: a
frontend that routes, and a pool of single-engine pods per role. The upgrade keeps the
deployment's shape (the same model, the same GPUs per worker and the same number of workers
per role, the same nodes, RDMA, dependencies and hardening) and translates the vocabulary:
- each role's workers (every pod's `ServiceArgs.workers`, times the pod's replicas) become the
  replicas of its pool, and `ServiceArgs.resources.gpu` the pool's `gpus`;
- vLLM engine arguments keep vLLM's names: those both roles share go to `engine`, the rest to
  each pool's; the keys only Dynamo v0.1 read are dropped (listed in the header);
- the Processor's `router` becomes the frontend's router mode, with the workers publishing KV
  events when it is `kv`; `DynamoNixlConnector` becomes vLLM's `NixlConnector`;
- NATS is no longer deployed (1.x's tcp request plane and zmq event plane need none), and
  with RDMA the pods leave the host network, because several worker pods share a node and
  each binds its system port.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

from .._render.yaml import dump
from ..errors import ConfigError, Problem
from ..model.dynamo_v1 import EnvironmentV1
from ..model.environment import Environment, EnvironmentBase
from .upgrade_roles import Role, decode_role, prefill_role, router_mode, served_model_name

# Read only by Dynamo v0.1: its own prefill queue and router, and keys the 1.x format sets
# elsewhere (the model and its name, the KV connector, the worker counts).
DROPPED = ("remote-prefill", "conditional-disagg", "max-local-prefill-length",
           "max-prefill-queue-size", "min-workers", "disable-log-requests")
MOVED = ("model", "served-model-name", "kv-transfer-config", "ServiceArgs", "common-configs",
         "router")
CONNECTORS = {"DynamoNixlConnector": "NixlConnector"}
_SHARED_FIELDS = tuple(name for name in EnvironmentBase.model_fields if name not in (
    "release", "namespace", "dependencies", "rdma"))


def _engine(role: Role) -> dict[str, Any]:
    engine = dict(role.groups[-1].engine) if role.groups else {}
    return {k: v for k, v in engine.items() if k not in DROPPED and k not in MOVED}


def _dropped(role: Role) -> list[str]:
    keys = {k for group in role.groups for k in group.engine if k in DROPPED}
    return sorted(keys)


def upgrade(environment: Environment, source: str) -> tuple[EnvironmentV1, list[str]]:
    """The 1.x environment of a v0.1 one, and what the upgrade changed beyond the vocabulary
    (one line each)."""
    decode, prefill = decode_role(environment), prefill_role(environment)
    if not decode.groups:
        raise ConfigError([Problem(source, "frontend.graph", (
            "links no VllmWorker: a 1.x deployment needs decode workers, and this one has "
            "none to upgrade"))])
    notes: list[str] = []
    data: dict[str, Any] = {"release": environment.release,
                            "namespace": environment.namespace, "dynamo": "1.x"}
    written = environment.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data.update({k: written[k] for k in _SHARED_FIELDS if k in written})

    decode_engine, prefill_engine = _engine(decode), _engine(prefill)
    group = decode.groups[0]
    model: dict[str, Any] = {"path": str(group.engine.get("model", ""))}
    if name := served_model_name(environment):
        model["served_name"] = name
    volume = environment.model_dump(mode="json", exclude_defaults=True).get("model_volume")
    if volume:
        model["volume"] = volume
    data["model"] = model
    router = router_mode(environment.frontend.config)
    data["frontend"] = {"router": {"mode": router}} if router != "round-robin" else {}

    shared = ({k: v for k, v in decode_engine.items() if prefill_engine.get(k) == v}
              if prefill.workers else dict(decode_engine))
    if shared:
        data["engine"] = shared
    data["decode"] = _pool(decode, {k: v for k, v in decode_engine.items() if k not in shared},
                           environment.frontend.resources.requests.render(),
                           environment.frontend.resources.limits.render())
    if prefill.workers:
        role_settings = environment.prefill or environment.frontend
        data["prefill"] = _pool(prefill,
                                {k: v for k, v in prefill_engine.items() if k not in shared},
                                role_settings.resources.requests.render(),
                                role_settings.resources.limits.render())
        kv = group.engine.get("kv-transfer-config")
        kv = json.loads(kv) if isinstance(kv, str) else kv
        connector = kv.get("kv_connector") if isinstance(kv, dict) else None
        connector = CONNECTORS.get(str(connector), connector)
        if connector and connector != "NixlConnector":
            data["kv_transfer"] = {"connector": connector}

    rdma = environment.model_dump(mode="json", exclude_defaults=True).get("rdma", {})
    if environment.rdma.enabled and environment.rdma.host_network:
        rdma = {**rdma, "host_network": False}
        notes.append("rdma.host_network: now false: several worker pods share a node and each "
                     "binds its system port, which the host network allows once per node")
    if rdma:
        data["rdma"] = rdma
    dependencies = environment.model_dump(mode="json", exclude_defaults=True).get(
        "dependencies", {})
    if environment.dependencies.nats.enabled:
        notes.append("NATS: no longer deployed: Dynamo 1.x's tcp request plane and zmq event "
                     "plane need none")
    dependencies.pop("nats", None)
    if dependencies:
        data["dependencies"] = dependencies
    dropped = [f"{role.name} {key}" for role in (decode, prefill) for key in _dropped(role)]
    if dropped:
        notes.append(f"{len(dropped)} setting{'s' if len(dropped) > 1 else ''} only Dynamo v0.1 "
                     f"reads dropped: {', '.join(dropped)}")
    upgraded = EnvironmentV1.model_validate(data)
    return upgraded, notes


def _pool(role: Role, engine: dict[str, Any], requests: dict[str, Any],
          limits: dict[str, Any]) -> dict[str, Any]:
    pool: dict[str, Any] = {"replicas": role.workers, "gpus": role.groups[0].gpus_per_worker}
    if engine:
        pool["engine"] = engine
    resources = {k: v for k, v in (("requests", requests), ("limits", limits)) if v}
    if resources:
        pool["resources"] = resources
    return pool


# Read first when someone opens the file; the rest follows the model's field order.
_ORDER = ("release", "namespace", "dynamo", "model", "frontend", "engine", "decode", "prefill",
          "kv_transfer")


def render(environment: EnvironmentV1, header: list[str]) -> str:
    """The file a person would write: settings that differ from the defaults, key order as
    the model declares them with the deployment's identity and serving first."""
    data = environment.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data["release"] = environment.release
    data["namespace"] = environment.namespace
    data["dynamo"] = "1.x"
    ordered: dict[str, Any] = {key: data.pop(key) for key in _ORDER if key in data}
    ordered.update(data)
    comments = "".join(f"# {line}\n" if line else "#\n" for line in header)
    return comments + dump(ordered)


def header(source_name: str, notes: list[str]) -> list[str]:
    """The upgraded file's comment: where it came from, and what changed beyond the vocabulary
    (settings only v0.1 read are counted, not named: the command lists them)."""
    lines = ["yaml-language-server: $schema=../schema/environment.schema.json",
             f"Upgraded from {source_name} (Dynamo v0.1) by `python -m constructs_lib "
             "upgrade`;",
             "the same model, GPUs per worker and workers per role, on Dynamo 1.x."]
    if notes:
        lines += ["", "What changed beyond the vocabulary:"]
        for note in notes:
            note = note.split(": ", 1)[0] if "only Dynamo v0.1 reads dropped" in note else note
            lines += textwrap.wrap(note, width=92, initial_indent="- ",
                                   subsequent_indent="  ")
    return lines

