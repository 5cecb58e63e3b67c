"""What the code says about a props dataclass: each field's type, default and docstring.

Python keeps no attribute docstrings at runtime (a string statement after a field is discarded),
so they are read from the class's source with `ast`, as documentation tools do.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
from dataclasses import dataclass
from typing import Any

REQUIRED = "required"


@dataclass(frozen=True)
class FieldDoc:
    name: str
    type: str
    """The annotation as written in the source."""
    default: str
    """The default as written in the source, or REQUIRED."""
    doc: str
    """The field's docstring, or '' when it has none."""


def own_fields(cls: type[Any]) -> list[FieldDoc]:
    """The fields `cls` itself declares (not those it inherits), in declaration order."""
    declared = {f.name for f in dataclasses.fields(cls)}
    body = _class_node(cls).body
    fields = []
    for index, node in enumerate(body):
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        name = node.target.id
        if name not in declared:
            continue  # a ClassVar, which is not a field
        following = body[index + 1] if index + 1 < len(body) else None
        fields.append(FieldDoc(name, ast.unparse(node.annotation), _default(node.value),
                               _string(following)))
    return fields


def dataclass_bases(cls: type[Any]) -> list[type[Any]]:
    """The props classes `cls` inherits fields from, nearest first."""
    return [base for base in cls.__mro__[1:] if dataclasses.is_dataclass(base)]


def _class_node(cls: type[Any]) -> ast.ClassDef:
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    node = tree.body[0]
    assert isinstance(node, ast.ClassDef) and node.name == cls.__name__
    return node


def _default(value: ast.expr | None) -> str:
    if value is None:
        return REQUIRED
    if isinstance(value, ast.Call) and ast.unparse(value.func) in ("field", "dataclasses.field"):
        keywords = {k.arg: k.value for k in value.keywords}
        if "default" in keywords:
            return ast.unparse(keywords["default"])
        if "default_factory" in keywords:
            factory = ast.unparse(keywords["default_factory"])
            return {"dict": "{}", "list": "[]", "tuple": "()"}.get(factory, f"{factory}()")
        return REQUIRED
    return ast.unparse(value)


def _string(node: ast.stmt | None) -> str:
    if (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)):
        return inspect.cleandoc(node.value.value)
    return ""
