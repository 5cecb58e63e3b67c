"""docs/api.md: generated from the code, committed fresh, and complete: every public construct,
every props field with its docstring and default, every environment key."""

from __future__ import annotations

import dataclasses
import re

import pytest

import constructs_lib
from constructs_lib.tools.reference import api, environment_doc, schema
from constructs_lib.tools.reference.props import REQUIRED, dataclass_bases, own_fields
from tests.conftest import ROOT

COMMITTED = ROOT / "docs" / "api.md"
PROPS = api.public_props()


@pytest.fixture(scope="module")
def rendered() -> str:
    return api.render()


def test_the_committed_reference_is_what_the_code_generates(rendered: str) -> None:
    assert COMMITTED.read_text() == rendered, (
        "docs/api.md is stale: run `python -m constructs_lib docs`")


def test_every_public_construct_has_a_section_with_its_docstring_and_props(rendered: str) -> None:
    constructs = api.public_constructs()
    assert {c.__name__ for c in constructs} == {
        n for n in constructs_lib.__all__ if not n.endswith("Props")}
    for construct in constructs:
        assert construct.__doc__, f"{construct.__name__} has no docstring"
        assert f"\n### {construct.__name__}\n" in rendered
        assert construct.__doc__.strip().splitlines()[0] in rendered
        props = api.props_of(construct)
        if construct.__name__ == "DependencyCluster":
            # Made by DependencyStack from its own settings; documented for its attributes.
            assert props is None
            continue
        assert props is not None
        assert f"({_anchor(props)})" in rendered


@pytest.mark.parametrize("props", PROPS, ids=lambda p: p.__name__)
def test_every_props_field_is_documented_with_its_default(props: type, rendered: str) -> None:
    fields = own_fields(props)
    inherited = {f.name for base in dataclass_bases(props) for f in dataclasses.fields(base)}
    # Every field a props class adds is its own; one it declares again (a new default) too.
    assert {f.name for f in dataclasses.fields(props)} - inherited <= {f.name for f in fields}
    section = rendered.split(f'<a id="{props.__name__.lower()}"></a>')[1].split("<a id=")[0]
    for field in fields:
        assert field.doc, f"{props.__name__}.{field.name} has no docstring"
        if field.default != REQUIRED:
            assert "Default" in field.doc, (
                f"{props.__name__}.{field.name}: the docstring should say the default")
        row = next(line for line in section.splitlines() if line.startswith(f"| `{field.name}` |"))
        assert field.doc.split()[0] in row
        assert (REQUIRED in row) == (field.default == REQUIRED)


def test_every_environment_key_is_in_the_environment_file_reference(rendered: str) -> None:
    environment_part = rendered.split('<a id="environment-files"></a>')[1]
    generated = schema.environment_schema()
    sections = {generated["title"]: generated, **generated["$defs"]}
    for name, definition in sections.items():
        assert f'<a id="env-{name.lower()}"></a>' in environment_part, name
        part = environment_part.split(f'<a id="env-{name.lower()}"></a>')[1].split("<a id=")[0]
        # A section that may also be a string (kv-transfer-config) lists its mapping's keys.
        for key in environment_doc.keyed_form(definition)[0].get("properties", {}):
            assert re.search(rf"^\| `{re.escape(key)}` \|", part, re.M), f"{name}.{key}"
    links = set(re.findall(r"\]\(#([a-z0-9-]+)\)", rendered))
    anchors = set(re.findall(r'<a id="([a-z0-9-]+)"></a>', rendered))
    assert links <= anchors, f"links to nothing: {links - anchors}"


def _anchor(cls: type) -> str:
    return f"#{cls.__name__.lower()}" if dataclasses.is_dataclass(cls) else (
        f"#env-{cls.__name__.lower()}")
