"""main.py is the cdk8s app it reads as: an App with one DynamoChart per environment file."""

from __future__ import annotations

import importlib.util
from types import ModuleType

import cdk8s

from constructs_lib import DynamoChart
from constructs_lib.errors import Problem
from tests.conftest import ROOT, SHIPPED


def _main_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dynamo_cdk8s_main", ROOT / "main.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_app_has_a_dynamo_chart_per_environment_file_and_nothing_else() -> None:
    warnings: list[Problem] = []
    composed = _main_module().compose_app(warnings)
    try:
        assert isinstance(composed.app, cdk8s.App)
        files = sorted(p.stem for p in (ROOT / "environments").glob("*.yaml"))
        assert sorted(composed.charts) == files == sorted(SHIPPED)
        children = composed.app.node.children
        assert all(isinstance(child, DynamoChart) for child in children)
        assert sorted(child.node.id for child in children) == sorted(SHIPPED)
        # The shipped no-RDMA examples are advised to turn RDMA on.
        assert {w.source for w in warnings} >= {"environments/single-node-no-rdma.yaml"}
    finally:
        composed.discard()
    assert not composed.folder.exists()
