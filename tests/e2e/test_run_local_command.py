"""`python -m constructs_lib run-local ENVIRONMENT` passes for every shipped Dynamo 1.x
environment (at most two worker processes per Deployment, groups per LeaderWorkerSet), for a
LeaderWorkerSet pool whose leaders publish KV events to a KV router, and in its host-network
fallback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from constructs_lib._render import discovery
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
    # each its leader); no NATS (none is deployed). With kubernetes discovery no etcd either,
    # and the stand-in API server is not counted: it is no container of the manifests but the
    # cluster's control plane, which run-local plays itself (threads of its own process).
    # An autoscaled pool runs its autoscaler's minimum (capped at two): autoscaling-keda's
    # decode minimum is 1 and prefill's 4, autoscaling-hpa's prefill minimum 2.
    processes = {"dev": 3, "single-node-v1": 5, "multi-node-v1": 5, "deepseek-r1-v1": 4,
                 "dev-kubernetes-discovery": 2, "autoscaling-keda": 5, "autoscaling-hpa": 5}
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
    if environment.runtime.discovery == "kubernetes":
        _check_control_plane(out, environment)
    else:
        assert "Kubernetes API:" not in out
    chat = _line(out, "chat completion:")
    if environment.disaggregated:
        assert "prefill worker" in chat and "decode worker" in chat
    else:
        assert "(prefill and decode)" in chat
    if environment.publishes_kv_events:
        assert "; 0 workers without KV events" in out
    else:
        assert "KV events:" not in out


def _check_control_plane(out: str, environment: EnvironmentV1) -> None:
    """What run-local says of the control plane it played: every call the runtime made was
    one the emitted Role grants, and all the Role grants was used; the discovery Service's
    EndpointSlice listed the worker, ready as its probe said; the worker's DynamoWorkerMetadata
    passed the emitted CRD and went with its pod."""
    release = environment.full_name
    assert "  Kubernetes API: a stand-in API server in run-local on 127.0.0.1:" in out
    assert "serving endpointslices.discovery.k8s.io, dynamoworkermetadatas.nvidia.com" in out
    account = _line(out, f"    ServiceAccount {release}-discovery: ")
    assert f"each allowed by Role {release}-discovery; used list, watch " \
        "endpointslices.discovery.k8s.io; create, list, patch, watch " \
        "dynamoworkermetadatas.nvidia.com" in account
    assert " calls by decode-0, frontend, each allowed" in account
    assert "granted and not used" not in account
    slice_ = _line(out, f"    EndpointSlice {release}-discovery-")
    assert f" of Service {release}-discovery: decode-0 ready " in slice_
    assert "frontend" not in slice_  # its pods carry no discovery label
    metadata = _line(out, f"    DynamoWorkerMetadata {release}-decode-")
    assert "applies by decode-0 accepted, valid under its CRD; deleted with its pod by the " \
        "garbage collector" in metadata


def test_a_call_the_role_does_not_grant_fails_the_run(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The stand-in authorizes by the emitted Role, so a passing run proves the Role is enough:
    with its watch of EndpointSlices taken away, the runtime's watches are refused (403, as
    RBAC would), the frontend never learns the worker is ready, and the run fails naming the
    calls and what they lacked."""
    rules = [dict(rule) for rule in discovery.ROLE_RULES]
    rules[0]["verbs"] = ["list"]
    monkeypatch.setattr(discovery, "ROLE_RULES", tuple(rules))
    code = main(["run-local", str(ENVIRONMENTS / "dev-kubernetes-discovery.yaml"),
                 "--timeout", "5"])
    out, err = capsys.readouterr()
    assert code == 1, out + err
    refused = [line for line in err.splitlines() if " refused: " in line]
    assert {line.split(": GET ")[0] for line in refused} == {"run-local: frontend",
                                                             "run-local: decode-0"}
    for line in refused:
        assert ('cannot watch resource "endpointslices" in API group "discovery.k8s.io" in '
                'the namespace "dynamo-dev-kd"; the Roles do not grant it') in line
    assert "refused (not granted by Role dynamo-dev-kd-discovery)" in _line(
        out, "    ServiceAccount dynamo-dev-kd-discovery: ")
    assert "processes on 127.0.0.1" not in out


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
