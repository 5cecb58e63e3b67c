"""The JSON Schema of an environment file, generated from the typed model.

Editors with the YAML language server read it through the `# yaml-language-server: $schema=`
comment at the top of each environment file: completion, hover text (the model's field
docstrings) and a mark on unknown keys and wrong types. The loader remains the authority: it
also checks what a schema cannot say, such as a multinode environment needing `prefill`.
"""

from __future__ import annotations

import json
from typing import Any

from ...model.environment import Environment

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def environment_schema() -> dict[str, Any]:
    """The schema of what an environment file may say, in the file's own key names."""
    schema = Environment.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": DIALECT, **schema}


def render() -> str:
    return json.dumps(environment_schema(), indent=2, ensure_ascii=False) + "\n"
