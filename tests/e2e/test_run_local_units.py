"""Unit tests of constructs_lib.tools.run_local: translation rules, tiny tokenizer, SSE parsing,
/proc parsing, ports, the private network namespace, and the process group (with a loopback
http.server)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from constructs_lib.tools.run_local import (
    LocalContext,
    PortAllocator,
    ProcessError,
    ProcessGroup,
    dynamo_python,
    groups,
    listening_sockets,
    netns,
    non_loopback_listeners,
    translate_container,
    write_tiny_model,
)
from constructs_lib.tools.run_local.client import WorkerIds, iter_sse
from constructs_lib.tools.run_local.groups import check_followers
from constructs_lib.tools.run_local.processes import _decode_address, ports_listening
from constructs_lib.tools.run_local.translate import (
    LOOPBACK_ENV,
    RANK_FLAGS,
    CannotRunLocally,
    GroupPod,
    localize_nats_config,
    with_group_env,
)

from . import containers as c

HAVE_DYNAMO = dynamo_python().exists()


@pytest.fixture
def ctx(tmp_path: Path) -> LocalContext:
    context = LocalContext(
        python="/venv/bin/python", model_dir=tmp_path / "model", workdir=tmp_path
    )
    context.expose(c.ETCD_SERVICE, 2379, 21001)
    context.expose(c.NATS_SERVICE, 4222, 21002)
    return context


# --------------------------------------------------------------------------- translate


def test_worker_becomes_mocker_with_role_and_model(ctx: LocalContext) -> None:
    cmd = translate_container("decode", c.DECODE, ctx)
    assert cmd.kind == "worker"
    assert cmd.argv[:3] == ["/venv/bin/python", "-m", "dynamo.mocker"]
    args = cmd.argv[3:]
    pairs = dict(zip(args[::2], args[1::2], strict=False))
    assert pairs["--model-path"] == str(ctx.model_dir)
    assert pairs["--model-name"] == c.SERVED_MODEL_NAME
    assert pairs["--disaggregation-mode"] == "decode"
    assert pairs["--block-size"] == "64"
    assert pairs["--speedup-ratio"] == "0"
    for dropped in ("--tensor-parallel-size", "--kv-transfer-config", "--enforce-eager"):
        assert dropped not in args
        assert any(dropped in note for note in cmd.notes)


def test_worker_env_is_loopback_and_points_at_local_services(ctx: LocalContext) -> None:
    cmd = translate_container("prefill", c.PREFILL, ctx)
    for key, value in LOOPBACK_ENV.items():
        assert cmd.env[key] == value
    assert cmd.env["ETCD_ENDPOINTS"] == "http://127.0.0.1:21001"
    assert cmd.env["DYN_NAMESPACE"] == c.DYN_NAMESPACE
    system = cmd.named_ports["system"]
    assert cmd.env["DYN_SYSTEM_PORT"] == str(system) and system <= 32767
    assert cmd.startup_url == f"http://127.0.0.1:{system}/live"
    assert cmd.readiness_url == f"http://127.0.0.1:{system}/health"
    assert cmd.liveness_url == f"http://127.0.0.1:{system}/live"
    assert cmd.probe_urls == [cmd.startup_url, cmd.liveness_url, cmd.readiness_url]
    assert not any("0.0.0.0" in v for v in [*cmd.argv, *cmd.env.values()])


def test_planes_stay_as_the_manifest_says(ctx: LocalContext) -> None:
    """D2: tcp request plane, zmq event plane, no NATS; the pod IP is 127.0.0.1 (R3)."""
    for container in (c.FRONTEND, c.DECODE, c.PREFILL):
        cmd = translate_container("x", container, ctx)
        assert cmd.env["DYN_EVENT_PLANE"] == "zmq"
        assert cmd.env["DYN_REQUEST_PLANE"] == "tcp"
        assert "NATS_SERVER" not in cmd.env
        assert container is c.FRONTEND or cmd.env["DYN_HEALTH_CHECK_ENABLED"] == "true"
    prefill = translate_container("prefill", c.PREFILL, ctx)
    assert prefill.env["DYN_TCP_RPC_HOST"] == prefill.env["DYN_EVENT_PLANE_HOST"] == "127.0.0.1"
    assert "R3 env DYN_TCP_RPC_HOST from status.podIP -> 127.0.0.1" in prefill.notes
    flag = {**c.DECODE, "args": [*c.DECODE["args"], "--event-plane", "zmq"]}
    argv = translate_container("decode", flag, ctx).argv
    assert argv[argv.index("--event-plane") + 1] == "zmq"


def test_fallback_moves_the_event_plane_to_nats(ctx: LocalContext) -> None:
    """D2 fallback, without a private network namespace."""
    ctx.private_network, ctx.nats_url = False, "nats://127.0.0.1:21002"
    flag = {**c.DECODE, "args": [*c.DECODE["args"], "--event-plane", "zmq"]}
    for container in (c.FRONTEND, flag, c.PREFILL):
        cmd = translate_container("x", container, ctx)
        assert cmd.env["DYN_EVENT_PLANE"] == "nats"
        assert cmd.env["NATS_SERVER"] == "nats://127.0.0.1:21002"
        assert cmd.env["DYN_REQUEST_PLANE"] == "tcp"
        if "--event-plane" in cmd.argv:
            assert cmd.argv[cmd.argv.index("--event-plane") + 1] == "nats"
    # The mock ZMQ sink would bind 0.0.0.0: the mocker publishes on the event plane directly.
    prefill = translate_container("prefill", c.PREFILL, ctx)
    assert "--zmq-kv-events-ports" not in prefill.argv
    assert "--no-enable-prefix-caching" not in prefill.argv
    ctx.nats_url = None
    with pytest.raises(ValueError, match="no private network namespace"):
        translate_container("decode", c.DECODE, ctx)


def _args(cmd_argv: list[str]) -> list[str]:
    return cmd_argv[3:]


def test_kv_events_config_becomes_the_mockers_zmq_relay_path(ctx: LocalContext) -> None:
    """W5: vLLM's ZMQ publisher + dynamo.vllm's relay -> the mocker's --zmq-kv-events-ports."""
    cmd = translate_container("prefill", c.PREFILL, ctx)
    args = _args(cmd.argv)
    assert "--kv-events-config" not in args
    local = int(args[args.index("--zmq-kv-events-ports") + 1])
    assert 20000 <= local <= 32767 and local in ctx.ports.allocated
    assert "--no-enable-prefix-caching" not in args
    assert any(n.startswith("W5 --kv-events-config endpoint tcp://127.0.0.1:20080 -> "
                            f"--zmq-kv-events-ports {local}") for n in cmd.notes)
    assert any("['topic']" in n for n in cmd.notes)
    other = translate_container("prefill-1", c.PREFILL, ctx)
    assert _args(other.argv)[_args(other.argv).index("--zmq-kv-events-ports") + 1] != str(local)


@pytest.mark.parametrize("spelling", [
    ["--kv-events-config", '{"enable_kv_cache_events": true}'],
    ["--kv_events_config", '{"enable_kv_cache_events":true,"replay_endpoint":"tcp://*:5558"}'],
    ["--kv-events-config.enable_kv_cache_events", "true"],
], ids=["json-default-endpoint", "underscores-replay", "dotted"])
def test_kv_events_config_spellings(ctx: LocalContext, spelling: list[str]) -> None:
    container = {**c.DECODE, "args": [*c.worker("agg")["args"][:-2], *spelling]}
    args = _args(translate_container("agg", container, ctx).argv)
    assert "--zmq-kv-events-ports" in args
    assert ("--zmq-replay-ports" in args) == ("replay_endpoint" in spelling[1])


@pytest.mark.parametrize("extra", [
    [],
    ["--kv-events-config", '{"enable_kv_cache_events":false}'],
    ["--kv-events-config", '{"enable_kv_cache_events":true,"publisher":"null"}'],
    ["--enable-prefix-caching", "--kv-events-config", c.KV_EVENTS, "--no-enable-prefix-caching"],
], ids=["no-config", "disabled", "null-publisher", "no-prefix-caching"])
def test_no_kv_events_where_vllm_publishes_none(ctx: LocalContext, extra: list[str]) -> None:
    """W6: the mocker would publish by default; a vLLM worker here publishes nothing."""
    base = c.worker("agg")["args"][:-2]
    cmd = translate_container("agg", {**c.DECODE, "args": [*base, *extra]}, ctx)
    args = _args(cmd.argv)
    assert "--zmq-kv-events-ports" not in args
    assert args.count("--no-enable-prefix-caching") == 1
    assert "--enable-prefix-caching" not in args
    assert any(n.startswith("W6 ") for n in cmd.notes)


def test_decode_worker_publishes_no_kv_events(ctx: LocalContext) -> None:
    args = _args(translate_container("decode", c.DECODE, ctx).argv)
    assert "--zmq-kv-events-ports" not in args and "--no-enable-prefix-caching" not in args
    with_config = {**c.DECODE, "args": [*c.DECODE["args"], "--kv-events-config", c.KV_EVENTS]}
    cmd = translate_container("decode", with_config, ctx)
    assert "--zmq-kv-events-ports" not in cmd.argv
    assert any("a mock decode worker publishes none" in n for n in cmd.notes)


def test_kv_events_ports_for_data_parallel_ranks(ctx: LocalContext) -> None:
    container = {**c.PREFILL, "args": [*c.PREFILL["args"], "--data-parallel-size", "3"]}
    args = _args(translate_container("prefill", container, ctx).argv)
    base = int(args[args.index("--zmq-kv-events-ports") + 1])
    assert {base, base + 1, base + 2} <= ctx.ports.allocated


def test_bad_kv_events_config_is_an_error(ctx: LocalContext) -> None:
    for value in ("not json", "[1]", '{"enable_kv_cache_events":true,"endpoint":"ipc://x"}'):
        args = [*c.PREFILL["args"][:-2], "--kv-events-config", value]
        container = {**c.PREFILL, "args": args}
        with pytest.raises(ValueError, match="--kv-events-config"):
            translate_container("prefill", container, ctx)


def test_two_workers_get_distinct_ports(ctx: LocalContext) -> None:
    decode = translate_container("decode", c.DECODE, ctx)
    prefill = translate_container("prefill", c.PREFILL, ctx)
    assert decode.env["DYN_SYSTEM_PORT"] != prefill.env["DYN_SYSTEM_PORT"]


def test_frontend_port_and_host(ctx: LocalContext) -> None:
    cmd = translate_container("frontend", c.FRONTEND, ctx)
    http = cmd.named_ports["http"]
    args = cmd.argv[3:]
    assert args[args.index("--http-port") + 1] == str(http)
    assert args[args.index("--http-host") + 1] == "127.0.0.1"
    assert args[args.index("--router-mode") + 1] == "kv"
    assert args[args.index("--migration-limit") + 1] == "3"
    assert cmd.env["DYN_HTTP_PORT"] == str(http)
    # R6: the readiness probe asks the model's own endpoint; the name keeps its slash.
    assert cmd.readiness_url == f"http://127.0.0.1:{http}/v1/models/some/model/ready"
    assert cmd.startup_url == cmd.liveness_url == f"http://127.0.0.1:{http}/live"


def test_probe_kinds(ctx: LocalContext) -> None:
    tcp = {**c.DECODE, "readinessProbe": {"tcpSocket": {"port": 9090}}}
    cmd = translate_container("decode", tcp, ctx)
    assert cmd.readiness_url == f"tcp://127.0.0.1:{cmd.ports[9090]}"
    for probe, match in (({"exec": {"command": ["true"]}}, "only httpGet and tcpSocket"),
                         ({"grpc": {"port": 9090}}, "only httpGet and tcpSocket"),
                         ({"httpGet": {"path": "/", "port": 9090, "scheme": "HTTPS"}}, "HTTPS"),
                         ({"httpGet": {"path": "/", "port": "nope"}}, "no container port"),
                         ({"httpGet": {"path": "/", "port": 1234}}, "not a declared")):
        with pytest.raises(ValueError, match=match):
            translate_container("decode", {**c.DECODE, "livenessProbe": probe}, ctx)


def test_frontend_default_port_made_explicit(ctx: LocalContext) -> None:
    container = {**c.FRONTEND, "args": ["--router-mode", "kv"], "env": c.DEPENDENCY_ENV}
    cmd = translate_container("frontend", container, ctx)
    assert cmd.argv[cmd.argv.index("--http-port") + 1] == str(cmd.ports[8000])


def test_fqdn_service_names_are_substituted(ctx: LocalContext) -> None:
    fqdn = f"http://{c.ETCD_SERVICE}.e2e.svc.cluster.local:2379"
    env = [e for e in c.DECODE["env"] if e["name"] != "ETCD_ENDPOINTS"]
    env.append({"name": "ETCD_ENDPOINTS", "value": fqdn})
    cmd = translate_container("decode", {**c.DECODE, "env": env}, ctx)
    assert cmd.env["ETCD_ENDPOINTS"] == "http://127.0.0.1:21001"


def test_unrewritten_port_is_an_error(ctx: LocalContext) -> None:
    ports = [*c.DECODE["ports"], {"name": "nixl", "containerPort": 5600}]
    with pytest.raises(ValueError, match=r"\[5600\]"):
        translate_container("decode", {**c.DECODE, "ports": ports}, ctx)


def test_etcd_urls_and_pod_name(ctx: LocalContext) -> None:
    cmd = translate_container("etcd", c.ETCD, ctx, pod_name="rel-etcd-0")
    args = dict(zip(cmd.argv[1::2], cmd.argv[2::2], strict=False))
    client, peer = cmd.ports[2379], cmd.ports[2380]
    assert args["--name"] == "rel-etcd-0"
    assert args["--listen-client-urls"] == f"http://127.0.0.1:{client}"
    assert args["--advertise-client-urls"] == f"http://127.0.0.1:{client}"
    assert args["--initial-cluster"] == f"rel-etcd-0=http://127.0.0.1:{peer}"
    assert args["--data-dir"].startswith(str(ctx.workdir))
    assert cmd.readiness_url == f"http://127.0.0.1:{client}/health"


def test_nats_flags_and_config(ctx: LocalContext) -> None:
    cmd = translate_container("nats", c.NATS, ctx, nats_config_text=c.NATS_CONFIG)
    conf = ctx.workdir / "nats.conf"
    assert cmd.argv[:3] == ["nats-server", "--config", str(conf)]
    assert "/etc/nats-config/nats.conf" not in cmd.argv
    assert cmd.argv[cmd.argv.index("-a") + 1] == "127.0.0.1"
    assert cmd.argv[cmd.argv.index("-p") + 1] == str(cmd.ports[4222])
    assert "-sd" not in cmd.argv  # the config has store_dir: rewritten in the file instead
    assert f'store_dir: "{ctx.workdir / "nats-data"}"' in conf.read_text()
    assert cmd.env["SERVER_NAME"] == "nats"


def test_localize_nats_config_forms(tmp_path: Path) -> None:
    text, found = localize_nats_config('jetstream {\n  "store_dir": "/data",\n}\n', tmp_path)
    assert found and f'"store_dir": "{tmp_path}",' in text
    assert localize_nats_config("port: 4222\n", tmp_path) == ("port: 4222\n", False)


def test_kubelet_variable_expansion(ctx: LocalContext) -> None:
    container = {
        "command": ["etcd"],
        "args": ["--name=$(POD_NAME)", "--x=$$(POD_NAME)", "--y=$(UNKNOWN)"],
        "env": [{"name": "POD_NAME", "value": "p0"}],
    }
    cmd = translate_container("etcd", container, ctx)
    assert cmd.argv[1:] == ["--name", "p0", "--x", "$(POD_NAME)", "--y", "$(UNKNOWN)"]


# --------------------------------------------------------------------------- groups (L1, W7)


def _leader(lws: dict[str, Any] | None = None) -> c.Container:
    return c.group_containers(lws or c.group())[0]


def test_a_groups_leader_becomes_one_mock_worker(ctx: LocalContext) -> None:
    """W7: the rank flags go; the engine's role, model and KV events stay; the master port is
    declared but stays unbound (no R2 error, no rewrite)."""
    cmd = translate_container("prefill-0", _leader(), ctx, group=GroupPod(2),
                              pod_name="rel-prefill-0")
    args = _args(cmd.argv)
    assert cmd.argv[:3] == ["/venv/bin/python", "-m", "dynamo.mocker"]
    for flag in RANK_FLAGS:
        assert flag not in args
    assert args[args.index("--disaggregation-mode") + 1] == "prefill"
    assert args[args.index("--model-name") + 1] == c.SERVED_MODEL_NAME
    assert "--zmq-kv-events-ports" in args  # W5 as for any prefill worker
    assert "--num-workers" not in args  # a group is one registered worker
    [note] = [n for n in cmd.notes if n.startswith("W7 ")]
    assert note == (
        "W7 dropped --distributed-executor-backend mp --nnodes 2 --master-addr 127.0.0.1 "
        "--master-port 29500 --node-rank 0: the group (2 pods) runs as its leader, one mock "
        "worker; port 29500 stays unbound (no torch rendezvous)")
    assert cmd.ports.keys() == {9090, 29500}
    assert cmd.readiness_url == f"http://127.0.0.1:{cmd.named_ports['system']}/health"


def test_the_controllers_variables_come_first(ctx: LocalContext) -> None:
    """L1: as LeaderWorkerSet puts them: first in the env (a later value may refer to them), in
    place of the template's own variables of those names."""
    leader = _leader(c.group(size=3))
    leader["env"] = [{"name": "LWS_WORKER_INDEX", "value": "7"},
                     {"name": "GROUP", "value": "$(LWS_GROUP_SIZE) at $(LWS_LEADER_ADDRESS)"},
                     *leader["env"]]
    cmd = translate_container("prefill-0", leader, ctx, group=GroupPod(3), pod_name="p-0")
    assert (cmd.env["LWS_LEADER_ADDRESS"], cmd.env["LWS_GROUP_SIZE"],
            cmd.env["LWS_WORKER_INDEX"]) == ("127.0.0.1", "3", "0")
    assert cmd.env["GROUP"] == "3 at 127.0.0.1"
    assert list(with_group_env(leader, GroupPod(3))["env"])[:3] == [
        {"name": "LWS_LEADER_ADDRESS", "value": "127.0.0.1"},
        {"name": "LWS_GROUP_SIZE", "value": "3"},
        {"name": "LWS_WORKER_INDEX", "value": "0"}]
    assert sum(e["name"] == "LWS_WORKER_INDEX" for e in with_group_env(
        leader, GroupPod(3))["env"]) == 1


def _with_args(container: c.Container, args: list[str]) -> c.Container:
    return {**container, "args": args}


def _rank_free(container: c.Container) -> list[str]:
    """The container's args without vLLM's multi-node flags (each but --headless with a value)."""
    out, args = [], iter(container["args"])
    for token in args:
        if token in RANK_FLAGS:
            if token != "--headless":
                next(args)
        else:
            out.append(token)
    return out


@pytest.mark.parametrize(("which", "group", "edit", "match"), [
    ("follower", GroupPod(2, 1), None, r"a headless rank \(--headless\) of a multi-node engine "
     "runs no Dynamo runtime"),
    ("follower", GroupPod(2, 1), "no-headless", "rank 1 of a multi-node engine"),
    ("leader", GroupPod(3), None, "--nnodes 2, but its LeaderWorkerSet's groups have 3 pods"),
    ("leader", None, None, "--nnodes 2 outside a LeaderWorkerSet group"),
    ("follower", None, "nnodes-1", r"--node-rank \$\(LWS_WORKER_INDEX\): not a number"),
    ("leader", GroupPod(2), "no-multinode", "--nnodes 1, but its LeaderWorkerSet's groups have 2"),
], ids=["headless-follower", "follower-without-headless", "nnodes-not-the-group-size",
        "leader-outside-a-group", "rank-unexpanded",
        "group-without-multinode-flags"])
def test_what_w7_refuses(ctx: LocalContext, which: str, group: GroupPod | None,
                         edit: str | None, match: str) -> None:
    leader, follower = c.group_containers(c.group())
    container = leader if which == "leader" else follower
    if edit == "no-headless":
        container = _with_args(container, [a for a in container["args"] if a != "--headless"])
    elif edit == "nnodes-1":
        args = list(container["args"])
        args[args.index("--nnodes") + 1] = "1"
        container = _with_args(container, args)
    elif edit == "no-multinode":
        container = _with_args(container, _rank_free(container))
    with pytest.raises(CannotRunLocally, match=match):
        translate_container("w", container, ctx, group=group)


def test_a_single_node_rank_outside_a_group_is_just_an_engine(ctx: LocalContext) -> None:
    args = list(_leader()["args"])
    args[args.index("--nnodes") + 1] = "1"
    cmd = translate_container("w", _with_args(_leader(), args), ctx)
    assert not set(RANK_FLAGS) & set(cmd.argv)


@pytest.mark.skipif(
    not HAVE_DYNAMO, reason="Dynamo venv missing: scripts/install-dynamo-runtime.sh"
)
@pytest.mark.parametrize("container", [c.DECODE, c.PREFILL, c.worker("agg")],
                         ids=["decode", "prefill", "agg"])
def test_mocker_accepts_translated_arguments(ctx: LocalContext, container: c.Container) -> None:
    """The mocker's own argument parser (and its validation) accepts every kept flag, and reads
    the KV-event settings as W5/W6 mean them."""
    write_tiny_model(ctx.model_dir)
    cmd = translate_container("w", container, ctx)
    code = (
        "import sys; sys.argv = ['mocker', *sys.argv[1:]]\n"
        "from dynamo.mocker.args import parse_args\n"
        "a = parse_args(); print(a.model_path, a.model_name, a.is_prefill_worker,"
        " a.zmq_kv_events_ports_list, a.enable_prefix_caching, a.event_plane)"
    )
    out = subprocess.run(
        [str(dynamo_python()), "-c", code, *cmd.argv[3:]],
        check=False, capture_output=True, text=True, timeout=60, env=cmd.env,
        cwd=ctx.workdir,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    prefill = "prefill" in container["args"]
    kv_port = _args(cmd.argv)[_args(cmd.argv).index("--zmq-kv-events-ports") + 1] \
        if container is not c.DECODE else None
    assert out.stdout.split(maxsplit=3)[:3] == [str(ctx.model_dir), c.SERVED_MODEL_NAME,
                                                 str(prefill)]
    assert out.stdout.split(maxsplit=3)[3].strip() == (
        f"[{kv_port}] True zmq" if kv_port else "[] True zmq")


@pytest.mark.skipif(
    not HAVE_DYNAMO, reason="Dynamo venv missing: scripts/install-dynamo-runtime.sh"
)
def test_mocker_accepts_a_groups_leader(ctx: LocalContext) -> None:
    """The mocker's own parser takes W7's leader command line as one worker (``--num-workers``
    stays 1: a group registers once)."""
    write_tiny_model(ctx.model_dir)
    cmd = translate_container("prefill-0", _leader(c.group(size=4)), ctx, group=GroupPod(4))
    code = ("import sys; sys.argv = ['mocker', *sys.argv[1:]]\n"
            "from dynamo.mocker.args import parse_args\n"
            "a = parse_args(); print(a.num_workers, a.is_prefill_worker, a.model_name)")
    out = subprocess.run([str(dynamo_python()), "-c", code, *cmd.argv[3:]], check=False,
                         capture_output=True, text=True, timeout=60, env=cmd.env,
                         cwd=ctx.workdir)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["1", "True", c.SERVED_MODEL_NAME]


# --------------------------------------------------------------------------- follower checks


def _edit(change: Callable[[c.Container, c.Container, dict[str, Any]], None]) -> list[str]:
    lws = c.group()
    leader, follower = c.group_containers(lws)
    change(leader, follower, lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"])
    return check_followers(lws)


def _replace(args: list[str], flag: str, value: str) -> None:
    args[args.index(flag) + 1] = value


def test_followers_that_fit_their_leader_pass() -> None:
    assert check_followers(c.group()) == []
    assert check_followers(c.group(size=4, replicas=3)) == []
    # A group of one pod has no followers to check.
    lws = c.group()
    lws["spec"]["leaderWorkerTemplate"]["size"] = 1
    assert check_followers(lws) == []


def _wait_port(port: str) -> Callable[[c.Container, c.Container, dict[str, Any]], None]:
    def change(leader: c.Container, follower: c.Container, spec: dict[str, Any]) -> None:
        spec["initContainers"][0]["command"][-1] = port
    return change


FOLLOWER_MISMATCHES: list[tuple[str, Callable[[c.Container, c.Container, dict[str, Any]], None],
                                str]] = [
    ("image", lambda _, f, __: f.update(image="nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.5.0"),
     "image 'nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.5.0', the leader's "
     "'nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.6.1'"),
    ("command", lambda _, f, __: f.update(command=["python3", "-m", "dynamo.sglang"]),
     "command ['python3', '-m', 'dynamo.sglang'], the leader's"),
    ("model", lambda _, f, __: _replace(f["args"], "--model", "/data/other"),
     "engine flags differ from the leader's: --model /data/other (the leader's "
     "/data/some/model)"),
    ("parallelism", lambda _, f, __: f["args"].extend(["--pipeline-parallel-size", "2"]),
     "--pipeline-parallel-size 2 (the leader's absent)"),
    ("master-addr", lambda _, f, __: _replace(f["args"], "--master-addr", "localhost"),
     "--master-addr localhost (the leader's $(LWS_LEADER_ADDRESS))"),
    ("not-headless", lambda _, f, __: f["args"].remove("--headless"),
     "no --headless: the follower would start a Dynamo runtime"),
    ("rank-zero", lambda _, f, __: _replace(f["args"], "--node-rank", "0"),
     "--node-rank 0 gives follower 1 of 2 the rank 0"),
    ("wait-port", _wait_port("29501"),
     "wait-for-leader waits for the leader's port 29501, but the leader's --master-port is "
     "29500"),
    ("master-port", lambda lead, f, __: [_replace(a, "--master-port", "29600")
                                         for a in (lead["args"], f["args"])],
     "wait-for-leader waits for the leader's port 29500, but the leader's --master-port is "
     "29600"),
    ("no-wait", lambda _, __, spec: spec.pop("initContainers"),
     "no wait-for-leader init container"),
    ("liveness-port", lambda _, f, __: f["livenessProbe"]["exec"]["command"].__setitem__(
        -1, "9091"),
     "the liveness probe asks the leader's port 9091, but the leader's system port "
     "(DYN_SYSTEM_PORT) is 9090"),
    ("liveness-on-itself", lambda _, f, __: f.update(
        livenessProbe={"tcpSocket": {"port": 9090}}),
     "the liveness probe does not ask the leader"),
    ("no-liveness", lambda _, f, __: f.pop("livenessProbe"),
     "no liveness probe, though the leader has one"),
]


@pytest.mark.parametrize(("change", "message"), [(m[1], m[2]) for m in FOLLOWER_MISMATCHES],
                         ids=[m[0] for m in FOLLOWER_MISMATCHES])
def test_a_follower_that_does_not_fit_its_leader(
        change: Callable[[c.Container, c.Container, dict[str, Any]], None],
        message: str) -> None:
    """Each check finds its own mismatch, and only that one."""
    [problem] = _edit(change)
    assert message in problem


def test_a_rank_variable_each_follower_expands_to_its_own() -> None:
    """A literal rank fits a group of two; with more followers they would share it."""
    lws = c.group(size=2)
    _replace(c.group_containers(lws)[1]["args"], "--node-rank", "1")
    assert check_followers(lws) == []
    lws = c.group(size=3)
    _replace(c.group_containers(lws)[1]["args"], "--node-rank", "1")
    [problem] = check_followers(lws)
    assert problem.startswith("--node-rank 1 gives follower 2 of 3 the rank 1")


def test_probes_off_for_the_whole_group_are_consistent() -> None:
    def change(leader: c.Container, follower: c.Container, _: dict[str, Any]) -> None:
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            leader.pop(probe)
        follower.pop("livenessProbe")
    assert _edit(change) == []


def test_the_report_line_for_a_pool_of_groups() -> None:
    assert groups.describe(c.group(replicas=3), "prefill", ["prefill-0", "prefill-1"]) == (
        "prefill: LeaderWorkerSet rel-prefill, 2 of 3 groups of 2 pods run as their leader "
        "(prefill-0, prefill-1); 1 follower per group checked against the leader and not "
        "started: a headless vLLM rank runs no Dynamo runtime, and the mock engine has no "
        "multi-node mode")
    assert "3 followers per group" in groups.describe(c.group(size=4), "decode", ["decode-0"])


# --------------------------------------------------------------------------- tokenizer


def test_tiny_model_files(tmp_path: Path) -> None:
    folder = write_tiny_model(tmp_path / "m")
    tok = json.loads((folder / "tokenizer.json").read_text())
    assert len(tok["model"]["vocab"]) >= 2048
    assert tok["model"]["vocab"]["w1999"] == 1999
    config = json.loads((folder / "tokenizer_config.json").read_text())
    assert "messages" in config["chat_template"]
    model = json.loads((folder / "config.json").read_text())
    assert model["model_type"] == "llama" and model["vocab_size"] == len(tok["model"]["vocab"])
    with pytest.raises(ValueError):
        write_tiny_model(tmp_path / "small", vocab_size=100)


@pytest.mark.skipif(
    not HAVE_DYNAMO, reason="Dynamo venv missing: scripts/install-dynamo-runtime.sh"
)
def test_tiny_tokenizer_loads_with_tokenizers(tmp_path: Path) -> None:
    folder = write_tiny_model(tmp_path / "m")
    code = (
        "import sys; from tokenizers import Tokenizer\n"
        "t = Tokenizer.from_file(sys.argv[1])\n"
        "print(t.get_vocab_size(), t.encode('<s> user w42 </s>').ids, t.decode([1000, 1999]))"
    )
    out = subprocess.run(
        [str(dynamo_python()), "-c", code, str(folder / "tokenizer.json")],
        check=False, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "4096 [1, 0, 42, 2] w1000 w1999"


# --------------------------------------------------------------------------- client


def test_sse_parsing() -> None:
    raw = b'data: {"a": 1}\n\n: keep-alive\n\nevent: error\ndata: bad\n\ndata: [DONE]\n\n'
    events = list(iter_sse(iter(raw.splitlines(keepends=True))))
    assert events == [("message", '{"a": 1}'), ("error", "bad"), ("message", "[DONE]")]


def test_worker_ids_shape() -> None:
    body = {
        "nvext": {
            "worker_id": {
                "prefill_worker_id": 1,
                "prefill_dp_rank": 0,
                "decode_worker_id": 2,
                "decode_dp_rank": 0,
            }
        }
    }
    assert WorkerIds.from_body(body) == WorkerIds(1, 2, 0, 0)
    assert WorkerIds.from_body({}) is None


# --------------------------------------------------------------------------- processes


def test_decode_proc_addresses() -> None:
    assert _decode_address("0100007F:1F40") == ("127.0.0.1", 8000)
    assert _decode_address("00000000:0050") == ("0.0.0.0", 80)
    assert _decode_address("00000000000000000000000001000000:0050") == ("::1", 80)


def test_port_allocator_is_distinct_and_bounded() -> None:
    ports = PortAllocator()
    given = {ports.allocate() for _ in range(20)}
    assert len(given) == 20 and all(20000 <= p <= 32767 for p in given)


def test_process_group_readiness_listeners_and_stop(tmp_path: Path) -> None:
    port = PortAllocator().allocate()
    server = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    with ProcessGroup(tmp_path, stop_timeout=5) as group:
        group.start("web", server)
        group.wait_http(f"http://127.0.0.1:{port}/", timeout=30, process="web")
        listeners = listening_sockets(group.pids)
        assert [(item.address, item.port) for item in listeners] == [("127.0.0.1", port)]
        assert non_loopback_listeners(group.pids) == []
        codes = group.stop()
    assert codes["web"] is not None
    assert ports_listening({port}) == set()
    assert (tmp_path / "web.log").read_text().startswith("$ ")


def test_wait_http_fails_fast_when_process_exits(tmp_path: Path) -> None:
    with ProcessGroup(tmp_path) as group:
        group.start("dies", [sys.executable, "-c", "print('bye'); raise SystemExit(3)"])
        with pytest.raises(ProcessError, match="exited with 3"):
            group.wait_http("http://127.0.0.1:1/", timeout=30, process="dies")


def test_wait_http_times_out(tmp_path: Path) -> None:
    with ProcessGroup(tmp_path) as group:
        group.start("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
        port = PortAllocator().allocate()
        with pytest.raises(ProcessError, match="not ready after"):
            group.wait_http(f"http://127.0.0.1:{port}/", timeout=0.5, process="sleeper")
        assert group.stop()["sleeper"] is not None


def test_port_allocator_consecutive() -> None:
    ports = PortAllocator(seed=1)
    base = ports.allocate_consecutive(4)
    assert set(range(base, base + 4)) <= ports.allocated and base + 3 <= 32767
    assert ports.allocate() not in range(base, base + 4)


# --------------------------------------------------------------------------- network namespace

NETNS = netns.probe()
needs_netns = pytest.mark.skipif(not NETNS.private, reason=f"no network namespace: {NETNS.how}")


@needs_netns
def test_private_network_holds_only_loopback_and_is_left_again() -> None:
    import socket

    outer = netns.namespace_id()
    with netns.private_network() as isolation:
        assert isolation.private and isolation.outer_namespace == outer
        assert netns.namespace_id() != outer
        assert netns.interfaces() == ["lo"]
        with socket.socket() as server:  # what the zmq event plane does
            server.bind(("0.0.0.0", 0))
            server.listen()
            port = server.getsockname()[1]
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            assert ports_listening({port}) == {port}
            # Not in the namespace the test came from (its parent, pytest's, lives there).
            outside = {p for _, p in _outer_listeners(isolation.outer_namespace).values()}
            assert port not in outside
        # A child process started here lives in the namespace too.
        child = subprocess.run([sys.executable, "-c", "import os; print(os.stat("
                                "'/proc/self/ns/net').st_ino)"], capture_output=True, text=True,
                               check=True, timeout=30)
        assert int(child.stdout) == netns.namespace_id()
    assert netns.namespace_id() == outer


def _outer_listeners(outer: int) -> dict[int, tuple[str, int]]:
    from constructs_lib.tools.run_local.processes import _listening_inodes

    assert netns.namespace_id(os.getppid()) == outer  # pytest's parent stayed outside
    return _listening_inodes(str(os.getppid()))


def test_private_network_falls_back_when_not_permitted(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(flags: int) -> None:
        raise OSError(errno.EPERM, "unshare: Operation not permitted")

    monkeypatch.setattr(netns, "_unshare", refuse)
    outer = netns.namespace_id()
    with netns.private_network(allow_user_namespace=True) as isolation:
        assert not isolation.private
        assert "Operation not permitted" in isolation.how
        assert netns.namespace_id() == outer


USER_NAMESPACE_CHECK = """
import socket, sys, types
netns = types.ModuleType("netns"); sys.modules["netns"] = netns
exec(compile(sys.stdin.read(), "netns.py", "exec"), netns.__dict__)
assert not netns.probe().private, "expected no CAP_SYS_ADMIN"
with netns.private_network(allow_user_namespace=True) as isolation:
    assert isolation.private, isolation
    assert netns.interfaces() == ["lo"]
    server = socket.socket(); server.bind(("0.0.0.0", 0)); server.listen()
    socket.create_connection(("127.0.0.1", server.getsockname()[1]), timeout=5).close()
print("ok", isolation.how)
"""


@pytest.mark.skipif(os.getuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root (to drop to nobody) and setpriv")
def test_private_network_without_root_through_a_user_namespace() -> None:
    """What run-local does for a user without CAP_SYS_ADMIN (``unshare -rn`` without the root
    mapping), run as nobody with the system python (netns.py needs nothing else)."""
    python = shutil.which("python3", path="/usr/bin:/bin")
    if python is None:
        pytest.skip("no system python3")
    out = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", python, "-c",
         USER_NAMESPACE_CHECK],
        input=Path(netns.__file__).read_text(), capture_output=True, text=True, timeout=60,
        cwd="/", check=False,
    )
    if "user namespace" not in out.stdout and "CLONE_NEWUSER" in out.stderr:
        pytest.skip(f"unprivileged user namespaces are off here: {out.stderr[-300:]}")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("ok unshare(CLONE_NEWUSER|CLONE_NEWNET)")


@needs_netns
def test_beyond_loopback_reports_what_could_be_reached(tmp_path: Path) -> None:
    """LocalStack.beyond_loopback: in the host's network a listener on 0.0.0.0 is a problem;
    in the private namespace it is not, but a second interface is. All of it inside a
    namespace this test makes, so that nothing ever listens on the machine's interfaces."""
    from constructs_lib.tools.run_local import LocalStack

    def serve(stack: LocalStack) -> int:
        port = stack.ctx.ports.allocate()
        stack.group.start("web", [sys.executable, "-m", "http.server", str(port),
                                  "--bind", "0.0.0.0"])
        stack.group.wait_http(f"http://127.0.0.1:{port}/", timeout=30, process="web")
        return port

    with netns.private_network():
        with LocalStack(tmp_path / "host", python=sys.executable, model_dir=tmp_path,
                        network="host") as stack:
            assert not stack.isolation.private and stack.fallback_message()
            port = serve(stack)
            problems = stack.beyond_loopback()
            assert len(problems) == 1 and f"on 0.0.0.0:{port}" in problems[0], problems
        with LocalStack(tmp_path / "private", python=sys.executable, model_dir=tmp_path) as stack:
            assert stack.isolation.private and stack.fallback_message() is None
            serve(stack)
            assert stack.beyond_loopback() == []
            added = subprocess.run(["ip", "link", "add", "rl0", "type", "veth", "peer", "name",
                                    "rl1"], capture_output=True, check=False, timeout=30)
            if added.returncode != 0:
                pytest.skip(f"cannot add a veth pair: {added.stderr[-200:]!r}")
            (problem,) = stack.beyond_loopback()
            assert problem.startswith("web's network namespace has interfaces ['lo', 'rl")


def _scaled_pool(autoscaler: dict[str, Any] | None, replicas: int | None = None) -> int:
    from constructs_lib.tools.run_local.synthesized import worker_pools

    spec: dict[str, Any] = {"template": {"spec": {"containers": [{"name": "worker"}]}}}
    if replicas is not None:
        spec["replicas"] = replicas
    deployment = {"kind": "Deployment", "spec": spec, "metadata": {
        "name": "r1-dynamo-prefill", "labels": {"app.kubernetes.io/dynamo-component": "prefill"}}}
    return worker_pools([deployment, *([autoscaler] if autoscaler else [])])["prefill"].replicas


def test_an_autoscaled_pool_runs_its_autoscalers_minimum() -> None:
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "r1-dynamo-prefill"}
    keda = {"kind": "ScaledObject", "spec": {"scaleTargetRef": target, "minReplicaCount": 4}}
    hpa = {"kind": "HorizontalPodAutoscaler", "spec": {"scaleTargetRef": target,
                                                       "minReplicas": 2}}
    other = {"kind": "ScaledObject", "spec": {"scaleTargetRef": {**target, "name": "other"},
                                              "minReplicaCount": 4}}
    assert _scaled_pool(keda) == 4
    assert _scaled_pool(hpa) == 2
    assert _scaled_pool(other) == 1  # the API's default when the manifest leaves it out
    assert _scaled_pool(None) == 1
    assert _scaled_pool(keda, replicas=3) == 3
