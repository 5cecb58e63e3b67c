"""etcd and NATS run from the synthesized manifests, with the real server binaries.

The containers' commands, arguments and configuration files are taken exactly as synthesized;
only what a pod has and this machine has not is changed: `$(POD_NAME)` is expanded as the
kubelet expands it, ports and pod DNS names become free ports on 127.0.0.1, and volume mount
paths become temporary folders. Debian's etcd (3.4) and nats-server (2.9) stand in for the
images' (CI installs them with `scripts/setup.sh --with-test-services`).
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from constructs_lib.model import Environment
from constructs_lib.model.base import quantity_value
from tests.conftest import ENVIRONMENTS, SHIPPED, Synthesized, synth_environment
from tests.support.servers import (
    Server,
    answers,
    container_env,
    expand_dependent_vars,
    find_binary,
    free_port,
    http_json,
    wait_until,
)

ETCD = find_binary("etcd")
NATS = find_binary("nats-server")
needs_etcd = pytest.mark.skipif(ETCD is None, reason="etcd is not installed (Debian etcd-server; "
                                "`scripts/setup.sh --with-test-services` installs it)")
needs_nats = pytest.mark.skipif(NATS is None, reason="nats-server is not installed (Debian "
                                "nats-server; `scripts/setup.sh --with-test-services` installs it)")
STARTUP_TIMEOUT = 30


def _statefulset(result: Synthesized, suffix: str) -> dict[str, Any]:
    [found] = [d for d in result.all("StatefulSet") if d["metadata"]["name"].endswith(suffix)]
    return found


def _mount_path(container: dict[str, Any], volume: str) -> str:
    return next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == volume)


def _container_port(container: dict[str, Any], name_or_number: str | int) -> int:
    if isinstance(name_or_number, int):
        return name_or_number
    return next(p["containerPort"] for p in container["ports"] if p["name"] == name_or_number)


# --- etcd -----------------------------------------------------------------------------------

class EtcdCluster:
    """Every member of an etcd StatefulSet as a local process."""

    def __init__(self, statefulset: dict[str, Any], folder: Path) -> None:
        self.name = statefulset["metadata"]["name"]
        spec = statefulset["spec"]
        self.container = spec["template"]["spec"]["containers"][0]
        self.members = spec["replicas"]
        self.client_port = _container_port(self.container, "client")
        self.peer_port = _container_port(self.container, "peer")
        self.local = [{self.client_port: free_port(), self.peer_port: free_port()}
                      for _ in range(self.members)]
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.servers: list[Server] = []

    def argv(self, member: int) -> tuple[list[str], dict[str, str]]:
        pod = f"{self.name}-{member}"
        env = container_env(self.container, pod)
        words = [expand_dependent_vars(w, env)
                 for w in self.container["command"] + self.container.get("args", [])]
        data_mount = _mount_path(self.container, "data")
        argv = [ETCD or "etcd"]
        for word in words[1:]:
            flag, _, value = word.partition("=")
            if flag == "--data-dir":
                assert value.startswith(data_mount), value
                value = str(self.folder / pod) + value[len(data_mount):]
            elif "://" in value:
                value = ",".join(self._local_url(member, url) for url in value.split(","))
            argv.append(f"{flag}={value}" if value else flag)
        return argv, env

    def _local_url(self, member: int, item: str) -> str:
        """`[name=]http://host:port` with the host a pod, the Service or any address."""
        prefix, _, url = item.rpartition("=") if "=http" in item else ("", "", item)
        match = re.fullmatch(r"http://([^:/]+):(\d+)", url)
        assert match, f"unexpected etcd URL {url!r}"
        host, port = match.group(1), int(match.group(2))
        owner = member
        pod = re.match(rf"{re.escape(self.name)}-(\d+)\.", host)
        if pod:
            owner = int(pod.group(1))
        else:
            # 0.0.0.0 (listen on every address) or the client Service, which reaches a member.
            assert host == "0.0.0.0" or host.startswith(f"{self.name}."), host
        local = f"http://127.0.0.1:{self.local[owner][port]}"
        return f"{prefix}={local}" if prefix else local

    def url(self, member: int, path: str) -> str:
        return f"http://127.0.0.1:{self.local[member][self.client_port]}{path}"

    def start(self) -> None:
        for member in range(self.members):
            argv, env = self.argv(member)
            self.servers.append(Server(argv, env, self.folder / f"member-{member}.log"))
        for member in range(self.members):
            wait_until(lambda m=member: _etcd_healthy(self.url(m, "/health")), STARTUP_TIMEOUT,
                       f"etcd member {member} healthy", self.servers)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def _etcd_healthy(url: str) -> bool:
    try:
        return http_json(url, timeout=1).get("health") == "true"
    except (OSError, ValueError):
        return False


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# The shipped environments differ in names and in sizes that do not reach the processes; these
# cover every distinct command line and configuration file
# (test_every_shipped_configuration_is_run).
ETCD_RUNS = ["single-node"]
NATS_RUNS = ["single-node", "multi-node", "dev"]


def _process_config(result: Synthesized, suffix: str) -> Any:
    """What reaches the process, with the release's name and namespace taken out."""
    container = _statefulset(result, suffix)["spec"]["template"]["spec"]["containers"][0]
    files = [c["data"] for c in result.all("ConfigMap") if c["metadata"]["name"].endswith(
        f"{suffix}-config")]
    text = json.dumps([container["command"], container.get("args"), container.get("env"), files])
    environment = result.environment
    return text.replace(f".{environment.namespace}.svc", ".NAMESPACE.svc").replace(
        environment.release, "RELEASE")


@pytest.mark.parametrize("suffix, runs", [("-etcd", ETCD_RUNS), ("-nats", NATS_RUNS)])
def test_every_shipped_configuration_is_run(suffix: str, runs: list[str],
                                            synthesized: dict[str, Synthesized]) -> None:
    run = [_process_config(synthesized[name], suffix) for name in runs]
    for name in SHIPPED:
        assert _process_config(synthesized[name], suffix) in run, (
            f"{name}'s {suffix[1:]} differs from those run here: add it to the runs")


@pytest.fixture(params=ETCD_RUNS)
def shipped_etcd(request: pytest.FixtureRequest, synthesized: dict[str, Synthesized],
                 tmp_path: Path) -> Iterator[EtcdCluster]:
    cluster = EtcdCluster(_statefulset(synthesized[request.param], "-etcd"), tmp_path)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@needs_etcd
def test_etcd_answers_its_probes_and_stores_keys(shipped_etcd: EtcdCluster) -> None:
    etcd = shipped_etcd
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = etcd.container[kind]["httpGet"]
        member_port = _container_port(etcd.container, probe["port"])
        assert member_port == etcd.client_port
        assert http_json(etcd.url(0, probe["path"]))["health"] == "true"
    http_json(etcd.url(0, "/v3/kv/put"), {"key": _b64("dynamo/probe"), "value": _b64("ready")})
    got = http_json(etcd.url(etcd.members - 1, "/v3/kv/range"), {"key": _b64("dynamo/probe")})
    assert [base64.b64decode(kv["value"]).decode() for kv in got["kvs"]] == ["ready"]


@needs_etcd
def test_a_three_member_etcd_forms_one_cluster(tmp_path: Path) -> None:
    data = yaml.safe_load((ENVIRONMENTS / "single-node.yaml").read_text())
    data["dependencies"]["etcd"]["replicas"] = 3
    result = synth_environment(Environment.model_validate(data), tmp_path / "out")
    cluster = EtcdCluster(_statefulset(result, "-etcd"), tmp_path)
    try:
        cluster.start()
        members = http_json(cluster.url(0, "/v3/cluster/member/list"), {})["members"]
        assert sorted(m["name"] for m in members) == [f"{cluster.name}-{i}" for i in range(3)]
        http_json(cluster.url(0, "/v3/kv/put"), {"key": _b64("k"), "value": _b64("v")})
        for member in range(3):
            # A linearizable read on every member: each one sees the write through the quorum.
            got = http_json(cluster.url(member, "/v3/kv/range"), {"key": _b64("k")})
            assert base64.b64decode(got["kvs"][0]["value"]) == b"v"
    finally:
        cluster.stop()


# --- NATS -----------------------------------------------------------------------------------

class NatsServer:
    """The NATS StatefulSet's first server, from its ConfigMap and container."""

    def __init__(self, result: Synthesized, folder: Path) -> None:
        statefulset = _statefulset(result, "-nats")
        self.name = statefulset["metadata"]["name"]
        self.container = statefulset["spec"]["template"]["spec"]["containers"][0]
        self.config_map = result.find("ConfigMap", f"{self.name}-config")
        self.client_port = _container_port(self.container, "nats")
        self.monitor_port = _container_port(self.container, "monitor")
        self.local = {self.client_port: free_port(), self.monitor_port: free_port()}
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.server: Server | None = None

    def config(self) -> str:
        """nats.conf with every listener on 127.0.0.1 and the store in a temporary folder."""
        lines = []
        for line in self.config_map["data"]["nats.conf"].splitlines():
            key, _, value = line.strip().partition(":")
            if key == "port" and not line.startswith(" "):
                line = f'listen: "127.0.0.1:{self.local[int(value)]}"'
            elif key == "http_port":
                line = f'http: "127.0.0.1:{self.local[int(value)]}"'
            elif key == "store_dir":
                line = f'  store_dir: "{self.folder / "store"}{json.loads(value)}"'
            lines.append(line)
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        config_dir = _mount_path(self.container, "config")
        local_config_dir = self.folder / "config"
        local_config_dir.mkdir()
        (local_config_dir / "nats.conf").write_text(self.config())
        env = container_env(self.container, f"{self.name}-0")
        args = [expand_dependent_vars(a, env) for a in self.container["args"]]
        args = [str(local_config_dir) + a[len(config_dir):] if a.startswith(config_dir) else a
                for a in args]
        assert Path(self.container["command"][0]).name == "nats-server"
        self.server = Server([NATS or "nats-server", *args], env, self.folder / "nats.log")
        wait_until(lambda: answers(self.url("/healthz")), STARTUP_TIMEOUT, "NATS healthy",
                   [self.server])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.local[self.monitor_port]}{path}"

    def stop(self) -> None:
        if self.server:
            self.server.stop()


class RawNatsClient:
    """Just enough of the NATS protocol for JetStream requests: CONNECT, SUB, PUB, MSG."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.reader = self.sock.makefile("rb")
        assert self.reader.readline().startswith(b"INFO ")
        self.sock.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n')
        assert self.reader.readline() == b"PONG\r\n"
        self.inbox = 0

    def request(self, subject: str, payload: bytes) -> dict[str, Any]:
        self.inbox += 1
        inbox = f"_INBOX.test.{self.inbox}"
        self.sock.sendall(f"SUB {inbox} {self.inbox}\r\nPUB {subject} {inbox} {len(payload)}\r\n"
                          .encode() + payload + b"\r\n")
        while True:
            line = self.reader.readline()
            assert line, "NATS closed the connection"
            if line.startswith(b"-ERR"):
                raise AssertionError(line.decode())
            if line.startswith(b"MSG "):
                size = int(line.split()[-1])
                reply = json.loads(self.reader.read(size + 2)[:-2])
                self.sock.sendall(f"UNSUB {self.inbox}\r\n".encode())
                return reply

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


@pytest.fixture(params=NATS_RUNS)
def shipped_nats(request: pytest.FixtureRequest, synthesized: dict[str, Synthesized],
                 tmp_path: Path) -> Iterator[tuple[NatsServer, Environment]]:
    result = synthesized[request.param]
    server = NatsServer(result, tmp_path)
    try:
        server.start()
        yield server, result.environment
    finally:
        server.stop()


@needs_nats
def test_nats_answers_its_probes(shipped_nats: tuple[NatsServer, Environment]) -> None:
    nats, _ = shipped_nats
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = nats.container[kind]["httpGet"]
        assert _container_port(nats.container, probe["port"]) == nats.monitor_port
        assert http_json(nats.url(probe["path"])) == {"status": "ok"}


@needs_nats
def test_jetstream_keeps_messages_within_the_configured_limits(
        shipped_nats: tuple[NatsServer, Environment]) -> None:
    nats, environment = shipped_nats
    jetstream = environment.dependencies.nats.jetstream
    file_limit = int(quantity_value(jetstream.file_store_size))
    config = http_json(nats.url("/jsz"))["config"]
    assert config["max_storage"] == file_limit
    assert config["max_memory"] == int(quantity_value(jetstream.memory_store_size))

    client = RawNatsClient(nats.local[nats.client_port])
    try:
        def create(name: str, storage: str, max_bytes: int) -> dict[str, Any]:
            stream = {"name": name, "subjects": [f"{name}.>"], "storage": storage,
                      "max_bytes": max_bytes}
            return client.request(f"$JS.API.STREAM.CREATE.{name}", json.dumps(stream).encode())

        assert "error" not in create("prefill", "file", 2**20)
        ack = client.request("prefill.request", b'{"request_id":"1"}')
        assert ack == {"stream": "prefill", "seq": 1}
        too_big = create("toobig", "file", file_limit + 2**20)
        assert too_big["error"]["err_code"] == 10047  # insufficient storage resources
        if config["max_memory"] == 0:
            in_memory = create("inmemory", "memory", 2**20)
            assert in_memory["error"]["err_code"] == 10028  # insufficient memory resources
    finally:
        client.close()
    usage = http_json(nats.url("/jsz"))
    assert (usage["streams"], usage["messages"]) == (1, 1)


# --- Dynamo's wait for both ------------------------------------------------------------------

@needs_etcd
@needs_nats
def test_dynamo_waits_until_the_real_servers_answer(synthesized: dict[str, Synthesized],
                                                    tmp_path: Path) -> None:
    result = synthesized["single-node"]
    etcd = EtcdCluster(_statefulset(result, "-etcd"), tmp_path / "etcd")
    nats = NatsServer(result, tmp_path / "nats")
    init = result.find("Deployment")["spec"]["template"]["spec"]["initContainers"][0]
    env = container_env(init, "dynamo-0")
    local = {"ETCD_ENDPOINTS": f"127.0.0.1:{etcd.local[0][etcd.client_port]}",
             "NATS_SERVER": f"nats://127.0.0.1:{nats.local[nats.client_port]}",
             "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    assert env["ETCD_ENDPOINTS"].endswith(f":{etcd.client_port}")
    assert env["NATS_SERVER"].endswith(f":{nats.client_port}")
    argv = [*init["command"][:-1], "0"]  # the last argument is the time budget: check once
    try:
        before = subprocess.run(argv, env={**env, **local}, capture_output=True, text=True,
                                timeout=30)
        assert before.returncode == 1, before
        assert "gave up after 0 s waiting for etcd" in before.stderr
        etcd.start()
        nats.start()
        after = subprocess.run(init["command"], env={**env, **local}, capture_output=True,
                               text=True, timeout=30)
        assert after.returncode == 0, after
        assert "etcd answers at 127.0.0.1" in after.stdout
        assert "NATS answers at 127.0.0.1" in after.stdout
    finally:
        etcd.stop()
        nats.stop()
