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
import ssl
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from constructs_lib.model import Environment
from constructs_lib.model.base import quantity_value
from constructs_lib.tools.run_local import dynamo_python
from constructs_lib.tools.run_local.tls import (
    OPENSSL,
    certificate_authority,
    secret_data,
    tls_secret,
)
from tests.conftest import ENVIRONMENTS, SHIPPED, Synthesized, synth_environment
from tests.support.charts import plan_of
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
    """Every member of an etcd StatefulSet as a local process. `volumes` gives the local folder
    of each mounted volume other than the data claim (e.g. a TLS Secret's files)."""

    def __init__(self, statefulset: dict[str, Any], folder: Path,
                 volumes: dict[str, Path] | None = None) -> None:
        self.name = statefulset["metadata"]["name"]
        spec = statefulset["spec"]
        self.container = spec["template"]["spec"]["containers"][0]
        self.members = spec["replicas"]
        self.ports = {p["name"]: p["containerPort"] for p in self.container["ports"]}
        self.client_port = self.ports["client"]
        self.peer_port = self.ports["peer"]
        # The probes say where /health is served: the client port, or with TLS a plain-HTTP one.
        self.health_port = _container_port(self.container,
                                           self.container["readinessProbe"]["httpGet"]["port"])
        self.local = [{port: free_port() for port in self.ports.values()}
                      for _ in range(self.members)]
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.volumes = {_mount_path(self.container, name): local
                        for name, local in (volumes or {}).items()}
        self.servers: list[Server] = []

    @property
    def tls(self) -> bool:
        return any(w.startswith("--listen-client-urls=https://") for w in self.container["command"])

    def argv(self, member: int) -> tuple[list[str], dict[str, str]]:
        pod = f"{self.name}-{member}"
        env = container_env(self.container, pod)
        words = [expand_dependent_vars(w, env)
                 for w in self.container["command"] + self.container.get("args", [])]
        data_mount = _mount_path(self.container, "data")
        argv = [ETCD or "etcd"]
        for word in words[1:]:
            flag, _, value = word.partition("=")
            mounted = [m for m in self.volumes if value.startswith(f"{m}/")]
            if flag == "--data-dir":
                assert value.startswith(data_mount), value
                value = str(self.folder / pod) + value[len(data_mount):]
            elif mounted:
                value = str(self.volumes[mounted[0]]) + value[len(mounted[0]):]
            elif "://" in value:
                value = ",".join(self._local_url(member, url) for url in value.split(","))
            argv.append(f"{flag}={value}" if value else flag)
        return argv, env

    def _local_url(self, member: int, item: str) -> str:
        """`[name=]http(s)://host:port` with the host a pod, the Service or any address."""
        prefix, _, url = item.rpartition("=") if "=http" in item else ("", "", item)
        match = re.fullmatch(r"(https?)://([^:/]+):(\d+)", url)
        assert match, f"unexpected etcd URL {url!r}"
        scheme, host, port = match.group(1), match.group(2), int(match.group(3))
        owner = member
        pod = re.match(rf"{re.escape(self.name)}-(\d+)\.", host)
        if pod:
            owner = int(pod.group(1))
        else:
            # 0.0.0.0 (listen on every address) or the client Service, which reaches a member.
            assert host == "0.0.0.0" or host.startswith(f"{self.name}."), host
        local = f"{scheme}://127.0.0.1:{self.local[owner][port]}"
        return f"{prefix}={local}" if prefix else local

    def url(self, member: int, path: str) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.local[member][self.client_port]}{path}"

    def health_url(self, member: int, path: str = "/health") -> str:
        return f"http://127.0.0.1:{self.local[member][self.health_port]}{path}"

    def start(self) -> None:
        for member in range(self.members):
            argv, env = self.argv(member)
            self.servers.append(Server(argv, env, self.folder / f"member-{member}.log"))
        for member in range(self.members):
            wait_until(lambda m=member: _etcd_healthy(self.health_url(m)), STARTUP_TIMEOUT,
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
NATS_RUNS = ["single-node", "multi-node"]


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
        if not any(s["metadata"]["name"].endswith(suffix)
                   for s in synthesized[name].all("StatefulSet")):
            continue  # Dynamo 1.x on tcp and zmq deploys no NATS
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
        assert http_json(etcd.health_url(0, probe["path"]))["health"] == "true"
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


# --- etcd with mutual TLS --------------------------------------------------------------------

def _dynamo_python() -> Path | None:
    """The Dynamo 1.x venv's interpreter, or None (an error when DYNAMO_E2E_REQUIRED=1)."""
    python = dynamo_python()
    if python.exists():
        return python
    if os.environ.get("DYNAMO_E2E_REQUIRED") == "1":
        raise AssertionError(f"Dynamo venv missing ({python}): run "
                             "scripts/install-dynamo-runtime.sh")
    return None


@dataclass
class TlsEtcd:
    cluster: EtcdCluster
    result: Synthesized
    server: Path
    """The server Secret's files (ca.crt, tls.crt, tls.key)."""
    client: Path
    """The client Secret's files, as the Dynamo pods receive them."""
    stranger: Path
    """A client certificate of another CA."""


@pytest.fixture(scope="module")
def tls_etcd(synthesized_etcd_tls: Synthesized,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsEtcd]:
    """The TLS environment's etcd, all its members, with certificates as cert-manager would
    issue them for the DNS names the plan lists (plus 127.0.0.1, where the members run here)."""
    if ETCD is None or OPENSSL is None:
        pytest.skip("etcd or openssl is not installed (`scripts/setup.sh --with-test-services`)")
    result = synthesized_etcd_tls
    environment = result.environment
    folder = tmp_path_factory.mktemp("etcd-tls")
    ca = certificate_authority(folder / "ca")
    server = tls_secret(ca, folder / "server", "etcd", usages=["serverAuth", "clientAuth"],
                        dns_names=plan_of(environment).etcd_tls_dns_names,
                        ip_addresses=["127.0.0.1"])
    client = tls_secret(ca, folder / "client", "dynamo", usages=["clientAuth"])
    stranger = tls_secret(certificate_authority(folder / "other-ca", "other-ca"),
                          folder / "stranger", "stranger", usages=["clientAuth"])
    cluster = EtcdCluster(_statefulset(result, "-etcd"), folder / "etcd", volumes={"tls": server})
    try:
        cluster.start()
        yield TlsEtcd(cluster, result, server, client, stranger)
    finally:
        cluster.stop()


def _https_json(url: str, ca: Path, client: Path | None,
                body: dict[str, Any] | None = None) -> Any:
    context = ssl.create_default_context(cafile=str(ca / "ca.crt"))
    if client is not None:
        context.load_cert_chain(str(client / "tls.crt"), str(client / "tls.key"))
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5, context=context) as response:
        return json.loads(response.read())


def test_tls_etcd_answers_its_probes_over_plain_http(tls_etcd: TlsEtcd) -> None:
    etcd = tls_etcd.cluster
    assert etcd.tls
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = etcd.container[kind]["httpGet"]
        assert probe["port"] == "metrics"
        for member in range(etcd.members):
            assert http_json(etcd.health_url(member, probe["path"]))["health"] == "true"


def test_tls_etcd_refuses_clients_without_a_certificate_of_its_ca(tls_etcd: TlsEtcd) -> None:
    etcd, server = tls_etcd.cluster, tls_etcd.server
    health = etcd.url(0, "/health")
    assert _https_json(health, server, tls_etcd.client)["health"] == "true"
    with pytest.raises(OSError):
        _https_json(health, server, None)
    with pytest.raises(OSError):
        _https_json(health, server, tls_etcd.stranger)
    with pytest.raises(OSError):  # plain HTTP on the client port
        http_json(health.replace("https://", "http://"))


def test_tls_etcd_members_form_one_cluster_and_store_keys(tls_etcd: TlsEtcd) -> None:
    etcd, server, client = tls_etcd.cluster, tls_etcd.server, tls_etcd.client
    members = _https_json(etcd.url(0, "/v3/cluster/member/list"), server, client, {})["members"]
    assert sorted(m["name"] for m in members) == [f"{etcd.name}-{i}" for i in range(3)]
    assert all(url.startswith("https://") for m in members for url in m["peerURLs"])
    _https_json(etcd.url(0, "/v3/kv/put"), server, client,
                {"key": _b64("dynamo/tls"), "value": _b64("sealed")})
    for member in range(etcd.members):
        # Linearizable: each member answers through the quorum, over TLS between peers.
        got = _https_json(etcd.url(member, "/v3/kv/range"), server, client,
                          {"key": _b64("dynamo/tls")})
        assert base64.b64decode(got["kvs"][0]["value"]) == b"sealed"


def _secret_env(container: dict[str, Any], secrets: dict[str, Path], pod: str) -> dict[str, str]:
    """The container's environment with `secretKeyRef`s read from local Secret folders."""
    plain = dict(container)
    plain["env"] = [e for e in container["env"] if "secretKeyRef" not in e.get("valueFrom", {})]
    env = container_env(plain, pod)
    for item in container["env"]:
        reference = item.get("valueFrom", {}).get("secretKeyRef")
        if reference:
            env[item["name"]] = secret_data(secrets[reference["name"]])[reference["key"]]
    return env


# Connects as the 1.x pods do (etcd discovery, TCP requests, ZeroMQ events: no NATS), holds
# the runtime until stdin closes, so the test can see its lease in etcd.
RUNTIME_SCRIPT = """
import asyncio, pathlib, sys
from dynamo.runtime import DistributedRuntime

async def main():
    loop = asyncio.get_running_loop()
    runtime = DistributedRuntime(loop, "etcd", "tcp", event_plane="zmq")
    pathlib.Path(sys.argv[1]).write_text("connected")
    await loop.run_in_executor(None, sys.stdin.read)
    runtime.shutdown()

asyncio.run(main())
"""


def test_dynamo_runtime_connects_with_the_synthesized_client_certificate(
        tls_etcd: TlsEtcd, tmp_path: Path) -> None:
    python = _dynamo_python()
    if python is None:
        pytest.skip("Dynamo venv missing: run scripts/install-dynamo-runtime.sh")
    etcd, result = tls_etcd.cluster, tls_etcd.result
    tls = result.environment.dependencies.etcd.tls
    assert tls is not None
    deployment = result.find("Deployment", f"{result.environment.full_name}-frontend")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = _secret_env(container, {tls.client_secret: tls_etcd.client}, "frontend-0")
    endpoint = re.fullmatch(r"https://([^:]+):(\d+)", env["ETCD_ENDPOINTS"])
    assert endpoint, env["ETCD_ENDPOINTS"]
    assert endpoint.group(1) in plan_of(result.environment).etcd_tls_dns_names
    assert int(endpoint.group(2)) == etcd.client_port
    env["ETCD_ENDPOINTS"] = etcd.url(0, "")
    env["NATS_SERVER"] = f"nats://127.0.0.1:{free_port()}"  # unused with these planes
    marker = tmp_path / "connected"
    log = (tmp_path / "runtime.log").open("wb")
    runtime = subprocess.Popen([str(python), "-c", RUNTIME_SCRIPT, str(marker)],
                               env={"PATH": os.environ.get("PATH", ""), **env},
                               stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT)
    try:
        def connected() -> bool:
            if runtime.poll() is not None:
                raise AssertionError(f"the runtime exited with {runtime.returncode}:\n"
                                     f"{(tmp_path / 'runtime.log').read_text()[-4000:]}")
            return marker.exists()
        wait_until(connected, STARTUP_TIMEOUT, "the Dynamo runtime connected to etcd")
        leases = _https_json(etcd.url(0, "/v3/lease/leases"), tls_etcd.server, tls_etcd.client,
                             {})
        assert leases.get("leases"), "the runtime holds no lease in this etcd"
        assert runtime.stdin is not None
        runtime.stdin.close()
        assert runtime.wait(timeout=30) == 0
    finally:
        if runtime.poll() is None:
            runtime.kill()
            runtime.wait(timeout=10)
        log.close()


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
