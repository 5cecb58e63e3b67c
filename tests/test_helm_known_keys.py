"""The keys the seed chart reads, and the chart defaults carried with the package."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from constructs_lib.tools.helm import known_keys
from constructs_lib.tools.helm.inputs import chart_defaults


def test_chart_defaults_are_the_seed_charts_values(shared: Path) -> None:
    assert chart_defaults() == yaml.safe_load((shared / "seed" / "values.yaml").read_text())


def _seed_files(shared: Path) -> list[Path]:
    return [shared / "seed" / "values.yaml", shared / "seed" / "multi-values.yaml",
            *sorted((shared / "reference" / "features").glob("*.values.yaml"))]


def test_every_key_of_the_seed_examples_is_known(shared: Path) -> None:
    for file in _seed_files(shared):
        assert known_keys.unknown_in(yaml.safe_load(file.read_text()), file.name) == []


def test_every_key_the_readme_documents_is_known(shared: Path) -> None:
    readme = (shared / "seed" / "README.md").read_text()
    documented = [line.split("|")[1].strip() for line in readme.splitlines()
                  if line.startswith("| ") and "." in line.split("|")[1]
                  and " " not in line.split("|")[1].strip()]
    assert "multinode.prefill.resources" in documented
    for key in documented:
        if key == "hostNetwork":
            continue  # documented at the top level, but the chart reads rdma.hostNetwork
        path = tuple(part.strip('"') for part in re.findall(r'"[^"]*"|[^.]+', key))
        assert known_keys.unknown_path(path, "README") is None, key
    assert ("graphs", "single.py") in [
        tuple(p.strip('"') for p in re.findall(r'"[^"]*"|[^.]+', k)) for k in documented]


def test_a_misspelt_key_is_named_with_its_file_and_a_suggestion() -> None:
    [problem] = known_keys.unknown_in({"rdma": {"enabled": False}}, "prod.yaml")
    assert str(problem) == ("prod.yaml: rdma.enabled: unknown key (did you mean rdma.enable?); "
                            "allowed under rdma: enable, hostNetwork, networkMode")


def test_a_key_differing_only_in_case_gets_a_suggestion() -> None:
    [problem] = known_keys.unknown_in({"modelPVC": {"mountpath": "/m"}}, "f.yaml")
    assert "did you mean modelPVC.mountPath?" in problem.message


def test_unknown_top_level_keys_list_the_charts_keys() -> None:
    [problem] = known_keys.unknown_in({"replicas": 2}, "f.yaml")
    assert problem.field == "replicas"
    assert problem.message.startswith("unknown key; allowed at the top level: configs, etcd,")


def test_subchart_keys_outside_the_translated_ones_are_refused_with_the_supported_list() -> None:
    [problem] = known_keys.unknown_in({"etcd": {"image": {"tag": "3.5"}}}, "f.yaml")
    assert str(problem) == (
        "f.yaml: etcd.image: not a key of the etcd subchart that this project translates; "
        "supported: enable, replicaCount, auth.rbac.create, readinessProbe.enabled, "
        "livenessProbe.enabled, persistence.size, resources.requests, resources.limits")


def test_every_problem_is_reported_once_at_its_topmost_unknown_key() -> None:
    problems = known_keys.unknown_in(
        {"servce": {"port": 1, "type": "x"}, "single": {"replicas": 2, "enable": True}}, "f.yaml")
    assert [p.field for p in problems] == ["servce", "single.replicas"]


@pytest.mark.parametrize("values", [
    {"podLabels": {"any.key/x": "y"}},
    {"graphs": {"custom.py": "..."}},
    {"single": {"resources": {"limits": {"example.com/fpga": 1}}}},
    {"multinode": {"metrics": {"serviceMonitor": {"additionalLabels": {"a": "b"}}}}},
    {"imagePullSecrets": [{"name": "x", "other": 1}]},
])
def test_open_maps_and_leaves_take_any_keys(values: dict[str, Any]) -> None:
    # Their content is the converter's to check (it knows what a resource name may be).
    assert known_keys.unknown_in(values, "f.yaml") == []


def test_set_paths_are_checked_too() -> None:
    problem = known_keys.unknown_path(("multinode", "prefill", "labels", "a"), "--set")
    assert problem is not None and problem.field == "multinode.prefill.labels"
    assert known_keys.unknown_path(("imagePullSecrets", 0, "name"), "--set") is None
    assert known_keys.unknown_path(("graphs", "single.py"), "--set") is None
    problem = known_keys.unknown_path(("rdma", 0), "--set")
    assert problem is not None and problem.field == "rdma[0]"
