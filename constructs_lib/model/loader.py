"""Reads environment files into the typed model, turning every mistake into a located problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import ConfigError, Problem, quoted, show
from . import yaml_input
from .environment import Environment
from .rules import RuleViolations
from .rules import warnings as rule_warnings


def field_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic location as the user would write it: `frontend.config.VllmWorker.model`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            key = str(part) if len(str(part)) <= 60 else f"{str(part)[:57]}..."
            path += f".{key}" if path else key
    return path


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class that owns the mapping at `loc`, to list the keys it allows."""
    current: Any = model
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = next(
            (f for n, f in current.model_fields.items() if part in (n, f.alias)), None
        )
        if field is None:
            return None
        current = _first_model(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _first_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _first_model(arg)
        if found is not None:
            return found
    return None


def problems_from(error: ValidationError, source: str, root: type[BaseModel],
                  prefix: tuple[int | str, ...] = ()) -> list[Problem]:
    problems = []
    for item in error.errors(include_url=False):
        violations = item.get("ctx", {}).get("error")
        if isinstance(violations, RuleViolations):
            problems += [Problem(source, f.field, f.message) for f in violations.findings]
            continue
        loc = tuple(p for p in item["loc"] if not str(p).startswith("function-"))
        # pydantic names union members in the location; the user never wrote those
        loc = tuple(p for p in loc if not (isinstance(p, str) and p in _UNION_TAGS))
        kind, received = item["type"], item.get("input")
        if kind == "extra_forbidden":
            owner = _model_at(root, loc[:-1])
            allowed = sorted(f.alias or n for n, f in owner.model_fields.items()) if owner else []
            message = (f"unknown key; allowed here: {', '.join(allowed)}" if allowed
                       else "unknown key")
        elif kind == "missing":
            message = "required, but missing"
        else:
            text = item["msg"].removeprefix("Value error, ")
            # Messages that quote the value already need no "(received ...)" after them.
            already = isinstance(received, str) and text.startswith(quoted(received))
            if not already and "received" not in text:
                text += f" (received {show(received)})"
            message = text
        problems.append(Problem(source, field_path(prefix + loc), message))
    return problems


_UNION_TAGS = {"str", "int", "float", "bool", "list[str]", "dict[str,str]", "none"}


def read_yaml(path: Path) -> Any:
    """The document of a YAML file, read within the limits of `yaml_input` and the YAML 1.2
    way; raises ConfigError naming the file, and the key and line of each problem."""
    try:
        text = yaml_input.read_text(path)
    except yaml_input.FileError as err:
        raise ConfigError([Problem(str(path), "", err.message)]) from None
    try:
        return yaml_input.parse(text)
    except yaml_input.YamlError as err:
        raise ConfigError([Problem(str(path), p.field, p.message)
                           for p in err.problems]) from None


def load_environment(path: Path | str, warnings: list[Problem] | None = None) -> Environment:
    """Load and validate one environment file; raises ConfigError listing every problem.

    Settings that are legal but probably unintended are appended to `warnings` when given.
    """
    path = Path(path)
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError([Problem(str(path), "",
                                   f"expected a mapping of settings, got {show(data)}")])
    try:
        environment = Environment.model_validate(data)
    except ValidationError as err:
        raise ConfigError(problems_from(err, str(path), Environment)) from None
    if warnings is not None:
        warnings += [Problem(str(path), f.field, f.message) for f in rule_warnings(environment)]
    return environment
