"""Strict validation of custom resources against their CRD's OpenAPI schema."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def _crd(crd_file: Path) -> dict[str, Any]:
    # Read once per test process: the DynamoGraphDeployment CRD takes 1.4 s with PyYAML's own
    # parser (0.1 s with libyaml).
    crd: dict[str, Any] = yaml.load(crd_file.read_text(), Loader=_Loader)
    return crd


def crd_schema(crd_file: Path, version: str = "v1") -> dict[str, Any]:
    served = next(v for v in _crd(crd_file)["spec"]["versions"] if v["name"] == version)
    schema: dict[str, Any] = served["schema"]["openAPIV3Schema"]
    return schema


@functools.cache
def _validator(crd_file: Path, version: str) -> Any:
    """The schema is checked once (what `jsonschema.validate` does on every call)."""
    schema = crd_schema(crd_file, version)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def unknown_fields(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Fields the schema does not declare: what `--strict` means for built-in kinds."""
    found: list[str] = []
    if isinstance(value, dict) and "properties" in schema:
        if schema.get("x-kubernetes-preserve-unknown-fields"):
            return found
        for key, item in value.items():
            if key not in schema["properties"]:
                found.append(f"{path}.{key}".lstrip("."))
            else:
                found += unknown_fields(item, schema["properties"][key], f"{path}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            found += unknown_fields(item, schema["items"], f"{path}[{index}]")
    return found


def validate_custom_resource(document: dict[str, Any], crds: Path) -> None:
    group, version = document["apiVersion"].split("/")
    crd_file = crds / f"{group}_{document['kind'].lower()}s.yaml"
    # As jsonschema.validate reports: the most relevant error.
    error = jsonschema.exceptions.best_match(
        _validator(crd_file, version).iter_errors(json.loads(json.dumps(document))))
    if error is not None:
        raise error
    extra = unknown_fields(document, crd_schema(crd_file, version))
    assert not extra, f"{document['kind']} has fields its CRD does not define: {extra}"
