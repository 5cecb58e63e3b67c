"""The Dynamo pods' probes, run as the kubelet runs them, against stand-ins for Dynamo v0.1.

The exec probes are taken from the synthesized Deployments and run with bash; the stand-in
frontend answers like Dynamo v0.1's `http` binary (GET /v1/models, POST /v1/chat/completions),
and a stand-in worker is a process named like `dynamo serve`'s workers.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from constructs_lib._render import probes as _probes
from constructs_lib.model import ProbeSettings
from tests.conftest import SHIPPED, Synthesized
from tests.support.servers import serving

MODEL = "neuralmagic/DeepSeek-R1-Distill-Llama-70B-FP8-dynamic"


class FakeFrontend(ThreadingHTTPServer):
    """Answers as the v0.1 `http` binary does once `llmctl` registered `models`."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.models: list[str] = [MODEL]
        self.completion_status = 200
        self.requests: list[dict[str, Any]] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _Handler(BaseHTTPRequestHandler):
    server: FakeFrontend

    def do_GET(self) -> None:
        if self.path != "/v1/models":
            return self._reply(404, {"error": "not found"})
        self._reply(200, {"object": "list", "data": [
            {"id": m, "object": "object", "created": 1, "owned_by": "nvidia"}
            for m in self.server.models]})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append({"path": self.path, "body": json.loads(body)})
        self._reply(self.server.completion_status, {"choices": [{"message": {"content": "p"}}]})

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def frontend() -> Iterator[FakeFrontend]:
    yield from serving(FakeFrontend())


def run(probe: dict[str, Any], port: int | None = None) -> int:
    """Run an exec probe as the kubelet would, its port argument pointed at `port`."""
    command = list(probe["exec"]["command"])
    if port is not None:
        command[4] = str(port)  # bash -c SCRIPT NAME PORT ...
    return subprocess.run(command, capture_output=True, timeout=probe["timeoutSeconds"] + 5,
                          env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}).returncode


def container(result: Synthesized, component: str) -> dict[str, Any]:
    deployment = next(d for d in result.all("Deployment")
                      if d["metadata"]["name"].endswith(component))
    return deployment["spec"]["template"]["spec"]["containers"][0]


def test_the_frontend_is_started_once_a_completion_succeeds(
        frontend: FakeFrontend, synthesized: dict[str, Synthesized]) -> None:
    probe = container(synthesized["single-node"], "-single")["startupProbe"]
    assert run(probe, frontend.port) == 0
    request = frontend.requests[-1]
    assert request["path"] == "/v1/chat/completions"
    assert request["body"]["model"] == MODEL and request["body"]["max_tokens"] == 1
    frontend.completion_status = 503  # workers not registered yet
    assert run(probe, frontend.port) != 0


def test_a_non_ascii_model_name_is_sent_with_its_byte_length(frontend: FakeFrontend) -> None:
    probe = {**_probes.completion_answered(frontend.port, "模型-ü"), "timeoutSeconds": 10}
    assert run(probe) == 0
    assert frontend.requests[-1]["body"]["model"] == "模型-ü"


def test_the_frontend_is_ready_while_it_lists_its_model(
        frontend: FakeFrontend, synthesized: dict[str, Synthesized]) -> None:
    probe = container(synthesized["single-node"], "-single")["readinessProbe"]
    assert run(probe, frontend.port) == 0
    frontend.models = ["another-model"]
    assert run(probe, frontend.port) != 0
    frontend.models = []
    assert run(probe, frontend.port) != 0


def test_readiness_fails_when_nothing_listens(frontend: FakeFrontend) -> None:
    probe = {**_probes.models_listed(frontend.port, MODEL), "timeoutSeconds": 10}
    frontend.shutdown()
    frontend.server_close()
    assert run(probe) != 0


def test_without_a_served_model_name_any_listed_model_will_do(frontend: FakeFrontend) -> None:
    probes = _probes.frontend_probes(ProbeSettings(), port_name="serve", port=frontend.port,
                                     served_model_name=None)
    # No name to ask a completion of: the startup probe falls back to the model list.
    assert probes["startupProbe"]["exec"]["command"][3] == "models-listed"
    assert run(probes["readinessProbe"]) == 0
    frontend.models = []
    assert run(probes["readinessProbe"]) != 0


def test_liveness_asks_the_http_server_only(synthesized: dict[str, Synthesized]) -> None:
    probe = container(synthesized["single-node"], "-single")["livenessProbe"]
    assert probe["httpGet"] == {"path": "/v1/models", "port": "serve"}


@pytest.fixture
def worker() -> Iterator[subprocess.Popen[bytes]]:
    # Named like the processes `dynamo serve` starts for each component worker.
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                                "-m", "dynamo.sdk.cli.serve_dynamo"])
    try:
        yield process
    finally:
        process.kill()
        process.wait(timeout=10)


def test_prefill_pods_are_alive_while_their_workers_run(
        synthesized: dict[str, Synthesized], worker: subprocess.Popen[bytes]) -> None:
    prefill = container(synthesized["multi-node"], "-prefill")
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert run(prefill[kind]) == 0
    worker.kill()
    worker.wait(timeout=10)
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert run(prefill[kind]) != 0


def test_concurrent_worker_probes_do_not_see_each_other(
        synthesized: dict[str, Synthesized]) -> None:
    """Two probes at once (readiness and liveness) must not mistake each other for a worker."""
    probe = container(synthesized["multi-node"], "-prefill")["livenessProbe"]
    holder = subprocess.Popen(["bash", "-c", "sleep 5; " + probe["exec"]["command"][2],
                               "workers-running"])
    try:
        assert run(probe) != 0
    finally:
        holder.kill()
        holder.wait(timeout=10)


@pytest.mark.parametrize("name", SHIPPED)
def test_probe_budgets(name: str, synthesized: dict[str, Synthesized]) -> None:
    """A 70B model has at least 30 minutes to load (a 1.x worker: the operator's two hours);
    readiness reacts within half a minute. Dynamo v0.1 has no liveness endpoint, so a started
    pod gets 5 minutes of failed checks before a restart; a 1.x pod's /live answers while the
    process is not wedged, so it gets the operator's timing (every 5 s, 4 s each, 3 failures)."""
    for deployment in synthesized[name].all("Deployment"):
        main = deployment["spec"]["template"]["spec"]["containers"][0]
        startup, liveness, readiness = (main[k] for k in (
            "startupProbe", "livenessProbe", "readinessProbe"))
        v1 = main["command"][:2] == ["python3", "-m"]
        worker = v1 and main["command"][2] == "dynamo.vllm"
        budget = startup["periodSeconds"] * startup["failureThreshold"]
        assert budget >= (2 * 60 * 60 if worker else 10 * 60 if v1 else 30 * 60)
        if v1:
            assert (liveness["periodSeconds"], liveness["timeoutSeconds"],
                    liveness["failureThreshold"]) == (5, 4, 3)
            assert deployment["spec"]["template"]["spec"][
                "terminationGracePeriodSeconds"] >= 60
        else:
            assert liveness["periodSeconds"] * liveness["failureThreshold"] >= 5 * 60
        assert readiness["periodSeconds"] * readiness["failureThreshold"] <= 30


@pytest.mark.parametrize("name", SHIPPED)
def test_every_probe_ends_within_its_period(name: str,
                                            synthesized: dict[str, Synthesized]) -> None:
    """Otherwise the kubelet skips ticks, and period x failures no longer bounds the time."""
    for deployment in synthesized[name].all("Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                probe = container[kind]
                assert probe["timeoutSeconds"] <= probe["periodSeconds"]
                script = " ".join(probe.get("exec", {}).get("command", []))
                for seconds in re.findall(r"read [^\n]*-t (\d+)", script):
                    assert int(seconds) < probe["timeoutSeconds"]


def test_probes_follow_their_settings() -> None:
    settings = ProbeSettings(startup_timeout_seconds=7200, liveness_timeout_seconds=600,
                             startup_check="models")
    probes = _probes.frontend_probes(settings, port_name="serve", port=8000,
                                     served_model_name=MODEL)
    def budget(probe: dict[str, Any]) -> int:
        return int(probe["failureThreshold"] * probe["periodSeconds"])
    assert budget(probes["startupProbe"]) == 7200
    assert probes["startupProbe"]["exec"]["command"][3] == "models-listed"
    assert budget(probes["livenessProbe"]) == 600
    assert _probes.frontend_probes(ProbeSettings(enabled=False), port_name="serve", port=8000,
                                   served_model_name=MODEL) == {}
    assert _probes.worker_probes(ProbeSettings(enabled=False)) == {}
