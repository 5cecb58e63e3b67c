"""The init container's wait for etcd and NATS, run with bash against stand-in servers.

(tests/test_dependency_servers.py runs it against the real servers as well.)
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from constructs_lib._render import wait_for_dependencies as _wait_for_dependencies
from tests.conftest import ENVIRONMENTS, SHIPPED, Synthesized
from tests.support.servers import free_port, serving


class FakeEtcd(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _EtcdHandler)
        self.healthy = True


class _EtcdHandler(BaseHTTPRequestHandler):
    server: FakeEtcd

    def do_GET(self) -> None:
        body = json.dumps({"health": "true" if self.server.healthy else "false",
                           "reason": ""}, separators=(",", ":")).encode()
        self.send_response(200 if self.server.healthy else 503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class FakeNats(socketserver.ThreadingTCPServer):
    daemon_threads = True

    def __init__(self, greeting: bytes = b'INFO {"server_id":"fake"}\r\n') -> None:
        super().__init__(("127.0.0.1", 0), _NatsHandler)
        self.greeting = greeting


class _NatsHandler(socketserver.BaseRequestHandler):
    server: FakeNats

    def handle(self) -> None:
        self.request.sendall(self.server.greeting)


@pytest.fixture
def etcd() -> Iterator[FakeEtcd]:
    yield from serving(FakeEtcd())


@pytest.fixture
def nats() -> Iterator[FakeNats]:
    yield from serving(FakeNats())


def port(server: socketserver.BaseServer) -> int:
    return int(server.server_address[1])


def wait(etcd_endpoints: str | None, nats_url: str | None,
         budget: int = 0) -> subprocess.CompletedProcess[str]:
    """Run the wait (for etcd alone when `nats_url` is None, NATS alone when `etcd_endpoints`
    is); with the default budget of 0 it checks once and then gives up."""
    declared = []
    if etcd_endpoints is not None:
        declared.append({"name": "ETCD_ENDPOINTS", "value": etcd_endpoints})
    if nats_url is not None:
        declared.append({"name": "NATS_SERVER", "value": nats_url})
    command = _wait_for_dependencies.container(image="dynamo", pull_policy="IfNotPresent",
                                               env=declared, timeout_seconds=budget)["command"]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           **{e["name"]: e["value"] for e in declared}}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=budget + 20)


def test_passes_once_both_answer(etcd: FakeEtcd, nats: FakeNats) -> None:
    done = wait(f"127.0.0.1:{port(etcd)}", f"nats://127.0.0.1:{port(nats)}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"etcd answers at 127.0.0.1:{port(etcd)}",
                                        f"NATS answers at 127.0.0.1:{port(nats)}"]


def test_gives_up_after_its_budget_naming_what_is_missing(nats: FakeNats) -> None:
    done = wait(f"http://127.0.0.1:{free_port()}", f"nats://127.0.0.1:{port(nats)}", budget=1)
    assert done.returncode == 1
    assert "gave up after 1 s waiting for etcd (http://127.0.0.1:" in done.stderr
    assert "NATS (" not in done.stderr


def test_an_unhealthy_etcd_is_not_enough(etcd: FakeEtcd, nats: FakeNats) -> None:
    etcd.healthy = False
    assert wait(f"127.0.0.1:{port(etcd)}", f"nats://127.0.0.1:{port(nats)}").returncode == 1


def test_a_port_that_does_not_greet_like_nats_is_not_enough(etcd: FakeEtcd) -> None:
    with FakeNats(greeting=b"HTTP/1.1 400 Bad Request\r\n\r\n") as impostor:
        thread = threading.Thread(target=impostor.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            done = wait(f"127.0.0.1:{port(etcd)}", f"nats://127.0.0.1:{port(impostor)}")
        finally:
            impostor.shutdown()
            thread.join(timeout=5)
    assert done.returncode == 1
    assert "waiting for NATS" in done.stderr


def test_one_answering_endpoint_of_each_list_suffices(etcd: FakeEtcd, nats: FakeNats) -> None:
    dead = free_port()
    done = wait(f"http://127.0.0.1:{dead},http://localhost:{port(etcd)}/",
                f"nats://127.0.0.1:{dead},nats://user:secret@127.0.0.1:{port(nats)}")
    assert done.returncode == 0, done.stderr
    assert f"etcd answers at localhost:{port(etcd)}" in done.stdout


def test_credentials_never_reach_the_log() -> None:
    dead = free_port()
    done = wait(f"https://root:hunter2@127.0.0.1:{dead}", f"tls://dynamo:hunter2@127.0.0.1:{dead}")
    assert done.returncode == 1
    assert "hunter2" not in done.stdout + done.stderr
    assert f"etcd (https://127.0.0.1:{dead}) NATS (tls://127.0.0.1:{dead})" in done.stderr


def test_an_https_etcd_only_has_to_accept_connections(nats: FakeNats) -> None:
    with socket.socket() as listener:  # stands in for a TLS port: accepts, says nothing
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        done = wait(f"https://127.0.0.1:{listener.getsockname()[1]}",
                    f"nats://127.0.0.1:{port(nats)}")
    assert done.returncode == 0, done.stderr


def test_default_ports_and_bracketed_ipv6_hosts(etcd: FakeEtcd, nats: FakeNats) -> None:
    script = _wait_for_dependencies.script(nats=True).split("etcd_answers()")[0]
    probe = script + 'split_endpoint "$2" "$3"; printf "%s %s" "$host" "$port"'
    def split(endpoint: str, default: str) -> str:
        return subprocess.run(["bash", "-c", probe, "split", "1", endpoint, default],
                              capture_output=True, text=True, timeout=10).stdout
    assert split("nats://[fd00::1]:4223", "4222") == "fd00::1 4223"
    assert split("http://[fd00::1]/", "2379") == "fd00::1 2379"
    assert split("nats-svc", "4222") == "nats-svc 4222"
    assert split("u:p@etcd.ns.svc:23790", "2379") == "etcd.ns.svc 23790"


def deployment_uses_nats(name: str) -> bool:
    return "dynamo: 1.x" not in (ENVIRONMENTS / f"{name}.yaml").read_text()


def test_without_nats_it_waits_for_etcd_alone(etcd: FakeEtcd) -> None:
    done = wait(f"127.0.0.1:{port(etcd)}", None)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"etcd answers at 127.0.0.1:{port(etcd)}"]
    gone = wait("127.0.0.1:9", None)
    assert gone.returncode == 1
    assert gone.stderr == "gave up after 0 s waiting for etcd (127.0.0.1:9)\n"


def test_without_etcd_it_waits_for_nats_alone(nats: FakeNats) -> None:
    done = wait(None, f"nats://127.0.0.1:{port(nats)}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"NATS answers at 127.0.0.1:{port(nats)}"]
    gone = wait(None, "nats://127.0.0.1:9")
    assert gone.returncode == 1
    assert gone.stderr == "gave up after 0 s waiting for NATS (nats://127.0.0.1:9)\n"


def test_a_wait_for_nothing_is_not_made() -> None:
    with pytest.raises(ValueError, match="waits for nothing"):
        _wait_for_dependencies.script(etcd=False, nats=False)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_dynamo_pod_waits_for_what_it_connects_to(
        name: str, synthesized: dict[str, Synthesized]) -> None:
    for deployment in synthesized[name].all("Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        main_env = {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}
        if not {"NATS_SERVER", "ETCD_ENDPOINTS"} & set(main_env):
            # Kubernetes discovery on the tcp and zmq planes: only the API server, always there.
            assert main_env["DYN_DISCOVERY_BACKEND"] == "kubernetes"
            assert "initContainers" not in spec
            continue
        [init] = spec["initContainers"]
        assert init["name"] == _wait_for_dependencies.NAME
        assert init["image"] == spec["containers"][0]["image"]
        init_env = {e["name"]: e.get("value") for e in init["env"]}
        assert init_env == {k: main_env[k] for k in ("NATS_SERVER", "ETCD_ENDPOINTS")
                            if k in main_env}
        # Dynamo 1.x on the tcp and zmq planes connects to no NATS, and waits for none.
        assert ("NATS_SERVER" in init_env) is (deployment_uses_nats(name))
        assert init["command"][-1] == "600"
        security = init["securityContext"]
        assert security["runAsNonRoot"] and security["readOnlyRootFilesystem"]
