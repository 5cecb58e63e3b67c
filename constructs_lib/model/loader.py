"""Reads environment files into the typed model, turning every mistake into a located problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import ConfigError, Problem, show
from .environment import Environment


def field_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic location as the user would write it: `frontend.config.VllmWorker.model`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
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
        loc = tuple(p for p in item["loc"] if not str(p).startswith("function-"))
        # pydantic names union members in the location; the user never wrote those
        loc = tuple(p for p in loc if not (isinstance(p, str) and p in _UNION_TAGS))
        kind, received = item["type"], item.get("input")
        if kind == "extra_forbidden":
            owner = _model_at(root, loc[:-1])
            allowed = sorted(f.alias or n for n, f in owner.model_fields.items()) if owner else []
            message = f"unknown key; allowed here: {', '.join(allowed)}" if allowed else "unknown key"
        elif kind == "missing":
            message = "required, but missing"
        else:
            text = item["msg"].removeprefix("Value error, ")
            message = f"{text} (received {show(received)})" if "received" not in text else text
        problems.append(Problem(source, field_path(prefix + loc), message))
    return problems


_UNION_TAGS = {"str", "int", "float", "bool", "list[str]", "dict[str,str]", "none"}


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(str(path), "", "file not found")]) from None
    except OSError as err:
        raise ConfigError([Problem(str(path), "", f"cannot be read ({err.strerror})")]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        reason = getattr(err, "problem", None) or str(err)
        raise ConfigError([Problem(str(path), "", f"invalid YAML: {where}{reason}")]) from None


def load_environment(path: Path | str) -> Environment:
    """Load and validate one environment file; raises ConfigError listing every problem."""
    path = Path(path)
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError([Problem(str(path), "", f"expected a mapping of settings, got {show(data)}")])
    try:
        return Environment.model_validate(data)
    except ValidationError as err:
        raise ConfigError(problems_from(err, str(path), Environment)) from None
