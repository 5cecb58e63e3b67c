"""`from-helm-values` gives what `helm template` of the seed chart gave, by the parity rules.

Every render in ../shared/reference and ../shared/reference/features is reproduced from its own
values files and command line. Combinations the renders do not show are checked against
expectations built from a render plus the chart's documented behaviour (helm is not available
here), and the fields they change are also asserted directly, because parity only checks that
what the seed rendered is present.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from constructs_lib.model.loader import load_environment
from constructs_lib.tools.cli import main
from constructs_lib.tools.helm.convert import convert
from constructs_lib.tools.helm.inputs import gather
from tests.conftest import ENVIRONMENTS, ROOT, read_documents
from tests.support import parity

SEED_RELEASE = "deepseek-r1-llama-70b"
SEED_RENDERS = {
    "single-node": ("values.yaml", []),
    "single-node-no-rdma": ("values.yaml", ["rdma.enable=false"]),
    "multi-node": ("multi-values.yaml", []),
    "multi-node-no-rdma": ("multi-values.yaml", ["rdma.enable=false"]),
}
FEATURES = ["multi-node-metrics", "single-node-external-deps", "single-node-metrics",
            "single-node-nameoverride", "single-node-overrides"]


@dataclass(frozen=True)
class Case:
    name: str
    render: Path
    files: list[str]
    sets: list[str]
    release: str
    namespace: str

    def arguments(self, output: Path, environment: Path | None = None) -> list[str]:
        args = ["from-helm-values"]
        for file in self.files:
            args += ["-f", file]
        for assignment in self.sets:
            args += ["--set", assignment]
        args += ["--release", self.release, "--namespace", self.namespace, "--output", str(output)]
        if environment is not None:
            args += ["--write-environment", str(environment)]
        return args


@dataclass(frozen=True)
class Migrated:
    case: Case
    folder: Path
    environment_file: Path
    documents: list[dict[str, Any]]
    stderr: str


def feature_table(shared: Path) -> dict[str, tuple[str, str, str]]:
    """render -> (base values file, release, namespace), from the features README's table."""
    rows = {}
    for line in (shared / "reference" / "features" / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[1].endswith(".yaml") and cells[0] != "render":
            rows[cells[0]] = (cells[1], cells[2], cells[3])
    return rows


def cases(shared: Path) -> dict[str, Case]:
    seed = shared / "seed"
    found = {name: Case(name, shared / "reference" / f"{name}.yaml", [str(seed / base)], sets,
                        SEED_RELEASE, "default")
             for name, (base, sets) in SEED_RENDERS.items()}
    features = shared / "reference" / "features"
    for name, (base, release, namespace) in feature_table(shared).items():
        found[name] = Case(name, features / f"{name}.yaml",
                           [str(seed / base), str(features / f"{name}.values.yaml")], [],
                           release, namespace)
    return found


def migrate(case: Case, folder: Path, environment_file: Path | None = None) -> tuple[int, str]:
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = main(case.arguments(folder, environment_file))
    return code, stderr.getvalue()


@pytest.fixture(scope="session")
def migrated(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Migrated]:
    """Every render's command, run once per session."""
    root = tmp_path_factory.mktemp("from-helm-values")
    results = {}
    for name, case in cases(shared).items():
        environment_file = root / "environments" / f"{name}.yaml"
        code, stderr = migrate(case, root / name, environment_file)
        assert code == 0, stderr
        results[name] = Migrated(case, root / name, environment_file,
                                 read_documents(root / name), stderr)
    return results


def test_every_render_has_a_case(shared: Path) -> None:
    table = feature_table(shared)
    assert sorted(table) == FEATURES
    assert sorted(p.name.removesuffix(".values.yaml")
                  for p in (shared / "reference" / "features").glob("*.values.yaml")) == FEATURES
    assert sorted(p.stem for p in (shared / "reference").glob("*.yaml")) == sorted(SEED_RENDERS)
    assert table["single-node-nameoverride"] == ("values.yaml", "dynamo-canary", "staging")


@pytest.mark.parametrize("name", [*SEED_RENDERS, *FEATURES])
def test_reproduces_the_render(name: str, migrated: dict[str, Migrated]) -> None:
    result = migrated[name]
    reference = parity.load_render(result.case.render)
    assert parity.differences(reference, result.documents, result.case.namespace) == []


@pytest.mark.parametrize("name", SEED_RENDERS)
def test_the_seed_examples_give_the_shipped_environments(name: str, shared: Path,
                                                         tmp_path: Path) -> None:
    # The seed installs into the current namespace; the shipped examples name theirs.
    shipped = load_environment(ENVIRONMENTS / f"{name}.yaml")
    case = dataclasses.replace(cases(shared)[name], namespace=shipped.namespace)
    code, stderr = migrate(case, tmp_path / name, tmp_path / f"{name}.yaml")
    assert code == 0, stderr
    result = Migrated(case, tmp_path / name, tmp_path / f"{name}.yaml",
                      read_documents(tmp_path / name), stderr)
    ours = load_environment(result.environment_file)
    # The shipped environments declare the node pool the seed README asks for (`nodes`), which
    # only the placement plan reads; Helm values have no key for it, so a converted release
    # declares none. Everything else must be equal.
    assert ours.nodes is None and shipped.nodes is not None
    assert ours == shipped.model_copy(update={"nodes": None})
    committed = ROOT / "dist" / name
    assert sorted(p.name for p in result.folder.iterdir()) == sorted(
        p.name for p in committed.iterdir())
    for file in committed.iterdir():
        if file.name != "PLAN.md":
            assert (result.folder / file.name).read_bytes() == file.read_bytes(), file.name
    # Without a declared pool the plan sizes one of the default 8-GPU nodes, and it is the
    # pool the shipped environment declares.
    nodes = shipped.nodes.count
    assert (f"no node pool declared: the pods need {nodes} node{'s' if nodes > 1 else ''} x 8 "
            "GPUs (the default node size)") in (result.folder / "PLAN.md").read_text()


@pytest.mark.parametrize("name", [*SEED_RENDERS, *FEATURES])
def test_the_written_environment_says_the_same(name: str, migrated: dict[str, Migrated]) -> None:
    result = migrated[name]
    case = result.case
    expected = convert(gather(case.files, case.sets).values, case.release, case.namespace)
    assert load_environment(result.environment_file) == expected.environment
    modeline, text = result.environment_file.read_text().split("\n", 1)
    assert modeline.startswith("# yaml-language-server: $schema=")
    assert text.startswith("# Converted from the seed Helm chart's values by\n"
                           "#   python -m constructs_lib from-helm-values -f ")
    assert f"--release {case.release} --namespace {case.namespace}\n" in text


@pytest.mark.parametrize("name", ["multi-node-metrics", "single-node-overrides"])
def test_synthesizing_the_written_environment_gives_the_same_files(
        name: str, migrated: dict[str, Migrated], tmp_path: Path) -> None:
    result = migrated[name]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["synth", str(result.environment_file), "--output", str(tmp_path)]) == 0
    again = tmp_path / name
    assert sorted(p.name for p in again.iterdir()) == sorted(
        p.name for p in result.folder.iterdir())
    for file in again.iterdir():
        assert (result.folder / file.name).read_bytes() == file.read_bytes(), file.name


@pytest.mark.parametrize("name", FEATURES)
def test_the_features_manifests_are_valid_kubernetes(name: str,
                                                     migrated: dict[str, Migrated]) -> None:
    for document in migrated[name].documents:
        if "monitoring.coreos.com" not in document["apiVersion"]:
            kubernetes_validate.validate(document, kubernetes_validate.latest_version(),
                                         strict=True)


def test_the_seeds_router_section_is_reported(migrated: dict[str, Migrated]) -> None:
    assert migrated["multi-node"].stderr == (
        f"warning: {migrated['multi-node'].case.files[0]}: configs.router: converted to Router: "
        "components read their section by class name, so no component read the seed's lowercase "
        "section; the Router now uses its settings\n")
    assert migrated["single-node"].stderr == ""


# -- combinations the renders do not show ---------------------------------------------------

def expected_from(render: Path, renames: list[tuple[str, str]], namespace: str
                  ) -> list[tuple[str, dict[str, Any]]]:
    """A render with another release name and namespace, as the chart would print it."""
    renamed = [(source, parity.rewrite_strings(doc, renames))
               for source, doc in parity.load_render(render)]
    return parity.in_namespace(renamed, namespace)


def dynamo(documents: list[tuple[str, dict[str, Any]]], kind: str) -> Iterator[dict[str, Any]]:
    return (d for s, d in documents if s.startswith("dynamo/templates/") and d["kind"] == kind)


def find(documents: list[dict[str, Any]], kind: str, suffix: str = "") -> dict[str, Any]:
    [found] = [d for d in documents if d["kind"] == kind and d["metadata"]["name"].endswith(suffix)]
    return found


def named(items: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(i for i in items if i["name"] == name)


def each_container(deployment: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> None:
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        change(container)


def run_combination(case: Case, tmp_path: Path) -> list[dict[str, Any]]:
    code, stderr = migrate(case, tmp_path / "out")
    assert code == 0, stderr
    documents = read_documents(tmp_path / "out")
    for document in documents:
        if "monitoring.coreos.com" not in document["apiVersion"]:
            kubernetes_validate.validate(document, kubernetes_validate.latest_version(),
                                         strict=True)
    return documents


def test_multinode_with_other_network_ports_labels_replicas_and_no_model_volume(
        shared: Path, tmp_path: Path) -> None:
    feature = cases(shared)["multi-node-metrics"]
    case = Case("combination", feature.render, feature.files, [
        "rdma.networkMode=tke-bridge", "rdma.hostNetwork=false", "service.port=8080",
        "multinode.metrics.port=9100,multinode.metrics.serviceMonitor.interval=30s",
        "multinode.labels.team=llm", "modelPVC.enable=false",
        "multinode.replicas=3", "multinode.prefill.replicas=4",
    ], "serving-dynamo-r1", "inference")
    ours = run_combination(case, tmp_path)

    # The release contains the chart's name, so it is the full name on its own.
    expected = expected_from(feature.render, [(f"{SEED_RELEASE}-dynamo", "serving-dynamo-r1"),
                                              (SEED_RELEASE, "serving-dynamo-r1")], "inference")
    for deployment in dynamo(expected, "Deployment"):
        pod = deployment["spec"]["template"]
        pod["metadata"]["annotations"]["tke.cloud.tencent.com/networks"] = \
            "tke-bridge,tke-rdma-ipvlan"
        pod["metadata"]["labels"]["team"] = "llm"
        del pod["spec"]["hostNetwork"], pod["spec"]["dnsPolicy"]
        pod["spec"]["volumes"] = [v for v in pod["spec"]["volumes"] if v["name"] != "model-pvc"]
        each_container(deployment, lambda c: c.update(volumeMounts=[
            m for m in c.get("volumeMounts", []) if m["name"] != "model-pvc"]))
        frontend = deployment["metadata"]["name"].endswith("-frontend")
        deployment["spec"]["replicas"] = 3 if frontend else 4
        if frontend:
            metrics = named(pod["spec"]["containers"], "metrics")
            metrics["ports"][0]["containerPort"] = 9100
            metrics["args"] = ["metrics --component VllmWorker --endpoint load_metrics --port 9100"]
    [service] = dynamo(expected, "Service")
    named(service["spec"]["ports"], "serve")["port"] = 8080
    named(service["spec"]["ports"], "metrics")["port"] = 9100
    service["spec"]["selector"]["team"] = "llm"
    [monitor] = dynamo(expected, "ServiceMonitor")
    monitor["spec"]["endpoints"][0]["interval"] = "30s"
    assert parity.differences(expected, ours, "inference") == []

    # What parity cannot see: things that must be gone.
    for deployment in [find(ours, "Deployment", "-frontend"), find(ours, "Deployment", "-prefill")]:
        spec = deployment["spec"]["template"]["spec"]
        assert "hostNetwork" not in spec and "dnsPolicy" not in spec
        assert [v["name"] for v in spec["volumes"]] == ["configs", "graphs", "dshm"]
        assert all(m["name"] != "model-pvc" for m in spec["containers"][0]["volumeMounts"])
        assert deployment["spec"]["template"]["metadata"]["labels"]["team"] == "llm"
    service = find(ours, "Service", "serving-dynamo-r1-multinode")
    assert [p["port"] for p in service["spec"]["ports"]] == [8080, 9100]


def test_single_node_without_rdma_with_other_storage_monitoring_and_dependencies(
        shared: Path, tmp_path: Path) -> None:
    feature = cases(shared)["single-node-metrics"]
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text(yaml.safe_dump({
        "podAnnotations": {"example.com/owner": "llm-team"},
        "imagePullSecrets": [{"name": "registry-a"}, {"name": "registry-b"}],
        "service": {"type": "NodePort"},
        "modelPVC": {"name": "weights", "mountPath": "/weights"},
        "single": {"metrics": {"port": 9200, "serviceMonitor": {
            "namespace": "monitoring", "honorLabels": True,
            "additionalLabels": {"release": "prom"}}}},
        "etcd": {"replicaCount": 3, "persistence": {"size": "50Gi"}},
        "nats": {"config": {"jetstream": {"fileStore": {"pvc": {"enabled": False}}}}},
    }))
    case = Case("combination", feature.render, [*feature.files, str(overrides)],
                ["rdma.enable=false"], "r1", "llm-prod")
    ours = run_combination(case, tmp_path)

    # "r1" does not contain the chart's name, so the full name is "r1-dynamo".
    expected = expected_from(feature.render, [(f"{SEED_RELEASE}-dynamo", "r1-dynamo"),
                                              (SEED_RELEASE, "r1")], "llm-prod")
    [deployment] = dynamo(expected, "Deployment")
    pod = deployment["spec"]["template"]
    pod["metadata"]["annotations"] = {"example.com/owner": "llm-team"}
    del pod["spec"]["hostNetwork"], pod["spec"]["dnsPolicy"]
    pod["spec"]["imagePullSecrets"] = [{"name": "registry-a"}, {"name": "registry-b"}]
    named(pod["spec"]["volumes"], "model-pvc")["persistentVolumeClaim"]["claimName"] = "weights"
    serve = named(pod["spec"]["containers"], "single")
    del serve["securityContext"]
    for kind in ("requests", "limits"):
        del serve["resources"][kind]["tke.cloud.tencent.com/tke-shared-rdma"]
    named(serve["volumeMounts"], "model-pvc")["mountPath"] = "/weights"
    metrics = named(pod["spec"]["containers"], "metrics")
    metrics["ports"][0]["containerPort"] = 9200
    metrics["args"] = ["metrics --component VllmWorker --endpoint load_metrics --port 9200"]
    [service] = dynamo(expected, "Service")
    service["spec"]["type"] = "NodePort"
    named(service["spec"]["ports"], "metrics")["port"] = 9200
    [monitor] = dynamo(expected, "ServiceMonitor")
    monitor["metadata"]["namespace"] = "monitoring"
    monitor["metadata"]["labels"]["release"] = "prom"
    monitor["spec"]["endpoints"][0]["honorLabels"] = True
    for _source, doc in expected:
        if doc["kind"] == "StatefulSet" and doc["metadata"]["name"] == "r1-etcd":
            doc["spec"]["replicas"] = 3
            claim = doc["spec"]["volumeClaimTemplates"][0]["spec"]
            claim["resources"]["requests"]["storage"] = "50Gi"
        if doc["kind"] == "StatefulSet" and doc["metadata"]["name"] == "r1-nats":
            del doc["spec"]["volumeClaimTemplates"]
    assert parity.differences(expected, ours, "llm-prod") == []

    spec = find(ours, "Deployment", "r1-dynamo-single")["spec"]["template"]["spec"]
    assert "hostNetwork" not in spec and "dnsPolicy" not in spec
    serve = named(spec["containers"], "single")
    assert "add" not in serve["securityContext"]["capabilities"]  # no IPC_LOCK without RDMA
    # no RDMA device without RDMA; CPU and memory come from the per-GPU resource defaults
    for kind in ("requests", "limits"):
        assert set(serve["resources"][kind]) == {"cpu", "memory", "nvidia.com/gpu"}
        assert serve["resources"][kind]["nvidia.com/gpu"] == 8
    assert find(ours, "Deployment", "r1-dynamo-single")["spec"]["template"]["metadata"][
        "annotations"] == {"example.com/owner": "llm-team"}
    etcd = find(ours, "StatefulSet", "r1-etcd")
    initial_cluster = next(a for a in etcd["spec"]["template"]["spec"]["containers"][0]["command"]
                           if a.startswith("--initial-cluster="))
    assert len(re.findall(r"r1-etcd-\d=", initial_cluster)) == 3
    nats = find(ours, "StatefulSet", "r1-nats")
    assert "volumeClaimTemplates" not in nats["spec"]
    nats_pod = nats["spec"]["template"]["spec"]
    assert {"name": "r1-nats-js", "emptyDir": {}} in nats_pod["volumes"]
    assert {"name": "r1-nats-js", "mountPath": "/data"} in nats_pod["containers"][0]["volumeMounts"]
