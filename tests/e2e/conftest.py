from __future__ import annotations

import os
import shutil

import pytest

from constructs_lib.tools.run_local import dynamo_python, netns


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "e2e: runs real processes on 127.0.0.1 (Dynamo venv, etcd, nats-server)"
    )


def requirements_marks(nats: bool = False) -> list[pytest.MarkDecorator]:
    """Mark a module e2e, and skip it with the reason when something it runs is missing
    (an error instead when DYNAMO_E2E_REQUIRED=1, as in CI). ``nats-server`` is needed by a
    test of the host-network fallback (``nats``), or by every run where no private network
    namespace can be made (run-local then moves the event plane to NATS)."""
    marks = [pytest.mark.e2e]
    missing = None
    python = dynamo_python()
    if not python.exists():
        missing = f"Dynamo venv missing ({python}): run scripts/install-dynamo-runtime.sh"
    tools = ["etcd"]
    if nats or not netns.probe().private:
        tools.append("nats-server")
    for tool in tools:
        if missing is None and shutil.which(tool) is None:
            missing = f"{tool} not found on PATH (Debian: apt-get install etcd-server nats-server)"
    if missing is not None:
        if os.environ.get("DYNAMO_E2E_REQUIRED") == "1":
            raise RuntimeError(missing)
        marks.append(pytest.mark.skip(reason=missing))
    return marks
