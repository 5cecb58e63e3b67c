"""Relabelings: what the model accepts, the prometheus-operator CRDs accept too (checked against
the CRDs in ../shared/crds), and the monitors written with them validate; what it refuses, the
ServiceMonitor and PodMonitor constructs refuse as well."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from constructs_lib import PodMonitor, PodMonitorProps, ServiceMonitor, ServiceMonitorProps
from constructs_lib.model.monitoring import relabeling_problems
from tests.support.builders import chart, synth
from tests.support.schemas import crd_schema, unknown_fields, validate_custom_resource


def generated() -> list[dict[str, Any]]:
    """Relabelings from combinations of right and wrong values of every key."""
    choices: dict[str, list[Any]] = {
        "action": [None, "replace", "Keep", "hashmod", "LabelMap", "dropequal", "rename", 3],
        "sourceLabels": [None, ["pod", "__meta_x"], ["9pod"], "pod", [1]],
        "targetLabel": [None, "node", 7],
        "modulus": [None, 8, "8", -1],
        "regex": [None, "(.*)", 5],
        "source_labels": [None, ["pod"]],
    }
    relabelings = []
    for values in itertools.product(*choices.values()):
        relabelings.append({k: v for k, v in zip(choices, values, strict=True) if v is not None})
    return relabelings[::5]  # a spread of 576 of the 2,880 combinations


@pytest.fixture(scope="module")
def item_schema(shared: Path) -> dict[str, Any]:
    schema = crd_schema(shared / "crds" / "monitoring.coreos.com_servicemonitors.yaml")
    endpoint = schema["properties"]["spec"]["properties"]["endpoints"]["items"]
    relabelings: dict[str, Any] = endpoint["properties"]["relabelings"]["items"]
    return relabelings


def test_what_the_model_accepts_the_crd_accepts(item_schema: dict[str, Any]) -> None:
    accepted = refused = 0
    for relabeling in generated():
        if relabeling_problems(relabeling):
            refused += 1
            continue
        accepted += 1
        jsonschema.validate(json.loads(json.dumps(relabeling)), item_schema)
        assert unknown_fields(relabeling, item_schema) == []
    assert accepted >= 10 and refused >= 500


def test_what_the_crd_refuses_the_model_refuses(item_schema: dict[str, Any]) -> None:
    for relabeling in generated():
        crd_accepts = (jsonschema.Draft7Validator(item_schema).is_valid(relabeling)
                       and not unknown_fields(relabeling, item_schema))
        if not crd_accepts:
            assert relabeling_problems(relabeling), relabeling


def test_monitors_with_accepted_relabelings_follow_their_crds(shared: Path) -> None:
    accepted = [r for r in generated() if not relabeling_problems(r)]
    scope = chart()
    ServiceMonitor(scope, "service", ServiceMonitorProps(
        name="m", namespace="kube-system", service_namespace="ns", selector={"a": "b"},
        port="metrics", relabelings=accepted))
    PodMonitor(scope, "pods", PodMonitorProps(
        name="p", namespace="kube-system", pod_namespace="ns", selector={"a": "b"},
        components=["decode"], port="system", relabelings=accepted))
    for document in synth(scope):
        validate_custom_resource(document, shared / "crds")


@pytest.mark.parametrize("construct", ["service", "pod"])
def test_the_constructs_refuse_what_the_operator_would(construct: str) -> None:
    bad = [{"action": "replace", "sourceLabels": ["pod"]}]  # replace without a targetLabel
    with pytest.raises(ValueError, match=r"relabelings\[0\]: action replace needs a targetLabel"):
        if construct == "service":
            ServiceMonitor(chart(), "m", ServiceMonitorProps(
                name="m", namespace="n", service_namespace="ns", selector={}, port="metrics",
                relabelings=bad))
        else:
            PodMonitor(chart(), "m", PodMonitorProps(
                name="m", namespace="n", pod_namespace="ns", selector={}, components=["decode"],
                port="system", relabelings=bad))
