"""The shipped 1.x command lines, judged by the pinned runtime's own parsers (ai-dynamo 1.6.1,
vLLM 0.31.0; tests/support/runtime_parsers.py), and proof that those parsers can say no."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.runtime_parsers import (
    check,
    check_container,
    check_frontend,
    check_vllm_worker,
    container_command,
    requirement_marks,
)

pytestmark = requirement_marks()

DIST = Path(__file__).resolve().parents[1] / "dist"
V1_ENVIRONMENTS = ("single-node-v1", "multi-node-v1", "dev", "autoscaling-keda",
                   "autoscaling-hpa")

# What today's workers set and the 1.6.1 runtime calls deprecated (it logs so at start). The
# 1.x redesign drops them; an entry may go then, none may be added.
KNOWN_DEPRECATED_ENV = ("DYN_SYSTEM_ENABLED", "DYN_SYSTEM_USE_ENDPOINT_HEALTH_STATUS")


def _dynamo_containers() -> list[Any]:
    found = []
    for environment in V1_ENVIRONMENTS:
        for path in sorted((DIST / environment).glob("Deployment.*.yaml")):
            deployment = yaml.safe_load(path.read_text())
            for container in deployment["spec"]["template"]["spec"]["containers"]:
                if container.get("command", [])[:2] == ["python3", "-m"]:
                    found.append(pytest.param(container,
                                              id=f"{environment}/{path.stem}/{container['name']}"))
    return found


SHIPPED = _dynamo_containers()


def test_every_v1_environment_ships_a_frontend_and_a_worker() -> None:
    kinds = {(p.id.split("/")[0], container_command(p.values[0])[0]) for p in SHIPPED}
    assert kinds == {(e, k) for e in V1_ENVIRONMENTS for k in ("frontend", "vllm")}


@pytest.mark.parametrize("container", SHIPPED)
def test_shipped_command_line_is_accepted(container: dict[str, Any]) -> None:
    problems = [p for p in check_container(container)
                if not any(p.startswith(f"deprecated: {name} ") for name in KNOWN_DEPRECATED_ENV)]
    assert problems == []


WORKER_ENV = {"DYN_NAMESPACE": "test", "DYN_DISCOVERY_BACKEND": "etcd"}
NIXL_BOTH = json.dumps({"kv_connector": "NixlConnector", "kv_role": "kv_both"})


def _worker(*extra: str, mode: str = "decode") -> list[str]:
    return ["--model", "/models/m", "--disaggregation-mode", mode, *extra]


def test_a_good_worker_is_accepted() -> None:
    kv_events = json.dumps({"publisher": "zmq", "topic": "kv-events",
                            "endpoint": "tcp://*:20080", "enable_kv_cache_events": True})
    assert check_vllm_worker(_worker("--kv-transfer-config", NIXL_BOTH,
                                     "--kv-events-config", kv_events), WORKER_ENV) == []


@pytest.mark.parametrize(("argv", "expected"), [
    (_worker("--no-such-flag", "1"), "unrecognized arguments: --no-such-flag"),
    # gone from vLLM 0.31 (requests are not logged by default any more)
    (_worker("--disable-log-requests"), "unrecognized arguments: --disable-log-requests"),
    # Dynamo's older role flag, gone in 1.6
    (_worker("--is-prefill-worker"), "unrecognized arguments: --is-prefill-worker"),
    (_worker("--kv-transfer-config", '{"kv_connector":"NixlConnector","kv_role":"kv_sender"}'),
     "Input should be 'kv_producer', 'kv_both' or 'kv_consumer'"),
    (_worker(mode="prefill"), "you must explicitly provide --kv-transfer-config"),
    (_worker(mode="remote-prefill"), "argument --disaggregation-mode: invalid choice"),
    (_worker("--max-model-len", "lots"), "--max-model-len"),
])
def test_a_wrong_worker_is_refused(argv: list[str], expected: str) -> None:
    problems = check_vllm_worker(argv, WORKER_ENV)
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(("argv", "env", "expected"), [
    (["--router-mode", "kv-aware"], {}, "argument --router-mode: invalid choice: 'kv-aware'"),
    (["--router-mode", "kv", "--no-such-flag"], {}, "Unknown arguments specified"),
    (["--migration-limit", "-1"], {}, "--migration-limit must be between 0 and"),
    # the parsers take a variable's value as the flag's default without checking its choices
    (["--router-mode", "kv"], {"DYN_EVENT_PLANE": "kafka"},
     "DYN_EVENT_PLANE='kafka' (for --event-plane): invalid choice"),
    (["--router-mode", "kv"], {"DYN_DISCOVERY_BAKEND": "etcd"},
     "DYN_DISCOVERY_BAKEND is read nowhere"),
])
def test_a_wrong_frontend_is_refused(argv: list[str], env: dict[str, str],
                                     expected: str) -> None:
    problems = check_frontend(argv, env)
    assert any(expected in p for p in problems), problems


def test_environment_values_are_judged_too() -> None:
    verdict = check("vllm", _worker("--kv-transfer-config", NIXL_BOTH), {
        **WORKER_ENV, "DYN_SYSTEM_ENABLED": "true", "VLLM_WORKER_MULTIPROC_METHOD": "thread",
        "VLLM_NO_SUCH_SETTING": "1"})
    assert any(p.startswith("deprecated: DYN_SYSTEM_ENABLED ") for p in verdict.problems)
    assert any("VLLM_WORKER_MULTIPROC_METHOD='thread': vLLM rejects it" in p
               for p in verdict.problems)
    assert any("VLLM_NO_SUCH_SETTING is not an environment variable" in p
               for p in verdict.problems)


def test_only_python_dynamo_containers_are_checked() -> None:
    with pytest.raises(ValueError, match="does not run python3 -m"):
        check_container({"name": "etcd", "command": ["etcd"], "args": []})


def test_variables_the_runtime_reads_by_prefix_are_known() -> None:
    # The Rust runtime reads DYN_SYSTEM_*, DYN_HEALTH_CHECK_*, DYN_CANARY_* ... by prefix.
    accepted = {"DYN_SYSTEM_PORT": "9090", "DYN_SYSTEM_STARTING_HEALTH_STATUS": "ready",
                "DYN_HEALTH_CHECK_ENABLED": "true", "DYN_HEALTH_CHECK_REQUEST_TIMEOUT": "3",
                "DYN_CANARY_WAIT_TIME": "10", "DYN_RUNTIME_NUM_WORKER_THREADS": "4"}
    assert check_frontend(["--router-mode", "kv"], accepted) == []
    # a later runtime's setting, not read by 1.6.1
    assert check_frontend(["--router-mode", "kv"], {"DYN_HEALTH_CHECK_BUSY_STALL": "60"}) == [
        "DYN_HEALTH_CHECK_BUSY_STALL is read nowhere in ai-dynamo 1.6.1"]
