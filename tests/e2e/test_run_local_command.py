"""`python -m constructs_lib run-local ENVIRONMENT` smoke-tests an environment end to end."""

from __future__ import annotations

from constructs_lib.tools.cli import main
from tests.conftest import ENVIRONMENTS
from tests.e2e.conftest import requirements_marks

pytestmark = requirements_marks()


def test_run_local_serves_the_dev_environment(capsys) -> None:
    # dev is aggregated: one worker does prefill and decode; single-node-v1 (disaggregated) is
    # covered by test_synthesized_environment.py.
    assert main(["run-local", str(ENVIRONMENTS / "dev.yaml"), "--timeout", "60"]) == 0
    out = capsys.readouterr().out
    assert "dev: 4 processes on 127.0.0.1, all probes ready" in out  # etcd, NATS, frontend, worker
    assert "/v1/models: Qwen/Qwen3-0.6B" in out
    assert "(prefill and decode)" in out.split("chat completion:")[1].splitlines()[0]
