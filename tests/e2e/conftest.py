from __future__ import annotations

import os
import shutil

import pytest

from constructs_lib.tools.run_local import dynamo_python


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "e2e: runs real processes on 127.0.0.1 (Dynamo venv, etcd, nats-server)"
    )


def requirements_marks() -> list[pytest.MarkDecorator]:
    """Mark a module e2e, and skip it with the reason when something it runs is missing
    (an error instead when DYNAMO_E2E_REQUIRED=1, as in CI)."""
    marks = [pytest.mark.e2e]
    missing = None
    python = dynamo_python()
    if not python.exists():
        missing = f"Dynamo venv missing ({python}): run scripts/install-dynamo-runtime.sh"
    for tool in ("etcd", "nats-server"):
        if missing is None and shutil.which(tool) is None:
            missing = f"{tool} not found on PATH (Debian: apt-get install etcd-server nats-server)"
    if missing is not None:
        if os.environ.get("DYNAMO_E2E_REQUIRED") == "1":
            raise RuntimeError(missing)
        marks.append(pytest.mark.skip(reason=missing))
    return marks
