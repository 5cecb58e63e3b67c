"""The environment file reference, in Markdown, rendered from the environment's JSON Schema so
that the two never disagree: every key with its type, default and description."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .markdown import cell, paragraph

REF_PREFIX = "#/$defs/"


def anchor(name: str) -> str:
    return f"env-{name.lower()}"


def render(schema: dict[str, Any]) -> list[str]:
    definitions = schema.get("$defs", {})
    lines: list[str] = []
    for name, definition in _in_reading_order(schema, definitions):
        lines += ["", f'<a id="{anchor(name)}"></a>', "", f"### {name}", ""]
        if definition.get("description"):
            lines += [paragraph(definition["description"]), ""]
        if "enum" in definition:
            lines.append("One of " + ", ".join(f"`{v}`" for v in definition["enum"]) + ".")
            continue
        definition, others = keyed_form(definition)
        if "properties" not in definition and not others:
            refs = list(_refs({k: v for k, v in definition.items() if k != "$defs"}))
            lines.append("See " + " and ".join(f"[{r}](#{anchor(r)})" for r in refs) + ".")
            continue
        if others:
            lines += [f"A mapping of these keys, or the same as "
                      f"{' or as '.join(type_of(o) for o in others)}:", ""]
        required = set(definition.get("required", []))
        lines += ["| key | type | default | description |", "|---|---|---|---|"]
        for key, field in definition.get("properties", {}).items():
            default = ("required" if key in required else
                       "each key's default" if _is_section_default(field, definitions) else
                       _value(field.get("default")))
            lines.append(f"| `{key}` | {cell(type_of(field))} | {cell(default)} | "
                         f"{cell(field.get('description', ''))} |")
        if definition.get("additionalProperties") is True:
            lines += ["", "Keys not listed are accepted too, as the description above says."]
    return lines


def keyed_form(definition: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A section that may also be written another way (vLLM's kv-transfer-config: a mapping, or
    the same as a JSON string): its mapping form, whose keys make the table, and the others."""
    options = definition.get("anyOf", [])
    keyed = [o for o in options if "properties" in o]
    if "properties" in definition or len(keyed) != 1:
        return definition, []
    return keyed[0], [o for o in options if o is not keyed[0]]


def type_of(schema: dict[str, Any]) -> str:
    """A reader's name for a schema: `integer (>= 1)`, `list of string`, a link to a section."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix(REF_PREFIX)
        return f"[{name}](#{anchor(name)})"
    if "anyOf" in schema:
        options = [o for o in schema["anyOf"] if o.get("type") != "null"]
        nullable = len(options) < len(schema["anyOf"])
        return " or ".join(type_of(o) for o in options) + (" or null" if nullable else "")
    if "enum" in schema:
        return "one of " + ", ".join(f"`{v}`" for v in schema["enum"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list of {type_of(schema.get('items', {}))}"
    if kind == "object":
        values = schema.get("additionalProperties")
        return f"map of string to {type_of(values)}" if isinstance(values, dict) else "map"
    if schema.get("contentMediaType") == "application/json":
        return f"{kind} (JSON)"
    bounds = [f"{symbol} {schema[key]}" for key, symbol in
              (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="),
               ("exclusiveMaximum", "<")) if key in schema]
    return f"{kind} ({', '.join(bounds)})" if bounds else str(kind)


def _is_section_default(field: dict[str, Any], definitions: dict[str, Any]) -> bool:
    """A section whose default is the defaults of its own keys, listed in its own table."""
    name = field.get("$ref", "").removeprefix(REF_PREFIX)
    section = definitions.get(name, {})
    keys = section.get("properties", {})
    own = {key: value["default"] for key, value in keys.items() if "default" in value}
    return bool(keys) and field.get("default") == own


def _value(value: Any) -> str:
    """A default as it would be written in the YAML file."""
    if isinstance(value, str):
        return f"`{value}`"
    if isinstance(value, dict):
        value = _without_nulls(value)
    return f"`{json.dumps(value, separators=(', ', ': '))}`"


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def _in_reading_order(schema: dict[str, Any],
                      definitions: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The top level first, then each section after the first section that refers to it."""
    seen: list[str] = []
    queue: list[tuple[str, dict[str, Any]]] = [(schema.get("title", "Environment"), schema)]
    while queue:
        name, definition = queue.pop(0)
        yield name, definition
        for ref in _refs(definition):
            if ref not in seen:
                seen.append(ref)
                queue.append((ref, definitions[ref]))


def _refs(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str):
                yield value.removeprefix(REF_PREFIX)
            elif key != "$defs":
                yield from _refs(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _refs(item)
