"""The environment files' JSON Schema: generated from the model, committed fresh, and it accepts
every shipped environment while refusing the mistakes an editor should mark."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator, ValidationError

from constructs_lib.tools.reference import schema
from tests.conftest import ENVIRONMENTS, ROOT

COMMITTED = ROOT / "schema" / "environment.schema.json"
MODELINE = "# yaml-language-server: $schema=../schema/environment.schema.json"
FILES = sorted(ENVIRONMENTS.glob("*.yaml"))


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    committed = json.loads(COMMITTED.read_text())
    Draft202012Validator.check_schema(committed)
    return Draft202012Validator(committed)


def _errors(validator: Draft202012Validator, document: Any) -> list[str]:
    """Every error, including those beneath an anyOf (a section that may also be null)."""
    found: list[str] = []
    pending: list[ValidationError] = list(validator.iter_errors(document))
    while pending:
        error = pending.pop()
        found.append(f"{'.'.join(map(str, error.absolute_path))}: {error.message}")
        pending.extend(error.context or [])
    return found


def _shipped(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ENVIRONMENTS / f"{name}.yaml").read_text())
    return document


def test_the_committed_schema_is_what_the_model_generates() -> None:
    assert COMMITTED.read_text() == schema.render(), (
        "schema/environment.schema.json is stale: run `python -m constructs_lib schema`")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_shipped_environment_names_the_schema_and_validates(
        path: Any, validator: Draft202012Validator) -> None:
    text = path.read_text()
    assert text.splitlines()[0] == MODELINE
    assert (path.parent / MODELINE.split("$schema=")[1]).resolve() == COMMITTED
    assert _errors(validator, yaml.safe_load(text)) == []


def test_a_misspelt_key_is_refused_at_the_top_and_inside_sections(
        validator: Draft202012Validator) -> None:
    top = {**_shipped("single-node"), "namespce": "x"}
    assert any("'namespce' was unexpected" in e for e in _errors(validator, top))
    nested = copy.deepcopy(_shipped("single-node"))
    nested["rdma"]["enable"] = True
    assert any(e.startswith("rdma:") and "'enable' was unexpected" in e
               for e in _errors(validator, nested))
    frontend = copy.deepcopy(_shipped("single-node"))
    frontend["frontend"]["config"]["Frontend"]["endpont"] = "x"
    assert any("'endpont' was unexpected" in e for e in _errors(validator, frontend))


def test_wrong_values_and_missing_required_keys_are_refused(
        validator: Draft202012Validator) -> None:
    wrong = {**_shipped("single-node"), "mode": "dual"}
    assert any(e.startswith("mode:") and "'dual' is not one of" in e
               for e in _errors(validator, wrong))
    port = {**_shipped("single-node"), "service": {"port": 70000}}
    assert any(e.startswith("service.port:") for e in _errors(validator, port))
    missing = {k: v for k, v in _shipped("single-node").items() if k != "release"}
    assert any("'release' is a required property" in e for e in _errors(validator, missing))


def test_engine_arguments_pass_through_and_kv_transfer_config_is_a_json_string_or_a_map(
        validator: Draft202012Validator) -> None:
    environment = copy.deepcopy(_shipped("multi-node"))
    worker = environment["frontend"]["config"]["VllmWorker"]
    assert isinstance(worker["kv-transfer-config"], str)
    worker["swap-space"] = 4  # an engine argument the model does not type
    assert _errors(validator, environment) == []
    worker["kv-transfer-config"] = {"kv_connector": "NixlConnector"}
    assert _errors(validator, environment) == []
    worker["kv-transfer-config"] = 3
    assert _errors(validator, environment)


def test_field_docstrings_are_the_descriptions_editors_show() -> None:
    generated = schema.environment_schema()
    for format_ in ("Environment", "EnvironmentV1"):
        assert generated["$defs"][format_]["properties"]["release"]["description"] == (
            "The release name (the seed's Helm release); it prefixes every resource name.")
    etcd = generated["$defs"]["EtcdSettings"]["properties"]
    assert etcd["endpoints_override"]["description"].startswith("Use this etcd instead")
    assert "DYN_SYSTEM_PORT" in generated["$defs"]["RuntimeSettings"]["properties"][
        "system_port"]["description"]


def test_the_dynamo_key_selects_the_format() -> None:
    generated = schema.environment_schema()
    assert generated["if"] == {"properties": {"dynamo": {"const": "1.x"}}, "required": ["dynamo"]}
    assert generated["then"] == {"$ref": "#/$defs/EnvironmentV1"}
    assert generated["else"] == {"$ref": "#/$defs/Environment"}
