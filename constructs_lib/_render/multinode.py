"""Workers larger than a node: one vLLM engine spread over a LeaderWorkerSet group of pods.

A worker whose GPUs exceed a node's runs as a group of `nodes` pods, one per node, each taking
the whole node's GPUs: vLLM's multiprocessing executor across nodes (`--nnodes`), the leader
(rank 0) running `dynamo.vllm` with the Dynamo runtime, the followers `--headless` (vLLM
workers only: no runtime, no etcd, no system port). LeaderWorkerSet (leaderworkerset.x-k8s.io/v1)
gives each pod `LWS_LEADER_ADDRESS` (the leader's name under the set's headless Service) and
`LWS_WORKER_INDEX` (its rank), which the kubelet expands in the arguments.

What NVIDIA's operator renders for vLLM multi-node with the mp executor, and what this module
renders, are the same flags; the rest (probes, the wait, the restart policy) is this library's.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ..model.dynamo_v1 import RuntimeProbes
from ..model.hardening import UpdateStrategy
from .escape_hatches import restrict_container
from .k8s import Manifest, metadata

API_VERSION = "leaderworkerset.x-k8s.io/v1"
KIND = "LeaderWorkerSet"
MASTER_PORT = 29500
"""torch.distributed's rendezvous on the leader (`--master-port`), as NVIDIA's operator uses."""
MASTER_PORT_NAME = "master"
LEADER_ADDRESS = "LWS_LEADER_ADDRESS"
WORKER_INDEX = "LWS_WORKER_INDEX"
WORKER_INDEX_LABEL = "leaderworkerset.sigs.k8s.io/worker-index"
"""The label LeaderWorkerSet puts on each pod: "0" on the leader."""
TEMPLATE_PATHS: tuple[tuple[str, ...], ...] = (
    ("spec", "leaderWorkerTemplate", "leaderTemplate"),
    ("spec", "leaderWorkerTemplate", "workerTemplate"),
)
"""Where the leader's and the followers' pod templates are in the LeaderWorkerSet."""
WAIT_NAME = "wait-for-leader"

# Variables only the Dynamo runtime reads (discovery, planes, the system port, the addresses it
# advertises); a headless follower never starts it. DYN_LOG stays: the follower logs too.
_RUNTIME_ONLY = frozenset({
    "DYN_NAMESPACE", "DYN_DISCOVERY_BACKEND", "ETCD_ENDPOINTS", "DYN_REQUEST_PLANE",
    "DYN_EVENT_PLANE", "NATS_SERVER", "DYN_SYSTEM_PORT", "DYN_HEALTH_CHECK_ENABLED",
    "DYN_TCP_RPC_HOST", "DYN_EVENT_PLANE_HOST"})

# $1: seconds to wait in total, $2: the leader's rendezvous port. LeaderWorkerSet sets
# LWS_LEADER_ADDRESS in init containers too. A follower that starts before the leader listens
# fails its rendezvous and, with RecreateGroupOnPodRestart, takes its group down with it.
WAIT_SCRIPT = r"""set -u -f
deadline=$((SECONDS + $1))
port=$2
leader=${LWS_LEADER_ADDRESS:?LWS_LEADER_ADDRESS is not set: this pod is not in a LeaderWorkerSet}
report_at=0
while :; do
  if timeout 5 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$leader" "$port" 2>/dev/null; then
    echo "the leader accepts connections at $leader:$port"; exit 0
  fi
  remaining=$((deadline - SECONDS))
  if (( remaining <= 0 )); then
    echo "gave up after $1 s waiting for the leader at $leader:$port" >&2; exit 1
  fi
  if (( SECONDS >= report_at )); then
    echo "waiting for the leader at $leader:$port"; report_at=$((SECONDS + 30))
  fi
  sleep $(( remaining < 2 ? remaining : 2 ))
done
"""

# $0: the leader's system port. Run by the kubelet in the follower's container.
LEADER_ALIVE = 'exec 3<>"/dev/tcp/${LWS_LEADER_ADDRESS}/$0"'


def arguments(nodes: int, *, leader: bool) -> list[str]:
    """vLLM's multi-node flags of one pod of a group (the mp executor)."""
    args = ["--distributed-executor-backend", "mp", "--nnodes", str(nodes),
            "--master-addr", f"$({LEADER_ADDRESS})", "--master-port", str(MASTER_PORT)]
    if leader:
        return [*args, "--node-rank", "0"]
    return [*args, "--node-rank", f"$({WORKER_INDEX})", "--headless"]


def side_channel_env() -> dict[str, Any]:
    """Each rank's NIXL side channel listens on its own pod's address (as the operator sets
    for the mp executor): KV blocks of the ranks on a follower are fetched from that pod."""
    return {"name": "VLLM_NIXL_SIDE_CHANNEL_HOST",
            "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}


def runtime_only(variable: str) -> bool:
    """Whether only the Dynamo runtime reads `variable` (the etcd client certificate too)."""
    return variable in _RUNTIME_ONLY or variable.startswith("ETCD_")


def follower_container(leader: Mapping[str, Any], *, args: list[str], system_port: int,
                       probes: RuntimeProbes) -> dict[str, Any]:
    """The follower's container from the leader's: the same image, GPUs, mounts and NCCL
    settings, with `args` (a headless rank's); no port, no Dynamo runtime variables (the etcd
    client certificate included), and a liveness probe that follows the leader."""
    container: dict[str, Any] = {}
    for key, value in leader.items():
        if key in ("ports", "startupProbe", "readinessProbe", "livenessProbe"):
            continue
        if key == "args":
            value = list(args)
        elif key == "env":
            value = [copy.deepcopy(e) for e in value if not runtime_only(e["name"])]
        else:
            value = copy.deepcopy(value)  # the templates are edited in place later
        container[key] = value
        if key == "env" and probes.enabled:
            # A headless rank serves nothing of its own; it lives for its leader. The leader's
            # probes stand for the group (a restart there recreates the group); this one
            # restarts a follower whose leader's system port stopped answering (and, with it,
            # the group), e.g. when the leader's pod is gone.
            container["livenessProbe"] = {
                "exec": {"command": ["bash", "-c", LEADER_ALIVE, str(system_port)]},
                "periodSeconds": probes.liveness_period_seconds,
                "timeoutSeconds": probes.liveness_timeout_seconds,
                "failureThreshold": probes.liveness_failure_threshold,
            }
    return container


def wait_for_leader(*, image: str, pull_policy: str, timeout_seconds: int) -> dict[str, Any]:
    """The followers' init container: holds the engine back until the leader's rendezvous port
    accepts connections, for at most `timeout_seconds` (the leader's startup budget)."""
    init: dict[str, Any] = {
        "name": WAIT_NAME,
        "image": image,
        "imagePullPolicy": pull_policy,
        "command": ["bash", "-c", WAIT_SCRIPT, WAIT_NAME, str(timeout_seconds),
                    str(MASTER_PORT)],
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                      "limits": {"cpu": "100m", "memory": "64Mi"}},
    }
    restrict_container(init, read_only_root_filesystem=True, run_as_user=65534)
    return init


def with_init_containers(spec: dict[str, Any], init: list[dict[str, Any]]) -> None:
    """Replace the pod spec's init containers with `init`, listed before the containers."""
    rest = [(k, v) for k, v in spec.items() if k != "initContainers"]
    spec.clear()
    for key, value in rest:
        if key == "containers":
            spec["initContainers"] = init
        spec[key] = value


def rollout(settings: UpdateStrategy) -> dict[str, Any]:
    """A LeaderWorkerSet updates group by group; `maxSurge: 0`, so no group needs free GPUs.
    Recreate replaces every group at once (as a Deployment's Recreate does)."""
    unavailable: int | str = "100%" if settings.type == "Recreate" else (
        settings.max_unavailable if settings.max_unavailable is not None else 1)
    return {"type": "RollingUpdate",
            "rollingUpdateConfiguration": {"maxUnavailable": unavailable, "maxSurge": 0}}


def leader_worker_set(name: str, namespace: str | None, labels: Mapping[str, str], *,
                      replicas: int, size: int, leader: dict[str, Any], worker: dict[str, Any],
                      update_strategy: UpdateStrategy) -> Manifest:
    """`replicas` groups of `size` pods. A restart of any pod recreates its group: a vLLM
    engine cannot take a rank back. The followers start with the leader (`LeaderCreated`) and
    wait for its rendezvous themselves; `LeaderReady` would never start them, as the leader is
    ready only once its followers joined."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata(name, namespace, labels),
        "spec": {
            "replicas": replicas,
            "leaderWorkerTemplate": {
                "size": size,
                "restartPolicy": "RecreateGroupOnPodRestart",
                "leaderTemplate": leader,
                "workerTemplate": worker,
            },
            "rolloutStrategy": rollout(update_strategy),
            "startupPolicy": "LeaderCreated",
        },
    }
