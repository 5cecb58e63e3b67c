"""`python -m constructs_lib run-local ENVIRONMENT` passes for every shipped Dynamo 1.x
environment (at most two worker processes per Deployment, groups per LeaderWorkerSet), for a
LeaderWorkerSet pool whose leaders publish KV events to a KV router, and in its host-network
fallback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from constructs_lib.model.dynamo_v1 import EnvironmentV1, nodes_per_worker
from constructs_lib.tools import synth
from constructs_lib.tools.cli import main
from tests.conftest import ENVIRONMENTS
from tests.e2e.conftest import requirements_marks

pytestmark = requirements_marks()

V1 = sorted(name for name, environment in synth.load_all(synth.discover(ENVIRONMENTS)).items()
            if isinstance(environment, EnvironmentV1))


def test_the_shipped_1x_environments() -> None:
    assert {"dev", "single-node-v1", "multi-node-v1"} <= set(V1)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["run-local", *args, "--timeout", "60"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _line(out: str, label: str) -> str:
    return out.split(label, 1)[1].splitlines()[0]


def _group_pools(environment: EnvironmentV1) -> list[tuple[str, int, int]]:
    """(role, groups, pods per group) of the pools whose workers span nodes."""
    per_node = environment.nodes.gpus_per_node if environment.nodes is not None else None
    pools = [("decode", environment.decode), ("prefill", environment.prefill)]
    return [(role, pool.replicas, nodes_per_worker(pool.gpus, per_node))
            for role, pool in pools
            if pool is not None and nodes_per_worker(pool.gpus, per_node) > 1]


@pytest.mark.parametrize("name", V1)
def test_run_local_passes(capsys: pytest.CaptureFixture[str], name: str) -> None:
    code, out, err = _run(capsys, str(ENVIRONMENTS / f"{name}.yaml"), "--replicas", "2")
    assert code == 0, out + err
    environment = _environment(name)
    assert f"/v1/models: {environment.model.name}" in out
    assert "in a private network namespace (only lo), all probes ready" in out
    # etcd, the frontend, and up to two workers per Deployment (a LeaderWorkerSet's groups,
    # each its leader); no NATS (none is deployed)
    processes = {"dev": 3, "single-node-v1": 5, "multi-node-v1": 5, "deepseek-r1-v1": 4}
    if name in processes:
        assert f"{name}: {processes[name]} processes on 127.0.0.1" in out
    assert "run-local:" not in err  # no fallback, no failure
    for role, groups, size in _group_pools(environment):
        leaders = [f"{role}-{i}" for i in range(min(groups, 2))]
        assert (f"  {role}: LeaderWorkerSet {environment.full_name}-{role}, "
                f"{len(leaders)} of {groups} groups of {size} pods run as their leader "
                f"({', '.join(leaders)}); {size - 1} follower") in out
        assert ("checked against the leader and not started: a headless vLLM rank runs no "
                "Dynamo runtime, and the mock engine has no multi-node mode") in _line(
                    out, f"  {role}: LeaderWorkerSet")
    chat = _line(out, "chat completion:")
    if environment.disaggregated:
        assert "prefill worker" in chat and "decode worker" in chat
    else:
        assert "(prefill and decode)" in chat
    if environment.publishes_kv_events:
        assert "; 0 workers without KV events" in out
    else:
        assert "KV events:" not in out


def test_the_shipped_environments_include_a_leader_worker_set_pool() -> None:
    """So that test_run_local_passes covers LeaderWorkerSet pools."""
    found = [name for name in V1 if _group_pools(_environment(name))]
    assert found == ["deepseek-r1-v1"]


def _environment(name: str) -> EnvironmentV1:
    environment = synth.load_all([ENVIRONMENTS / f"{name}.yaml"])[name]
    assert isinstance(environment, EnvironmentV1)
    return environment


@pytest.mark.parametrize(("replicas", "processes", "leaders"), [
    ("1", 4, "1 of 2 groups of 2 pods run as their leader (prefill-0)"),
    ("all", 5, "2 of 2 groups of 2 pods run as their leader (prefill-0, prefill-1)"),
])
def test_leaders_publish_kv_events_to_a_kv_router(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, replicas: str, processes: int,
        leaders: str) -> None:
    """deepseek-r1-v1 with the KV router and two prefill groups (the shipped file routes
    round-robin): each started group's leader publishes KV events (vLLM's --kv-events-config
    on the leader, W5) and the router stores them; --replicas caps groups as it caps pods."""
    settings = yaml.safe_load((ENVIRONMENTS / "deepseek-r1-v1.yaml").read_text())
    settings["frontend"] = {"router": {"mode": "kv"}}
    settings["prefill"]["replicas"] = 2
    settings["nodes"]["count"] = 6
    path = tmp_path / "deepseek-r1-kv.yaml"
    path.write_text(yaml.safe_dump(settings))
    environment = synth.load_all([path])["deepseek-r1-kv"]
    assert isinstance(environment, EnvironmentV1) and environment.publishes_kv_events
    code, out, err = _run(capsys, str(path), "--replicas", replicas)
    assert code == 0, out + err
    assert f"deepseek-r1-kv: {processes} processes on 127.0.0.1" in out
    assert f"  prefill: LeaderWorkerSet deepseek-r1-dynamo-prefill, {leaders}; " in out
    assert "1 of 1 groups of 2 pods run as their leader (decode-0)" in out
    assert "prefill worker" in _line(out, "chat completion:")
    assert "; 0 workers without KV events" in out
    stored = float(_line(out, "KV events: the router applied ").split()[0])
    assert stored >= 1
    assert "run-local:" not in err


@pytest.mark.parametrize("name", ["single-node-v1"])
def test_host_network_fallback(capsys: pytest.CaptureFixture[str], name: str) -> None:
    """Where no private network namespace can be made (forced here): every process on
    127.0.0.1 in the host's network, the event plane on a loopback NATS run-local starts, and
    the run says so; KV events still reach the router."""
    if shutil.which("nats-server") is None:
        pytest.skip("nats-server not found on PATH (Debian: apt-get install nats-server)")
    code, out, err = _run(capsys, str(ENVIRONMENTS / f"{name}.yaml"), "--host-network")
    assert code == 0, out + err
    assert "no private network namespace (--host-network)" in err
    assert "DYN_EVENT_PLANE=nats" in err
    assert f"{name}: 5 processes on 127.0.0.1 in this host's network" in out  # + nats
    assert "; 0 workers without KV events" in out
