"""Strict validation of custom resources against their CRD's OpenAPI schema."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml


@cache
def crd_schema(crd_file: Path, version: str = "v1") -> dict[str, Any]:
    """Read once per test process (the LeaderWorkerSet CRD embeds two pod templates: 18,000
    lines), with libyaml where PyYAML has it."""
    crd = yaml.load(crd_file.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    served = next(v for v in crd["spec"]["versions"] if v["name"] == version)
    return served["schema"]["openAPIV3Schema"]


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
    schema = crd_schema(crds / f"{group}_{document['kind'].lower()}s.yaml", version)
    jsonschema.validate(json.loads(json.dumps(document)), schema)
    extra = unknown_fields(document, schema)
    assert not extra, f"{document['kind']} has fields its CRD does not define: {extra}"
