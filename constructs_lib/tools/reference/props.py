"""What the code says about a props dataclass (each field's type, default and docstring) and
about a construct (the public attributes it declares, with theirs).

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


@dataclass(frozen=True)
class MemberDoc:
    name: str
    """As a reader uses it: `name`, or `name()` for a method."""
    type: str
    """The annotation as written (a property's or method's return annotation), or ''."""
    doc: str
    """The first paragraph of its docstring, or ''."""


def members(cls: type[Any]) -> list[MemberDoc]:
    """The public attributes `cls` itself declares, in source order: properties, methods, and
    names annotated in the class body with a docstring after them, as props fields are (for
    attributes that `__init__` sets). An annotation without a docstring is left out: it may be
    an implementation detail."""
    body = _class_node(cls).body
    found: dict[str, MemberDoc] = {}
    for index, node in enumerate(body):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            following = body[index + 1] if index + 1 < len(body) else None
            doc = _string(following)
            name = node.target.id
            if doc and not name.startswith("_"):
                found.setdefault(name, MemberDoc(name, ast.unparse(node.annotation),
                                                 _first_paragraph(doc)))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for name, annotation, doc in _instance_attributes(node.body):
                if not name.startswith("_"):
                    found.setdefault(name, MemberDoc(name, annotation, _first_paragraph(doc)))
            member = vars(cls).get(node.name)
            if node.name.startswith("_") or node.name in found:
                continue  # private, or a property's setter
            function = (member.fget if isinstance(member, property) else
                        member.__func__ if isinstance(member, staticmethod | classmethod) else
                        member if inspect.isfunction(member) else None)
            if function is None:
                continue
            shown = node.name if isinstance(member, property) else f"{node.name}()"
            returns = ast.unparse(node.returns) if node.returns else ""
            found[node.name] = MemberDoc(shown, returns,
                                         _first_paragraph(inspect.getdoc(function) or ""))
    return list(found.values())


def _instance_attributes(body: list[ast.stmt]) -> list[tuple[str, str, str]]:
    """`self.name = ...` (or `self.name: T = ...`) statements of a method followed by a
    docstring, as attributes set in `__init__` are documented: name, annotation, docstring."""
    found = []
    for index, node in enumerate(body):
        target = (node.target if isinstance(node, ast.AnnAssign) else
                  node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1
                  else None)
        if (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                and target.value.id == "self"):
            doc = _string(body[index + 1] if index + 1 < len(body) else None)
            annotation = ast.unparse(node.annotation) if isinstance(node, ast.AnnAssign) else ""
            if doc:
                found.append((target.attr, annotation, doc))
        for block in ("body", "orelse", "finalbody"):
            nested = getattr(node, block, None)
            if isinstance(nested, list) and not isinstance(node, ast.FunctionDef):
                found += _instance_attributes(nested)
    return found


def _first_paragraph(doc: str) -> str:
    return inspect.cleandoc(doc).split("\n\n")[0]


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
