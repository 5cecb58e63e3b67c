"""The JSON Schema of an environment file, generated from the typed model.

Editors with the YAML language server read it through the `# yaml-language-server: $schema=`
comment at the top of each environment file: completion, hover text (the model's field
docstrings) and a mark on unknown keys and wrong types. The loader remains the authority: it
also checks what a schema cannot say, such as a multinode environment needing `prefill`.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic.json_schema import models_json_schema

from ...model.descriptions import describe
from ...model.dynamo_v1 import EnvironmentV1
from ...model.environment import Environment

DIALECT = "https://json-schema.org/draft/2020-12/schema"
DESCRIPTION = (
    "One deployment of NVIDIA Dynamo and its dependencies. A file with `dynamo: 1.x` follows the "
    "Dynamo 1.x format (EnvironmentV1: a frontend, decode and prefill worker pools, the model "
    "and the runtime planes); any other file the Dynamo v0.1 format of the seed Helm chart "
    "(Environment: `dynamo serve` graphs).")


def environment_schema() -> dict[str, Any]:
    """The schema of what an environment file may say, in the file's own key names: the 1.x
    format when `dynamo` is 1.x, the v0.1 format otherwise."""
    describe()
    _, definitions = models_json_schema(
        [(EnvironmentV1, "validation"), (Environment, "validation")], by_alias=True)
    return {
        "$schema": DIALECT,
        "title": "EnvironmentFile",
        "description": DESCRIPTION,
        "type": "object",
        "if": {"properties": {"dynamo": {"const": "1.x"}}, "required": ["dynamo"]},
        "then": {"$ref": "#/$defs/EnvironmentV1"},
        "else": {"$ref": "#/$defs/Environment"},
        **definitions,
    }


def render() -> str:
    return json.dumps(environment_schema(), indent=2, ensure_ascii=False) + "\n"
