"""End to end: the Dynamo 1.x containers of a disaggregated deployment run on 127.0.0.1.

etcd + NATS + frontend (KV router) + one decode and one prefill worker (``dynamo.vllm``
replaced by ``dynamo.mocker``), started from container dicts that follow the synthesized
contract (``containers.py``). Checks: every probe answers, ``/v1/models``, a chat completion
and a streaming one, served by both a prefill and a decode worker; nothing listens beyond
loopback; after stop, no process and no listener is left.

Needs the Dynamo venv (``scripts/install-dynamo-runtime.sh``), ``etcd`` and ``nats-server``;
skipped with the reason otherwise (an error instead when DYNAMO_E2E_REQUIRED=1). Every wait is bounded (``TIMEOUT`` seconds).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from constructs_lib.run_local import LocalStack, OpenAIClient, dynamo_python
from constructs_lib.run_local.processes import http_get

from . import containers as c

TIMEOUT = 60.0
PROMPT = [{"role": "user", "content": "Say hello to the mock engine"}]


def _requirements() -> str | None:
    python = dynamo_python()
    if not python.exists():
        return f"Dynamo venv missing ({python}): run scripts/install-dynamo-runtime.sh"
    for tool in ("etcd", "nats-server"):
        if shutil.which(tool) is None:
            return f"{tool} not found on PATH (Debian: apt-get install etcd-server nats-server)"
    return None


pytestmark = [pytest.mark.e2e]
if (_missing := _requirements()) is not None:
    # CI sets DYNAMO_E2E_REQUIRED=1 so that a missing install fails instead of skipping.
    if os.environ.get("DYNAMO_E2E_REQUIRED") == "1":
        raise RuntimeError(_missing)
    pytestmark.append(pytest.mark.skip(reason=_missing))


def _wait_json(
    url: str, done: Callable[[dict[str, Any]], bool], timeout: float = TIMEOUT
) -> dict[str, Any]:
    """Poll a JSON endpoint until ``done(body)`` is true (bounded)."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            status, raw = http_get(url)
            body = json.loads(raw) if status == 200 else {}
        except (OSError, ValueError):
            body = {}
        if body and done(body):
            return body
        time.sleep(0.2)
    raise AssertionError(f"{url} did not reach the expected state in {timeout} s: {body}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    workdir = Path(tmp_path_factory.mktemp("dynamo-local"))
    with LocalStack(workdir, python=str(dynamo_python()), timeout=TIMEOUT) as local:
        local.start_dependency(
            "etcd", c.ETCD, services=c.ETCD_SERVICES, pod_name=f"{c.ETCD_SERVICE}-0"
        )
        local.start_dependency(
            "nats",
            c.NATS,
            services=c.NATS_SERVICES,
            nats_config_text=c.NATS_CONFIG,
            pod_name=f"{c.NATS_SERVICE}-0",
        )
        local.start("frontend", c.FRONTEND)
        local.start("decode", c.DECODE)
        local.start("prefill", c.PREFILL)
        local.wait_ready()
        # The frontend is ready before it has discovered the workers: wait for both roles.
        _wait_json(
            local.commands["frontend"].url("http", "/health"),
            lambda body: (
                {"backend", "prefill"} <= {i["component"] for i in body.get("instances", [])}
            ),
        )
        yield local
    # LocalStack.__exit__ stopped everything, also when the test failed.


@pytest.fixture(scope="module")
def client(stack: LocalStack) -> OpenAIClient:
    return OpenAIClient(stack.commands["frontend"].url("http"), timeout=30.0)


def _instances(stack: LocalStack) -> dict[str, set[int]]:
    status, raw = http_get(stack.commands["frontend"].url("http", "/health"))
    assert status == 200, raw
    ids: dict[str, set[int]] = {}
    for item in json.loads(raw)["instances"]:
        ids.setdefault(item["component"], set()).add(item["instance_id"])
    return ids


def test_probes_answer_on_loopback(stack: LocalStack) -> None:
    for name, command in stack.commands.items():
        for url in (command.liveness_url, command.readiness_url):
            if url:
                status, body = http_get(url)
                assert status == 200, f"{name} {url}: {status} {body[:200]!r}"
    for name in ("decode", "prefill"):
        port = stack.commands[name].named_ports["system"]
        assert port <= 32767, "Dynamo parses DYN_SYSTEM_PORT as a signed 16-bit number"


def test_models_lists_served_model_name(client: OpenAIClient) -> None:
    deadline = time.monotonic() + TIMEOUT
    while c.SERVED_MODEL_NAME not in (models := client.models()):
        assert time.monotonic() < deadline, f"/v1/models: {models}"
        time.sleep(0.2)


def test_chat_completion_uses_prefill_and_decode(stack: LocalStack, client: OpenAIClient) -> None:
    result = client.chat(c.SERVED_MODEL_NAME, PROMPT, max_tokens=8)
    assert result.content.strip(), result.raw
    assert result.finish_reason == "length"
    assert result.usage and result.usage["completion_tokens"] == 8
    assert result.workers is not None, f"no nvext.worker_id in {result.raw}"
    instances = _instances(stack)
    assert result.workers.prefill_worker_id in instances["prefill"]
    assert result.workers.decode_worker_id in instances["backend"]


def test_streaming_chat_completion(stack: LocalStack, client: OpenAIClient) -> None:
    result = client.chat_stream(c.SERVED_MODEL_NAME, PROMPT, max_tokens=6)
    assert result.done, "no data: [DONE]"
    assert result.content.strip()
    assert result.finish_reason == "length"
    assert len(result.chunks) >= 6
    assert result.workers is not None
    instances = _instances(stack)
    assert result.workers.prefill_worker_id in instances["prefill"]
    assert result.workers.decode_worker_id in instances["backend"]


def test_nothing_listens_beyond_loopback(stack: LocalStack) -> None:
    from constructs_lib.run_local import listening_sockets

    listeners = listening_sockets(stack.group.pids)
    # Not vacuous: each of the five processes has at least one listener.
    assert {item.pid for item in listeners} >= set(stack.group.pids), listeners
    assert stack.non_loopback_listeners() == []


def test_stop_leaves_nothing_behind(stack: LocalStack) -> None:
    # Runs last in this module (pytest keeps file order); the fixture's exit stops again.
    pids = stack.group.pids
    codes = stack.stop()
    assert all(code is not None for code in codes.values()), codes
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), f"pid {pid} still alive"
    assert stack.leftovers() == set()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
