"""How the environment file reference names schema types and defaults."""

from __future__ import annotations

from constructs_lib.tools.reference.environment_doc import render, type_of


def test_types_read_as_a_reader_would_say_them() -> None:
    assert type_of({"type": "integer", "minimum": 1, "maximum": 65535}) == (
        "integer (>= 1, <= 65535)")
    assert type_of({"anyOf": [{"$ref": "#/$defs/Image"}, {"type": "null"}]}) == (
        "[Image](#env-image) or null")
    assert type_of({"type": "array", "items": {"type": "string"}}) == "list of string"
    assert type_of({"type": "object", "additionalProperties": {"type": "string"}}) == (
        "map of string to string")
    assert type_of({"enum": ["a", "b"], "type": "string"}) == "one of `a`, `b`"
    assert type_of({"type": "string", "contentMediaType": "application/json"}) == "string (JSON)"


def test_a_section_defaulting_to_its_own_defaults_says_so_instead_of_repeating_them() -> None:
    schema = {
        "title": "Top", "type": "object", "required": ["name"],
        "properties": {
            "name": {"type": "string", "description": "The\n  name."},
            "plain": {"$ref": "#/$defs/Part", "default": {"size": 1}},
            "tuned": {"$ref": "#/$defs/Part", "default": {"size": 2}},
        },
        "$defs": {"Part": {"type": "object", "properties": {"size": {"type": "integer",
                                                                     "default": 1}}}},
    }
    lines = render(schema)
    assert "| `name` | string | required | The name. |" in lines
    assert "| `plain` | [Part](#env-part) | each key's default |  |" in lines
    assert '| `tuned` | [Part](#env-part) | `{"size": 2}` |  |' in lines
    assert lines.index("### Top") < lines.index("### Part")


def test_a_section_that_may_also_be_written_as_a_string_lists_the_keys_of_its_mapping() -> None:
    # As vLLM's kv-transfer-config: a mapping, or the same as a JSON string.
    schema = {
        "title": "Top", "type": "object",
        "properties": {"kv": {"$ref": "#/$defs/Kv"}},
        "$defs": {"Kv": {"description": "Either form.", "anyOf": [
            {"type": "string", "contentMediaType": "application/json"},
            {"type": "object", "required": ["connector"], "properties": {
                "connector": {"type": "string", "description": "Which."},
                "role": {"type": "string", "default": "both"}}}]}},
    }
    lines = render(schema)
    section = lines[lines.index("### Kv"):]
    assert section[:5] == ["### Kv", "", "Either form.", "",
                           "A mapping of these keys, or the same as string (JSON):"]
    assert "| `connector` | string | required | Which. |" in section
    assert "| `role` | string | `both` |  |" in section


def test_an_open_section_says_what_its_other_keys_are() -> None:
    from constructs_lib.tools.reference.schema import environment_schema

    for name, definition in environment_schema()["$defs"].items():
        if definition.get("additionalProperties") is True:
            assert "not listed" in definition.get("description", ""), name
