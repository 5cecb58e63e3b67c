"""Unit tests of constructs_lib.tools.run_local: translation rules, tiny tokenizer, SSE parsing,
/proc parsing, ports, and the process group (with a loopback http.server)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from constructs_lib.tools.run_local import (
    LocalContext,
    PortAllocator,
    ProcessError,
    ProcessGroup,
    dynamo_python,
    listening_sockets,
    non_loopback_listeners,
    translate_container,
    write_tiny_model,
)
from constructs_lib.tools.run_local.client import WorkerIds, iter_sse
from constructs_lib.tools.run_local.processes import _decode_address, ports_listening
from constructs_lib.tools.run_local.translate import LOOPBACK_ENV, localize_nats_config

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
    assert cmd.env["NATS_SERVER"] == "nats://127.0.0.1:21002"
    assert cmd.env["DYN_NAMESPACE"] == c.DYN_NAMESPACE
    system = cmd.named_ports["system"]
    assert cmd.env["DYN_SYSTEM_PORT"] == str(system) and system <= 32767
    assert cmd.readiness_url == f"http://127.0.0.1:{system}/health"
    assert cmd.liveness_url == f"http://127.0.0.1:{system}/live"
    assert not any("0.0.0.0" in v for v in [*cmd.argv, *cmd.env.values()])


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
    assert cmd.env["DYN_HTTP_PORT"] == str(http)
    assert cmd.readiness_url == f"http://127.0.0.1:{http}/health"


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


def test_zmq_event_plane_flag_rejected(ctx: LocalContext) -> None:
    container = {**c.DECODE, "args": [*c.DECODE["args"], "--event-plane", "zmq"]}
    with pytest.raises(ValueError, match="loopback"):
        translate_container("decode", container, ctx)


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


@pytest.mark.skipif(
    not HAVE_DYNAMO, reason="Dynamo venv missing: scripts/install-dynamo-runtime.sh"
)
@pytest.mark.parametrize("container", [c.DECODE, c.PREFILL], ids=["decode", "prefill"])
def test_mocker_accepts_translated_arguments(ctx: LocalContext, container: c.Container) -> None:
    """The mocker's own argument parser (and its validation) accepts every kept flag."""
    write_tiny_model(ctx.model_dir)
    cmd = translate_container("w", container, ctx)
    code = (
        "import sys; sys.argv = ['mocker', *sys.argv[1:]]\n"
        "from dynamo.mocker.args import parse_args\n"
        "a = parse_args(); print(a.model_path, a.model_name, a.is_prefill_worker)"
    )
    out = subprocess.run(
        [str(dynamo_python()), "-c", code, *cmd.argv[3:]],
        check=False, capture_output=True, text=True, timeout=60, env=cmd.env,
        cwd=ctx.workdir,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    prefill = "prefill" in container["args"]
    assert out.stdout.split() == [str(ctx.model_dir), c.SERVED_MODEL_NAME, str(prefill)]


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
