"""The leader's and the followers' command lines of every shipped LeaderWorkerSet, judged by
the pinned runtime's own parsers (ai-dynamo 1.6.1, vLLM 0.31.0), with the variables the
LeaderWorkerSet controller gives each pod."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.runtime_parsers import check, container_command, requirement_marks

pytestmark = requirement_marks()

DIST = Path(__file__).resolve().parents[1] / "dist"


def _pods() -> list[Any]:
    """(LeaderWorkerSet, rank, worker container) of every pod of one group of each."""
    found = []
    for path in sorted(DIST.glob("*/LeaderWorkerSet.*.yaml")):
        lws = yaml.safe_load(path.read_text())
        group = lws["spec"]["leaderWorkerTemplate"]
        for rank in range(group["size"]):
            template = group["leaderTemplate" if rank == 0 else "workerTemplate"]
            [worker] = [c for c in template["spec"]["containers"] if c["name"] == "worker"]
            found.append(pytest.param(lws, rank, worker,
                                      id=f"{path.parent.name}/{path.stem}/rank-{rank}"))
    return found


PODS = _pods()


def admitted(lws: dict[str, Any], rank: int, container: dict[str, Any],
             group_index: int = 0) -> dict[str, Any]:
    """`container` as the LeaderWorkerSet controller admits it in group `group_index`: the
    leader's address (under the set's headless Service), the group size and the pod's index
    come first in its environment."""
    name, namespace = lws["metadata"]["name"], lws["metadata"]["namespace"]
    injected = [
        {"name": "LWS_LEADER_ADDRESS", "value": f"{name}-{group_index}.{name}.{namespace}"},
        {"name": "LWS_GROUP_SIZE", "value": str(lws["spec"]["leaderWorkerTemplate"]["size"])},
        {"name": "LWS_WORKER_INDEX", "value": str(rank)},
    ]
    return {**container, "env": [*injected, *container.get("env", [])]}


def test_the_shipped_groups_have_a_leader_and_followers() -> None:
    ranks = sorted((p.id.rsplit("/", 1)[0], p.values[1]) for p in PODS)
    assert ranks == [("deepseek-r1-v1/LeaderWorkerSet.deepseek-r1-dynamo-decode.k8s", 0),
                     ("deepseek-r1-v1/LeaderWorkerSet.deepseek-r1-dynamo-decode.k8s", 1),
                     ("deepseek-r1-v1/LeaderWorkerSet.deepseek-r1-dynamo-prefill.k8s", 0),
                     ("deepseek-r1-v1/LeaderWorkerSet.deepseek-r1-dynamo-prefill.k8s", 1)]


@pytest.mark.parametrize(("lws", "rank", "worker"), PODS)
def test_every_rank_is_accepted(lws: dict[str, Any], rank: int, worker: dict[str, Any]) -> None:
    kind, argv, env = container_command(admitted(lws, rank, worker))
    assert kind == "vllm"
    name, namespace = lws["metadata"]["name"], lws["metadata"]["namespace"]
    assert argv[argv.index("--master-addr") + 1] == f"{name}-0.{name}.{namespace}"
    assert argv[argv.index("--node-rank") + 1] == str(rank)
    assert ("--headless" in argv) is (rank > 0)
    verdict = check(kind, argv, env)
    assert verdict.problems == []


def test_a_follower_without_its_rank_is_refused() -> None:
    """What the parsers check depends on the controller's variables: without them, the
    follower's `--node-rank $(LWS_WORKER_INDEX)` reaches vLLM unexpanded."""
    lws, rank, worker = next(p.values for p in PODS if p.values[1] == 1)
    kind, argv, env = container_command(worker)
    problems = check(kind, argv, env).problems
    assert any("argument --node-rank" in p and "invalid int value: '$(LWS_WORKER_INDEX)'" in p
               for p in problems), problems
    assert rank == 1 and lws["kind"] == "LeaderWorkerSet"
