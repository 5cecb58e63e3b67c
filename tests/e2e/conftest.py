from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "e2e: runs real processes on 127.0.0.1 (Dynamo venv, etcd, nats-server)"
    )
