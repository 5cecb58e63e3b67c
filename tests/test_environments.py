"""Golden, determinism, parity and schema tests of every shipped environment."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from constructs_lib.tools import synth
from tests.conftest import ENVIRONMENTS, ROOT, SHIPPED, Synthesized
from tests.support import parity
from tests.support.schemas import validate_custom_resource

SEED_EXAMPLES = ["single-node", "single-node-no-rdma", "multi-node", "multi-node-no-rdma"]
KUBERNETES_VERSIONS = ["1.27.0", kubernetes_validate.latest_version()]


def test_the_seed_examples_are_shipped() -> None:
    assert set(SEED_EXAMPLES) <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_committed_dist_matches_a_fresh_synth(name: str,
                                              synthesized: dict[str, Synthesized]) -> None:
    fresh = synthesized[name].folder
    committed = ROOT / "dist" / name
    assert committed.is_dir(), f"dist/{name} is missing: run `python main.py` and commit dist/"
    fresh_files = sorted(p.name for p in fresh.iterdir())
    assert sorted(p.name for p in committed.iterdir()) == fresh_files
    for file in fresh_files:
        assert (committed / file).read_bytes() == (fresh / file).read_bytes(), (
            f"dist/{name}/{file} is stale: run `python main.py` and commit dist/")


def test_no_stale_environment_folders_in_dist() -> None:
    assert sorted(p.name for p in (ROOT / "dist").iterdir() if p.is_dir()) == sorted(SHIPPED)


def test_two_synths_are_byte_identical(tmp_path: Path, synthesized: dict[str, Synthesized]) -> None:
    environments = synth.load_all(synth.discover(ENVIRONMENTS))
    synth.synthesize(environments, tmp_path / "again")
    for name, result in synthesized.items():
        for file in result.folder.iterdir():
            assert (tmp_path / "again" / name / file.name).read_bytes() == file.read_bytes()


@pytest.mark.parametrize("name", SEED_EXAMPLES)
def test_reproduces_the_seed_render(name: str, shared: Path,
                                    synthesized: dict[str, Synthesized]) -> None:
    reference = parity.load_render(shared / "reference" / f"{name}.yaml")
    own_templates = [doc for source, doc in reference if source.startswith("dynamo/templates/")]
    assert len(own_templates) >= 4
    namespace = synthesized[name].environment.namespace
    assert parity.differences(parity.in_namespace(reference, namespace),
                              synthesized[name].documents, namespace) == []


def test_parity_check_notices_a_changed_field(shared: Path,
                                              synthesized: dict[str, Synthesized]) -> None:
    reference = parity.load_render(shared / "reference" / "single-node.yaml")
    documents = yaml.safe_load(yaml.safe_dump(synthesized["single-node"].documents))
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = 8001
    namespace = synthesized["single-node"].environment.namespace
    assert any("containerPort" in p for p in parity.differences(
        parity.in_namespace(reference, namespace), documents, namespace))


def _custom(document: dict) -> bool:
    """A custom resource (prometheus-operator's monitors, KEDA's ScaledObject): its API group
    is a domain that is not Kubernetes' own."""
    group = document["apiVersion"].rpartition("/")[0]
    return "." in group and not group.endswith(".k8s.io")


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", SHIPPED)
def test_every_manifest_is_valid_kubernetes(name: str, version: str,
                                            synthesized: dict[str, Synthesized]) -> None:
    checked = 0
    for document in synthesized[name].documents:
        if document["kind"] == "LeaderWorkerSet":
            # A custom resource (checked against its CRD below); its pod templates are
            # Kubernetes' own, checked here as PodTemplates.
            group = document["spec"]["leaderWorkerTemplate"]
            for key in ("leaderTemplate", "workerTemplate"):
                kubernetes_validate.validate({
                    "apiVersion": "v1", "kind": "PodTemplate",
                    "metadata": {"name": f"{document['metadata']['name']}-{key.lower()}"},
                    "template": group[key]}, version, strict=True)
                checked += 1
            continue
        if _custom(document):
            continue  # kubernetes-validate only warns on them: checked against their CRDs below
        kubernetes_validate.validate(document, version, strict=True)
        checked += 1
    assert checked >= 8


@pytest.mark.parametrize("name", SHIPPED)
def test_every_custom_resource_is_valid_against_its_crd(name: str, shared: Path,
                                                        synthesized: dict[str, Synthesized]
                                                        ) -> None:
    """ServiceMonitors, PodMonitors, KEDA ScaledObjects and LeaderWorkerSets, strictly: no
    field their CRD (in ../shared/crds) does not define."""
    custom = [d for d in synthesized[name].documents if _custom(d)]
    for document in custom:
        validate_custom_resource(document, shared / "crds")
    kinds = {d["kind"] for d in custom}
    if name == "autoscaling-keda":
        assert {"ScaledObject", "ServiceMonitor", "PodMonitor"} <= kinds
    if name == "deepseek-r1-v1":
        assert "LeaderWorkerSet" in kinds
