"""Workers larger than a node: LeaderWorkerSet groups, one pod per node (issue 16).

What can be proven without a multi-node GPU cluster: every LeaderWorkerSet the shipped
environments produce is a valid custom resource (its CRD, strictly), the group arithmetic adds
up, the leader and the followers are wired to each other (flags, ports, probes, the wait), the
followers' wait and liveness check work against a local listener, the constructs refuse
what cannot work, and run-local takes each group's leader and checks its followers (refusing
what it cannot start; tests/e2e runs it). tests/test_multinode_parsers.py runs both command
lines through the pinned runtime's parsers.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cdk8s_plus_27 as kplus  # before the constructs: they become kplus interfaces
import pytest

from constructs_lib import (
    DecodeWorkerPool,
    DecodeWorkerPoolProps,
    FrontendDeployment,
    FrontendDeploymentProps,
    GpuNodePool,
    GpuNodePoolProps,
    PrefillWorkerPool,
    PrefillWorkerPoolProps,
    RdmaPolicy,
    RdmaPolicyProps,
)
from constructs_lib._render import multinode
from constructs_lib.model import ModelSettings, VllmEngineArgs
from constructs_lib.model.dynamo_v1 import EnvironmentV1, RuntimeProbes
from constructs_lib.model.hardening import UpdateStrategy
from constructs_lib.placement import plan
from constructs_lib.tools import plan_report
from tests.conftest import SHIPPED, Synthesized
from tests.support.charts import find, refusals, synthesize_with
from tests.support.schemas import validate_custom_resource
from tests.support.servers import free_port

CRD = "leaderworkerset.x-k8s.io_leaderworkersets.yaml"
V1: dict[str, Any] = dict(release="r1", full_name="r1-dynamo", namespace="inference",
                          etcd_endpoints="r1-etcd:2379")
MODEL = ModelSettings(path="/data/m", served_name="m")


def groups(synthesized: dict[str, Synthesized]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, document) for name in SHIPPED
            for document in synthesized[name].all("LeaderWorkerSet")]


def container(template: dict[str, Any]) -> dict[str, Any]:
    [worker] = [c for c in template["spec"]["containers"] if c["name"] == "worker"]
    return worker


def templates(lws: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    group = lws["spec"]["leaderWorkerTemplate"]
    return group["leaderTemplate"], group["workerTemplate"]


def problem(refusal: str) -> str:
    """A refusal without its chart's generated name: `<construct id>: <prop>: <message>`."""
    return refusal.split("/", 1)[1]


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


# -- the shipped environments --------------------------------------------------------------

def test_an_environment_ships_workers_larger_than_a_node(
        synthesized: dict[str, Synthesized]) -> None:
    found = {(name, lws["metadata"]["name"]) for name, lws in groups(synthesized)}
    assert found == {("deepseek-r1-v1", "deepseek-r1-dynamo-decode"),
                     ("deepseek-r1-v1", "deepseek-r1-dynamo-prefill")}
    # Its pools emit no Deployment: the frontend's is the only one.
    assert [d["metadata"]["name"] for d in synthesized["deepseek-r1-v1"].all("Deployment")] == [
        "deepseek-r1-dynamo-frontend"]


def test_every_leader_worker_set_is_valid_against_its_crd(
        shared: Path, synthesized: dict[str, Synthesized]) -> None:
    crds = shared / "crds"
    if not (crds / CRD).exists():
        pytest.skip(f"{crds / CRD} is missing")
    checked = 0
    for _, lws in groups(synthesized):
        validate_custom_resource(lws, crds)  # the schema, and no field it does not define
        checked += 1
    assert checked == 2


def test_the_crd_check_notices_a_misspelt_field(shared: Path,
                                                synthesized: dict[str, Synthesized]) -> None:
    crds = shared / "crds"
    if not (crds / CRD).exists():
        pytest.skip(f"{crds / CRD} is missing")
    [(_, lws), *_] = groups(synthesized)
    wrong = {**lws, "spec": {**lws["spec"], "restartPolicy": "RecreateGroupOnPodRestart"}}
    with pytest.raises(AssertionError, match=r"spec\.restartPolicy"):
        validate_custom_resource(wrong, crds)


def test_group_gpus_add_up(synthesized: dict[str, Synthesized]) -> None:
    for name, lws in groups(synthesized):
        env = synthesized[name].environment
        assert isinstance(env, EnvironmentV1) and env.nodes is not None
        role = lws["metadata"]["labels"]["app.kubernetes.io/dynamo-component"]
        pool = env.decode if role == "decode" else env.prefill
        assert pool is not None
        size = lws["spec"]["leaderWorkerTemplate"]["size"]
        per_node = env.nodes.gpus_per_node
        assert size == pool.gpus // per_node and size * per_node == pool.gpus
        assert lws["spec"]["replicas"] == pool.replicas
        for template in templates(lws):
            resources = container(template)["resources"]
            assert resources["limits"]["nvidia.com/gpu"] == per_node
            assert resources["requests"]["nvidia.com/gpu"] == per_node
            shm = next(v for v in template["spec"]["volumes"] if v["name"] == "dshm")
            assert shm["emptyDir"]["sizeLimit"] == f"{2 * per_node}Gi"  # 2Gi per GPU
        args = container(templates(lws)[0])["args"]
        parallel = int(flag(args, "--tensor-parallel-size")) * int(
            args[args.index("--pipeline-parallel-size") + 1]
            if "--pipeline-parallel-size" in args else 1)
        assert parallel == size * per_node == pool.gpus
        assert int(flag(args, "--nnodes")) == size


def test_leader_and_followers_are_wired_to_each_other(
        synthesized: dict[str, Synthesized]) -> None:
    for _, lws in groups(synthesized):
        spec = lws["spec"]
        assert spec["leaderWorkerTemplate"]["restartPolicy"] == "RecreateGroupOnPodRestart"
        assert spec["startupPolicy"] == "LeaderCreated"
        leader_template, worker_template = templates(lws)
        leader, follower = container(leader_template), container(worker_template)
        size = str(spec["leaderWorkerTemplate"]["size"])
        for args in (leader["args"], follower["args"]):
            assert flag(args, "--distributed-executor-backend") == "mp"
            assert flag(args, "--nnodes") == size
            assert flag(args, "--master-addr") == "$(LWS_LEADER_ADDRESS)"
            assert flag(args, "--master-port") == str(multinode.MASTER_PORT)
        assert leader["args"][-2:] == ["--node-rank", "0"]
        assert "--headless" not in leader["args"]
        assert follower["args"][-3:] == ["--node-rank", "$(LWS_WORKER_INDEX)", "--headless"]
        # The same engine on every rank: only the rank flags differ.
        assert leader["args"][:-2] == follower["args"][:-3]
        assert leader["command"] == follower["command"] == ["python3", "-m", "dynamo.vllm"]
        assert leader["image"] == follower["image"]
        # The leader serves the system port and the rendezvous; the followers serve nothing.
        ports = {p["name"]: p["containerPort"] for p in leader["ports"]}
        assert ports == {"system": 9090, "master": multinode.MASTER_PORT}
        assert "ports" not in follower
        # Probes on the leader; a headless rank's liveness follows its leader's system port.
        assert {"startupProbe", "livenessProbe", "readinessProbe"} <= set(leader)
        assert leader["readinessProbe"]["httpGet"] == {"path": "/health", "port": "system"}
        assert not {"startupProbe", "readinessProbe"} & set(follower)
        assert follower["livenessProbe"]["exec"]["command"][-1] == str(ports["system"])
        # Only the leader runs the Dynamo runtime: etcd, the planes, the system port.
        leader_env = {e["name"] for e in leader["env"]}
        follower_env = {e["name"] for e in follower["env"]}
        assert {"DYN_NAMESPACE", "ETCD_ENDPOINTS", "DYN_SYSTEM_PORT"} <= leader_env
        assert not {n for n in follower_env if multinode.runtime_only(n)}
        # Both ranks keep NCCL's RDMA settings and their own NIXL side channel address.
        assert {"NCCL_IB_HCA", "VLLM_NIXL_SIDE_CHANNEL_HOST"} <= leader_env & follower_env
        # The leader waits for etcd; the followers wait for the leader's rendezvous, as long as
        # the leader may take to start.
        [leader_init] = leader_template["spec"]["initContainers"]
        [follower_init] = worker_template["spec"]["initContainers"]
        assert leader_init["name"] == "wait-for-dependencies"
        assert follower_init["name"] == multinode.WAIT_NAME
        assert follower_init["command"][-2:] == [
            str(leader["startupProbe"]["failureThreshold"] * 10), str(ports["master"])]
        assert follower_init["securityContext"]["runAsNonRoot"]
        # The same hardening, RDMA and placement on every pod of the group.
        for key in ("securityContext", "automountServiceAccountToken", "volumes",
                    "topologySpreadConstraints", "terminationGracePeriodSeconds"):
            assert leader_template["spec"].get(key) == worker_template["spec"].get(key), key
        assert leader_template["metadata"] == worker_template["metadata"]
        assert leader["securityContext"] == follower["securityContext"]
        assert leader["volumeMounts"] == follower["volumeMounts"]


def test_the_plan_puts_each_group_on_whole_nodes(synthesized: dict[str, Synthesized]) -> None:
    report = (synthesized["deepseek-r1-v1"].folder / "PLAN.md").read_text()
    assert "| node-1 | 8 of 8 | deepseek-r1-dynamo-decode group 1/1 leader | 8 (8 decode) |" in \
        report
    assert "| node-2 | 8 of 8 | deepseek-r1-dynamo-decode group 1/1 rank 1 | 8 (8 decode) |" in \
        report
    assert ("deepseek-r1-dynamo-prefill is a LeaderWorkerSet: each prefill worker is a group of "
            "2 pods of 8 GPUs, each on a node of its own (16 GPUs)") in report


# -- the followers' wait and liveness, against a local listener ---------------------------------

@pytest.fixture
def listener() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def run(command: list[str], leader: str | None, timeout: float = 20
        ) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    if leader is not None:
        env[multinode.LEADER_ADDRESS] = leader
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)


def wait(port: int, budget: int = 0) -> list[str]:
    command = multinode.wait_for_leader(image="dynamo", pull_policy="IfNotPresent",
                                        timeout_seconds=budget)["command"]
    assert command[-1] == str(multinode.MASTER_PORT)
    return [*command[:-1], str(port)]


def test_the_wait_passes_once_the_leader_listens(listener: int) -> None:
    done = run(wait(listener), "127.0.0.1")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"the leader accepts connections at 127.0.0.1:{listener}\n"


def test_the_wait_gives_up_after_its_budget() -> None:
    port = free_port()
    done = run(wait(port, budget=1), "127.0.0.1")
    assert done.returncode == 1
    assert done.stdout.startswith(f"waiting for the leader at 127.0.0.1:{port}\n")
    assert done.stderr == f"gave up after 1 s waiting for the leader at 127.0.0.1:{port}\n"


def test_the_wait_sees_a_leader_that_comes_up_late() -> None:
    port = free_port()
    waiting = subprocess.Popen(wait(port, budget=30), env={
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), multinode.LEADER_ADDRESS: "127.0.0.1"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert waiting.stdout is not None
        assert waiting.stdout.readline() == f"waiting for the leader at 127.0.0.1:{port}\n"
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
            sock.listen()
            out, err = waiting.communicate(timeout=20)
    finally:
        waiting.kill()
    assert waiting.returncode == 0, err
    assert out == f"the leader accepts connections at 127.0.0.1:{port}\n"


def test_the_wait_outside_a_leader_worker_set_says_so(listener: int) -> None:
    done = run(wait(listener), None)
    assert done.returncode != 0
    assert "LWS_LEADER_ADDRESS is not set: this pod is not in a LeaderWorkerSet" in done.stderr


def test_a_followers_liveness_follows_its_leaders_system_port(listener: int) -> None:
    follower = multinode.follower_container(
        {"name": "worker", "args": [], "env": []}, args=[], system_port=listener,
        probes=RuntimeProbes())
    command = follower["livenessProbe"]["exec"]["command"]
    assert run(command, "127.0.0.1").returncode == 0
    assert run([*command[:-1], str(free_port())], "127.0.0.1").returncode != 0


# -- hand-composed ------------------------------------------------------------------------------

def spanning(chart: Any, *, replicas: int = 1, gpus: int = 16, **props: Any) -> DecodeWorkerPool:
    return DecodeWorkerPool(chart, "decode", DecodeWorkerPoolProps(**{
        **V1, "model": MODEL, "gpus": gpus, "gpus_per_node": 8, "replicas": replicas,
        "disaggregated": False,
        "engine": VllmEngineArgs.model_validate({"tensor-parallel-size": gpus}), **props}))


def test_a_worker_that_fits_a_node_stays_a_deployment() -> None:
    pools: list[DecodeWorkerPool] = []
    documents = synthesize_with(lambda chart: pools.append(spanning(chart, gpus=8)))
    assert [d["kind"] for d in documents] == ["Deployment"]
    [pool] = pools
    assert pool.nodes_per_worker == 1 and pool.leader_worker_set is None
    assert pool.deployment is pool.workload_object
    assert pool.deployment_name == pool.workload_name == "r1-dynamo-decode"


def test_a_pool_of_groups_exposes_its_shape() -> None:
    pools: list[DecodeWorkerPool] = []
    documents = synthesize_with(lambda chart: pools.append(spanning(chart, replicas=2,
                                                                    gpus=32)))
    [pool] = pools
    assert pool.nodes_per_worker == pool.pods_per_replica == 4
    assert pool.gpus == 32 and pool.gpus_per_node == 8 and pool.gpus_per_pod == 8
    assert pool.leader_worker_set is pool.workload_object is pool.node.default_child
    assert pool.workload_name == "r1-dynamo-decode" and pool.replicas == 2
    assert "--nnodes" not in pool.worker_arguments
    assert pool.pod_template is pool.template_of_rank(0)
    assert pool.template_of_rank(3) is pool.pod_templates[1]
    with pytest.raises(AttributeError, match="its pods run as a LeaderWorkerSet "
                                             r"\(r1-dynamo-decode\), not a Deployment"):
        pool.deployment  # noqa: B018
    with pytest.raises(AttributeError, match="deployment_name"):
        pool.deployment_name  # noqa: B018
    lws = find(documents, "LeaderWorkerSet", "r1-dynamo-decode")
    assert lws["metadata"]["labels"]["app.kubernetes.io/dynamo-component"] == "decode"
    assert lws["spec"]["leaderWorkerTemplate"]["size"] == 4
    # Two groups: a budget over every pod of the pool, one disruption at a time.
    budget = find(documents, "PodDisruptionBudget", "r1-dynamo-decode")
    assert budget["spec"]["selector"]["matchLabels"] == pool.selector_labels
    for template in pool.pod_templates:
        assert pool.selector_labels.items() <= template["metadata"]["labels"].items()


@pytest.mark.parametrize(("strategy", "expected"), [
    (UpdateStrategy(), {"maxUnavailable": "100%", "maxSurge": 0}),
    (UpdateStrategy(type="RollingUpdate"), {"maxUnavailable": 1, "maxSurge": 0}),
    (UpdateStrategy(type="RollingUpdate", max_unavailable="50%"),
     {"maxUnavailable": "50%", "maxSurge": 0}),
])
def test_updates_replace_whole_groups_without_extra_gpus(strategy: UpdateStrategy,
                                                         expected: dict[str, Any]) -> None:
    documents = synthesize_with(lambda chart: spanning(chart, update_strategy=strategy))
    rollout = find(documents, "LeaderWorkerSet")["spec"]["rolloutStrategy"]
    assert rollout == {"type": "RollingUpdate", "rollingUpdateConfiguration": expected}


def test_host_network_groups_bind_their_ports_on_their_nodes() -> None:
    def build(chart: Any) -> None:
        rdma = RdmaPolicy(chart, "rdma", RdmaPolicyProps(host_network=True))
        spanning(chart, rdma=rdma)
    documents = synthesize_with(build)
    leader, worker = templates(find(documents, "LeaderWorkerSet"))
    for template in (leader, worker):
        assert template["spec"]["hostNetwork"] is True
        assert template["metadata"]["annotations"]["tke.cloud.tencent.com/networks"]
        assert container(template)["securityContext"]["capabilities"]["add"] == ["IPC_LOCK"]


def test_a_kplus_autoscaler_scales_the_groups() -> None:
    def build(chart: Any) -> None:
        pool = spanning(chart, replicas=2)
        kplus.HorizontalPodAutoscaler(chart, "hpa", target=pool, max_replicas=3)
        GpuNodePool(chart, "nodes", GpuNodePoolProps(count=6, gpus_per_node=8))
    documents = synthesize_with(build)
    hpa = find(documents, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": multinode.API_VERSION,
                                             "kind": "LeaderWorkerSet",
                                             "name": "r1-dynamo-decode"}
    assert "replicas" not in find(documents, "LeaderWorkerSet")["spec"]


def test_the_plan_counts_the_autoscalers_groups(tmp_path: Path) -> None:
    def build(chart: Any) -> None:
        pool = spanning(chart, replicas=2)
        kplus.HorizontalPodAutoscaler(chart, "hpa", target=pool, max_replicas=3)
        GpuNodePool(chart, "nodes", GpuNodePoolProps(count=5, gpus_per_node=8))
    assert [problem(line) for line in refusals(build)] == [
        "nodes: count: 5, but the deployment needs 6 nodes of 8 GPUs: 48 nvidia.com/gpu "
        "requested, 40 available (8 missing); autoscaled pods count at their maximum "
        "(r1-dynamo-decode at most 3); no node is left for r1-dynamo-decode group 3 of 3, "
        "rank 1 (8 GPUs)"]


def test_composition_reaches_leader_and_followers() -> None:
    def build(chart: Any) -> None:
        pool = spanning(chart)
        secret = kplus.Secret(chart, "token", string_data={"token": "x"})
        pool.mount("/etc/token", kplus.Volume.from_secret(chart, "token-volume", secret),
                   read_only=True)
        pool.add_env("HF_HUB_OFFLINE", "1")
        pool.add_container(kplus.ContainerProps(name="logs", image="fluent/fluent-bit:3.2"))
    documents = synthesize_with(build)
    for template in templates(find(documents, "LeaderWorkerSet")):
        spec = template["spec"]
        worker = container(template)
        assert {"name": "HF_HUB_OFFLINE", "value": "1"} in worker["env"]
        [mounted] = [m["name"] for m in worker["volumeMounts"] if m["mountPath"] == "/etc/token"]
        assert [c["name"] for c in spec["containers"]] == ["worker", "logs"]
        assert sum(v["name"] == mounted for v in spec["volumes"]) == 1


def test_groups_are_planned_on_nodes_of_their_own() -> None:
    pools: list[DecodeWorkerPool] = []

    def build(chart: Any) -> None:
        GpuNodePool(chart, "nodes", GpuNodePoolProps(count=5, gpus_per_node=8))
        FrontendDeployment(chart, "frontend", FrontendDeploymentProps(
            **V1, served_model_name="m"))
        pools.append(spanning(chart, replicas=2, disaggregated=True))
        PrefillWorkerPool(chart, "prefill", PrefillWorkerPoolProps(**V1, model=MODEL))
    synthesize_with(build)
    placed = plan(pools[0])
    assert placed.fits
    members = {(p.replica, p.rank): n.name for n in placed.nodes for p in n.pods
               if p.in_group}
    assert len(members) == 4 and len(set(members.values())) == 4
    [shape] = placed.groups
    assert (shape.name, shape.size, shape.gpus_per_pod, shape.replicas) == (
        "r1-dynamo-decode", 2, 8, 2)
    text = plan_report.text(placed, "hand")
    assert "r1-dynamo-decode group 2/2 rank 1" in text


def test_a_name_too_long_for_a_leader_worker_set_is_refused() -> None:
    name = "r" * 42
    [line] = refusals(lambda chart: spanning(chart, full_name=name))
    assert problem(line).startswith(
        f"decode: full_name: {name}: {name}-decode (49 characters) cannot be a LeaderWorkerSet "
        "name: LeaderWorkerSet names are DNS-1035 labels of at most 48 characters")


def test_node_size_is_a_whole_number() -> None:
    with pytest.raises(ValueError, match="gpus_per_node must be a whole number of at least 1"):
        DecodeWorkerPoolProps(**V1, model=MODEL, gpus_per_node=0)


def test_nodes_smaller_than_the_pool_says_are_refused() -> None:
    def build(chart: Any) -> None:
        GpuNodePool(chart, "nodes", GpuNodePoolProps(count=8, gpus_per_node=4))
        spanning(chart)
    [line] = refusals(build)
    chart = line.split("/", 1)[0]
    assert problem(line) == (
        f"nodes: gpus_per_node: 4, but r1-dynamo-decode spreads each decode worker's 16 GPUs "
        f"over 2 pods of 8 ({chart}/decode gpus_per_node 8), each meant to take a whole node; "
        "give it the nodes' size, 4")


def _run_local_with(monkeypatch: pytest.MonkeyPatch,
                    edit: Callable[[list[dict[str, Any]]], None]) -> int:
    """run-local on deepseek-r1-v1 with its synthesized manifests edited by `edit`."""
    from constructs_lib.tools.cli import main
    from constructs_lib.tools.run_local import synthesized
    from tests.conftest import ENVIRONMENTS

    read = synthesized.read_manifests

    def edited(folder: Path) -> list[dict[str, Any]]:
        documents = read(folder)
        edit(documents)
        return documents

    monkeypatch.setattr(synthesized, "read_manifests", edited)
    return main(["run-local", str(ENVIRONMENTS / "deepseek-r1-v1.yaml")])


def test_run_local_refuses_a_group_it_cannot_start(capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a leaderTemplate a group's leader runs the followers' template: a headless
    rank, which registers nothing; run-local says so in one line and starts nothing."""
    from constructs_lib.tools.cli import EXIT_INPUT_ERROR

    def edit(documents: list[dict[str, Any]]) -> None:
        for lws in documents:
            if lws["kind"] == "LeaderWorkerSet" and lws["metadata"]["name"].endswith("-decode"):
                del lws["spec"]["leaderWorkerTemplate"]["leaderTemplate"]

    assert _run_local_with(monkeypatch, edit) == EXIT_INPUT_ERROR
    [line] = capsys.readouterr().err.splitlines()
    assert line.endswith(
        "deepseek-r1-v1.yaml: decode: LeaderWorkerSet deepseek-r1-dynamo-decode: run-local "
        "cannot start it: a headless rank (--headless) of a multi-node engine runs no Dynamo "
        "runtime (it neither registers nor serves; dynamo.vllm returns before starting one): "
        "only its group's leader, rank 0, runs locally, as one mock worker for the whole group")


def test_run_local_stops_at_followers_that_do_not_fit_their_leader(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def edit(documents: list[dict[str, Any]]) -> None:
        for lws in documents:
            if lws["kind"] == "LeaderWorkerSet" and lws["metadata"]["name"].endswith("-prefill"):
                _, worker = templates(lws)
                worker["spec"]["initContainers"][0]["command"][-1] = "29501"

    assert _run_local_with(monkeypatch, edit) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "run-local: prefill: LeaderWorkerSet deepseek-r1-dynamo-prefill: followers: "
        "wait-for-leader waits for the leader's port 29501, but the leader's --master-port is "
        "29500: the followers would wait until their budget ends"]


def test_run_local_runs_each_groups_leader_and_checks_its_followers(
        synthesized: dict[str, Synthesized], tmp_path: Path) -> None:
    """What run-local does with the shipped pools (tests/e2e runs it): one mock worker per
    group, from the leader's template; the followers fit their leader, and one started on its
    own would be refused (a headless rank registers nothing)."""
    from constructs_lib.tools.run_local import CannotRunLocally, LocalContext, translate_container
    from constructs_lib.tools.run_local.groups import check_followers
    from constructs_lib.tools.run_local.synthesized import worker_pools
    from constructs_lib.tools.run_local.translate import RANK_FLAGS, GroupPod

    pools = worker_pools(synthesized["deepseek-r1-v1"].documents)
    assert {(c, p.name, p.is_group, p.replicas) for c, p in pools.items()} == {
        ("decode", "deepseek-r1-dynamo-decode", True, 1),
        ("prefill", "deepseek-r1-dynamo-prefill", True, 1)}
    context = LocalContext(python="python3", model_dir=tmp_path / "m", workdir=tmp_path)
    for component, pool in pools.items():
        assert check_followers(pool.workload) == []
        assert pool.group == GroupPod(size=2)
        leader = translate_container(f"{component}-0", pool.container, context,
                                     pod_name=pool.pod_name(0), group=pool.group)
        assert leader.argv[1:3] == ["-m", "dynamo.mocker"]
        assert not set(RANK_FLAGS) & set(leader.argv)
        assert flag(leader.argv, "--disaggregation-mode") == component
        assert leader.env["LWS_LEADER_ADDRESS"] == "127.0.0.1"
        _, worker = templates(pool.workload)
        with pytest.raises(CannotRunLocally, match="headless rank"):
            translate_container("follower", container(worker), context,
                                group=GroupPod(size=2, index=1))
