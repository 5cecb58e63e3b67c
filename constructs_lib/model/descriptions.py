"""Field descriptions for the JSON Schema and the reference docs, read from the models' source.

Each field is documented by the string literal under it, as the constructs' props are. pydantic
can read those itself (`use_attribute_docstrings`), but it then parses the source of every model
class on every import: about 45 ms of each synth, for text that only the `schema` and `docs`
commands show. So the models are built without them, and `describe` adds them when a command
needs them.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import sys
import textwrap
import typing

from pydantic import BaseModel

_DESCRIBED = "__dynamo_cdk8s_described__"


def attribute_docstrings(cls: type) -> dict[str, str]:
    """The string literal under each annotated attribute of `cls`'s own body, by name, cleaned
    as docstrings are."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    [definition] = ast.parse(source).body
    assert isinstance(definition, ast.ClassDef)
    found: dict[str, str] = {}
    body = definition.body
    for statement, following in itertools.pairwise(body):
        if (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)):
            found[statement.target.id] = inspect.cleandoc(following.value.value)
    return found


def describe(package: str = "constructs_lib.model") -> None:
    """Give every field of the pydantic models defined in `package`'s loaded modules the
    description its docstring holds (where the field has none), and rebuild the models so that
    their JSON Schema shows it. Calling it again changes nothing."""
    models = [value for name, module in sorted(sys.modules.items())
              if module is not None and (name == package or name.startswith(f"{package}."))
              for value in vars(module).values()
              if isinstance(value, type) and issubclass(value, BaseModel)
              and value.__module__ == name]
    changed = []
    for model in models:
        if model.__dict__.get(_DESCRIBED):
            continue
        docs: dict[str, str] = {}
        for base in reversed(model.__mro__):
            if base is not BaseModel and issubclass(base, BaseModel):
                docs.update(attribute_docstrings(base))
        for name, field in model.model_fields.items():
            if field.description is None and name in docs:
                field.description = docs[name]
        setattr(model, _DESCRIBED, True)
        changed.append(model)
    # A model's schema embeds the schemas of the models its fields hold, as they were built:
    # rebuild those first.
    for model in _held_first(changed):
        model.model_rebuild(force=True)


def _held_first(models: list[type[BaseModel]]) -> list[type[BaseModel]]:
    ordered: list[type[BaseModel]] = []
    seen: set[type[BaseModel]] = set()

    def visit(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        for field in model.model_fields.values():
            for held in _models_in(field.annotation):
                visit(held)
        ordered.append(model)

    for model in models:
        visit(model)
    wanted = set(models)
    return [model for model in ordered if model in wanted]


def _models_in(annotation: object) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds (`X | None`, `list[X]`, `Annotated[X, ...]`)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [held for argument in typing.get_args(annotation) for held in _models_in(argument)]
