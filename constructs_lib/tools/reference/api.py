"""docs/api.md: every public construct with its props, and the environment file reference,
rendered from the code's own docstrings."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from typing import Any

from constructs import Construct
from pydantic import BaseModel

import constructs_lib

from . import environment_doc, schema
from .markdown import cell, paragraph
from .props import members, own_fields

HEADER = """\
# API reference

Generated from the code by `python -m constructs_lib docs`; edit the docstrings, not this file
(a test fails when it is stale).

The constructs are importable from `constructs_lib` and compose like any cdk8s construct:
`Construct(scope, id, props)`, with props as frozen dataclasses of keyword arguments. The
environment file format, which `DynamoChart` takes loaded (`constructs_lib.model.loader.
load_environment(path)`), is described in [the second part](#environment-files); its JSON
Schema is `schema/environment.schema.json`.
"""


def public_constructs() -> list[type[Construct]]:
    return [value for value in _public() if issubclass(value, Construct)]


def public_props() -> list[type[Any]]:
    return [value for value in _public()
            if isinstance(value, type) and dataclasses.is_dataclass(value)]


def props_of(construct: type[Construct]) -> type[Any] | None:
    """The class of the construct's third argument (its props or the environment)."""
    hints = typing.get_type_hints(construct.__init__)
    parameters = list(inspect.signature(construct.__init__).parameters)
    if len(parameters) < 4:
        return None
    hint = hints[parameters[3]]
    candidates = typing.get_args(hint) or (hint,)
    # Only props classes and models: a construct built from plain values (a DependencyCluster
    # from its manifests) has no props to document.
    return next((c for c in candidates if inspect.isclass(c)
                 and (dataclasses.is_dataclass(c) or issubclass(c, BaseModel))), None)


def render() -> str:
    lines = [HEADER, "## Constructs", "", "| construct | takes | what it is |", "|---|---|---|"]
    constructs = public_constructs()
    for construct in constructs:
        props = props_of(construct)
        lines.append(f"| [{construct.__name__}](#{_anchor(construct)}) | "
                     f"{_link(props) if props else ''} | {cell(_summary(construct))} |")
    documented: set[type[Any]] = set()
    for construct in constructs:
        lines += _construct_section(construct)
        props = props_of(construct)
        if props is not None and dataclasses.is_dataclass(props):
            lines += _props_section(props, level="####")
            documented.add(props)
    shared = [p for p in public_props() if p not in documented]
    if shared:
        lines += ["", "## Shared props"]
        for props in shared:
            lines += _props_section(props, level="###")
    lines += ["", '<a id="environment-files"></a>', "", "## Environment files", "",
              "One file per environment in `environments/`, in YAML. Unknown keys are "
              "refused. Generated from the typed model `constructs_lib.model.Environment`."]
    lines += environment_doc.render(schema.environment_schema())
    return "\n".join(lines).rstrip("\n") + "\n"


def _public() -> list[Any]:
    return [getattr(constructs_lib, name) for name in sorted(constructs_lib.__all__)]


def _construct_section(construct: type[Construct]) -> list[str]:
    parameters = [f"{name}: {_annotation(p)}" + (" = None" if p.default is None else "")
                  for name, p in inspect.signature(construct.__init__).parameters.items()
                  if name != "self"]
    lines = ["", f'<a id="{_anchor(construct)}"></a>', "", f"### {construct.__name__}", "",
             f"`{construct.__name__}({', '.join(parameters)})`, in "
             f"`{construct.__module__.replace('.', '/')}.py`", "",
             paragraph(inspect.getdoc(construct) or "")]
    attributes = members(construct)
    if attributes:
        lines += ["", "| attribute | type | description |", "|---|---|---|"]
        lines += [f"| `{a.name}` | {f'`{cell(a.type)}`' if a.type else ''} | {cell(a.doc)} |"
                  for a in attributes]
    public = set(public_constructs())
    bases = [b for b in construct.__mro__[1:] if b in public]
    if bases:
        lines += ["", "Also has the attributes of " + ", ".join(
            f"[{b.__name__}](#{_anchor(b)})" for b in bases) + "."]
    return lines


def _props_section(props: type[Any], level: str) -> list[str]:
    lines = ["", f'<a id="{_anchor(props)}"></a>', "", f"{level} {props.__name__}", ""]
    doc = props.__doc__ or ""
    if doc and not doc.startswith(f"{props.__name__}("):  # not dataclass's generated one
        lines += [paragraph(inspect.cleandoc(doc)), ""]
    lines += ["| field | type | default | description |", "|---|---|---|---|"]
    for field in own_fields(props):
        default = field.default if field.default == "required" else f"`{field.default}`"
        lines.append(f"| `{field.name}` | `{cell(field.type)}` | {cell(default)} | "
                     f"{cell(field.doc)} |")
    bases = [b for b in props.__mro__[1:] if dataclasses.is_dataclass(b)]
    if bases:
        lines += ["", "Also takes every field of " + ", ".join(_link(b) for b in bases) + "."]
    return lines


def _summary(cls: type[Any]) -> str:
    return (inspect.getdoc(cls) or "").split("\n\n")[0]


def _annotation(parameter: inspect.Parameter) -> str:
    annotation = parameter.annotation
    return annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")


def _anchor(cls: type[Any]) -> str:
    return cls.__name__.lower()


def _link(cls: type[Any]) -> str:
    if dataclasses.is_dataclass(cls):
        return f"[{cls.__name__}](#{_anchor(cls)})"
    return f"[{cls.__name__}](#{environment_doc.anchor(cls.__name__)})"
