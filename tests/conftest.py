"""Session-wide fixtures: each shipped environment is synthesized once per test session,
because every cdk8s synth pays for the jsii runtime."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

# Loaded before any test module creates a workload (some do while pytest collects): a workload
# created before cdk8s-plus-27 is loaded is no kplus IScalable or IPodSelector, and the modules
# that compose with kplus share their process with the others.
import cdk8s_plus_27  # noqa: F401

from constructs_lib.model import Environment
from constructs_lib.tools import synth

ROOT = Path(__file__).resolve().parents[1]
# ../shared next to the main checkout; DYNAMO_SHARED points elsewhere (e.g. from a worktree).
SHARED = Path(os.environ.get("DYNAMO_SHARED", ROOT.parent / "shared"))
ENVIRONMENTS = ROOT / "environments"
SHIPPED = [synth.environment_name(p) for p in synth.discover(ENVIRONMENTS)]


@dataclass(frozen=True)
class Synthesized:
    name: str
    environment: Environment
    folder: Path
    documents: list[dict[str, Any]]

    def find(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = self.all(kind, name)
        assert len(found) == 1, \
            f"expected one {kind} {name or ''} in {self.name}, found {len(found)}"
        return found[0]

    def all(self, kind: str, name: str | None = None) -> list[dict[str, Any]]:
        return [d for d in self.documents
                if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def read_documents(folder: Path) -> list[dict[str, Any]]:
    documents = []
    for file in sorted(folder.glob("*.k8s.yaml")):
        documents.extend(d for d in yaml.safe_load_all(file.read_text()) if d)
    return documents


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is missing: the seed chart's reference renders live in ../shared")
    return SHARED


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Synthesized]:
    out = tmp_path_factory.mktemp("synth") / "dist"
    environments = synth.load_all(synth.discover(ENVIRONMENTS))
    synth.synthesize(environments, out)
    return {name: Synthesized(name, env, out / name, read_documents(out / name))
            for name, env in environments.items()}


@pytest.fixture(scope="session")
def synthesized_etcd_tls(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """single-node-v1 with a three-member etcd that speaks mutual TLS (no shipped environment
    does: its Secrets must exist first)."""
    from tests.support.environments import with_etcd_tls

    return synth_environment(with_etcd_tls(), tmp_path_factory.mktemp("synth-etcd-tls"),
                             "etcd-tls")


def synth_environment(environment: Environment, folder: Path, name: str = "test") -> Synthesized:
    """Synthesize one environment built in a test."""
    synth.synthesize({name: environment}, folder)
    return Synthesized(name, environment, folder / name, read_documents(folder / name))
