"""LeaderWorkerSet pools locally: each group's leader runs, its followers are checked.

A group of a LeaderWorkerSet is one vLLM engine spread over `size` pods (vLLM's mp executor):
the leader (rank 0) runs the Dynamo runtime for the whole group, the followers run headless
engine processes that only join the leader's torch rendezvous. The mock engine has no
multi-node mode, so run-local starts the leader alone (translate.py, W7) and cannot start the
followers. What it can do is read them: a follower that does not match its leader would fail
in the cluster (a rank of another model, a wait for a port the leader never opens, a liveness
probe that asks the wrong port), and :func:`check_followers` says so.

It does not run the followers' wait-for-leader init container: the script waits for the
leader's master port (torch's rendezvous store), which the mock leader never opens, so locally
it could only pass against a listener run-local opened itself, which would prove nothing about
the leader (tests/test_multinode.py runs the script against a listener already). The port it
waits for is compared with the leader's instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .translate import LWS_LEADER_ADDRESS, LWS_WORKER_INDEX, _expand, _split_flags

KIND = "LeaderWorkerSet"
WAIT_FOR_LEADER = "wait-for-leader"
"""The followers' init container (constructs_lib._render.multinode.WAIT_NAME)."""
RANK_ONLY = frozenset({"--node-rank", "--headless"})
"""The flags in which a follower's command line may differ from its leader's."""
NOT_STARTED = ("a headless vLLM rank runs no Dynamo runtime, and the mock engine has no "
               "multi-node mode")


def templates(lws: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The leader's and the followers' pod templates (the leader takes the workers' template
    when the set gives it none, as the controller does)."""
    group = lws["spec"]["leaderWorkerTemplate"]
    worker: dict[str, Any] = group["workerTemplate"]
    return group.get("leaderTemplate") or worker, worker


def group_size(lws: Mapping[str, Any]) -> int:
    return int(lws["spec"]["leaderWorkerTemplate"].get("size", 1))


def main_container(template: Mapping[str, Any]) -> dict[str, Any]:
    """The pod's first container: the worker (sidecars composed with kplus come after it)."""
    container: dict[str, Any] = template["spec"]["containers"][0]
    return container


def _flags(container: Mapping[str, Any]) -> dict[str, list[str]]:
    return {flag: values for flag, values in _split_flags(
        [str(a) for a in container.get("args") or []])}


def _env_value(container: Mapping[str, Any], name: str) -> str | None:
    for item in container.get("env") or []:
        if item["name"] == name and "value" in item:
            return str(item["value"])
    return None


def _bash_parameters(command: Sequence[str]) -> tuple[str, list[str]] | None:
    """``bash -c SCRIPT $0 $1 ...``: the script and its positional parameters, from $0."""
    if len(command) < 3 or not command[0].endswith("bash") or "-c" not in command:
        return None
    at = list(command).index("-c")
    if at + 1 >= len(command):
        return None
    return command[at + 1], list(command[at + 2:])


def _show(values: list[str] | None) -> str:
    return "absent" if values is None else " ".join(values) or "set"


def check_followers(lws: Mapping[str, Any]) -> list[str]:
    """What in the followers' pod template does not fit its leader (empty: nothing), one line
    each: the same image, command and engine flags (model included), a rank of their own that
    is not the leader's and no Dynamo runtime (``--headless``), a wait for the leader's master
    port, a liveness probe on the leader's system port."""
    size = group_size(lws)
    if size < 2:
        return []
    leader_template, follower_template = templates(lws)
    leader, follower = main_container(leader_template), main_container(follower_template)
    problems: list[str] = []
    for key in ("image", "command"):
        if follower.get(key) != leader.get(key):
            problems.append(f"{key} {follower.get(key)!r}, the leader's {leader.get(key)!r}: a "
                            "group runs one engine, the same program on every rank")

    leader_flags, follower_flags = _flags(leader), _flags(follower)
    differing = sorted((set(leader_flags) | set(follower_flags)) - RANK_ONLY)
    differing = [f for f in differing if leader_flags.get(f) != follower_flags.get(f)]
    if differing:
        shown = "; ".join(f"{f or 'arguments'} {_show(follower_flags.get(f))} (the leader's "
                          f"{_show(leader_flags.get(f))})" for f in differing)
        problems.append(f"engine flags differ from the leader's: {shown}: every rank must load "
                        "the same model with the same parallelism and rendezvous")

    if "--headless" not in follower_flags:
        problems.append("no --headless: the follower would start a Dynamo runtime and register "
                        "as a worker of its own instead of serving its leader's engine")
    rank = (follower_flags.get("--node-rank") or [""])[0]
    for index in range(1, size):
        expanded = _expand(rank, {LWS_WORKER_INDEX: str(index)})
        if expanded != str(index):
            problems.append(f"--node-rank {rank or 'absent'} gives follower {index} of {size} "
                            f"the rank {expanded or '0 (the default)'}: each follower needs its "
                            f"own, $({LWS_WORKER_INDEX})")
            break

    problems += _check_wait(follower_template, leader_flags)
    problems += _check_liveness(leader, follower)
    return problems


def _check_wait(follower_template: Mapping[str, Any],
                leader_flags: Mapping[str, list[str]]) -> list[str]:
    init = {c["name"]: c for c in follower_template["spec"].get("initContainers") or []}
    master = next(iter(leader_flags.get("--master-port") or []), None)
    if WAIT_FOR_LEADER not in init:
        return [f"no {WAIT_FOR_LEADER} init container: a follower that starts before its "
                "leader listens fails the rendezvous and, with RecreateGroupOnPodRestart, takes "
                "the group down"]
    wait = init[WAIT_FOR_LEADER]
    parsed = _bash_parameters([str(a) for a in (wait.get("command") or [])
                               + (wait.get("args") or [])])
    # The script's $2 is the port it waits for ($0 its name, $1 its time budget).
    port = parsed[1][2] if parsed and len(parsed[1]) > 2 else None
    if parsed is None or LWS_LEADER_ADDRESS not in parsed[0] or port is None:
        return [f"{WAIT_FOR_LEADER} is not `bash -c SCRIPT NAME SECONDS PORT` waiting for "
                f"${LWS_LEADER_ADDRESS}"]
    if master is None:
        return ["the leader has no --master-port: its rendezvous is on vLLM's default port, "
                f"which {WAIT_FOR_LEADER} does not know"]
    if port != master:
        return [f"{WAIT_FOR_LEADER} waits for the leader's port {port}, but the leader's "
                f"--master-port is {master}: the followers would wait until their budget ends"]
    return []


def _check_liveness(leader: Mapping[str, Any], follower: Mapping[str, Any]) -> list[str]:
    probe = follower.get("livenessProbe")
    if probe is None:
        if leader.get("livenessProbe") is None:
            return []  # probes are off for the whole group
        return ["no liveness probe, though the leader has one: a follower whose leader is "
                "gone would hang in its rendezvous instead of restarting the group"]
    system = _env_value(leader, "DYN_SYSTEM_PORT")
    parsed = _bash_parameters([str(a) for a in probe.get("exec", {}).get("command") or []])
    # The script's $0 is the port it asks at the leader's address.
    if parsed is None or LWS_LEADER_ADDRESS not in parsed[0] or not parsed[1]:
        return ["the liveness probe does not ask the leader (`bash -c SCRIPT PORT` with "
                f"${LWS_LEADER_ADDRESS}): a headless rank serves no port of its own"]
    if system is None:
        return ["the leader has no DYN_SYSTEM_PORT: no system port for the followers' "
                "liveness probe to ask"]
    if parsed[1][0] != system:
        return [f"the liveness probe asks the leader's port {parsed[1][0]}, but the leader's "
                f"system port (DYN_SYSTEM_PORT) is {system}: the followers would be restarted "
                "(and the group with them) while the leader is alive"]
    return []


def describe(lws: Mapping[str, Any], component: str, leaders: Sequence[str]) -> str:
    """One line: what of the pool runs (each started group's leader), and that its followers
    were checked and not started, and why."""
    size = group_size(lws)
    replicas = int(lws["spec"].get("replicas", 1))
    followers = size - 1
    line = (f"{component}: LeaderWorkerSet {lws['metadata']['name']}, {len(leaders)} of "
            f"{replicas} groups of {size} pods run as their leader ({', '.join(leaders)})")
    if followers:
        line += (f"; {followers} follower{'s' if followers > 1 else ''} per group checked "
                 f"against the leader and not started: {NOT_STARTED}")
    return line
