"""`python -m constructs_lib run-local ENVIRONMENT` passes for every shipped Dynamo 1.x
environment (at most two worker processes per Deployment), and in its host-network fallback."""

from __future__ import annotations

import shutil

import pytest

from constructs_lib.model.dynamo_v1 import EnvironmentV1
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


@pytest.mark.parametrize("name", V1)
def test_run_local_passes(capsys: pytest.CaptureFixture[str], name: str) -> None:
    code, out, err = _run(capsys, str(ENVIRONMENTS / f"{name}.yaml"), "--replicas", "2")
    assert code == 0, out + err
    environment = synth.load_all([ENVIRONMENTS / f"{name}.yaml"])[name]
    assert isinstance(environment, EnvironmentV1)
    assert f"/v1/models: {environment.model.name}" in out
    assert "in a private network namespace (only lo), all probes ready" in out
    # etcd, the frontend, and up to two workers per Deployment; no NATS (none is deployed)
    processes = {"dev": 3, "single-node-v1": 5, "multi-node-v1": 5}
    if name in processes:
        assert f"{name}: {processes[name]} processes on 127.0.0.1" in out
    assert "run-local:" not in err  # no fallback, no failure
    chat = _line(out, "chat completion:")
    if environment.disaggregated:
        assert "prefill worker" in chat and "decode worker" in chat
    else:
        assert "(prefill and decode)" in chat
    if environment.publishes_kv_events:
        assert "; 0 workers without KV events" in out
    else:
        assert "KV events:" not in out


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
