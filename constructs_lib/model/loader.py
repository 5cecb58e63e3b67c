"""Reads environment files into the typed model, turning every mistake into a located problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import ConfigError, KeyMistakes, Problem, did_you_mean, quoted, show
from . import yaml_input
from .dynamo_v1 import EnvironmentV1
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
    meant: set[tuple[int | str, ...]] = set()  # keys an unknown key probably misspells
    for item in error.errors(include_url=False):
        violations = item.get("ctx", {}).get("error")
        if isinstance(violations, RuleViolations):
            problems += [Problem(source, f.field, f.message) for f in violations.findings]
            continue
        loc = tuple(p for p in item["loc"] if not str(p).startswith("function-"))
        # pydantic names union members in the location; the user never wrote those
        loc = tuple(p for p in loc if not (isinstance(p, str) and p in _UNION_TAGS))
        if isinstance(violations, KeyMistakes):
            problems += [Problem(source, field_path(prefix + loc + (key,)), message)
                         for key, message in violations.mistakes.items()]
            continue
        kind, received = item["type"], item.get("input")
        if kind == "extra_forbidden":
            owner = _model_at(root, loc[:-1])
            allowed = sorted(f.alias or n for n, f in owner.model_fields.items()) if owner else []
            close = did_you_mean(str(loc[-1]), allowed) if loc else None
            hint = f" (did you mean {close!r}?)" if close else ""
            if close:
                meant.add(prefix + loc[:-1] + (close,))
            message = (f"unknown key{hint}; allowed here: {', '.join(allowed)}" if allowed
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
    # A required key reported missing next to its misspelling says the same thing twice.
    missing = {field_path(key) for key in meant}
    return [p for p in problems
            if not (p.message == "required, but missing" and p.field in missing)]


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


GENERATIONS = {"v0.1": Environment, "1.x": EnvironmentV1}
"""The environment model of each value of `dynamo` (v0.1 when the key is left out)."""


def environment_model(data: dict[str, Any]) -> type[Environment] | type[EnvironmentV1]:
    """The model a file's `dynamo` key selects (v0.1 when it is left out or unknown, so that
    the v0.1 model reports the unknown value)."""
    return EnvironmentV1 if data.get("dynamo") == "1.x" else Environment


def validate_environment(data: dict[str, Any], source: str) -> Environment | EnvironmentV1:
    """An environment from a file's settings; raises ConfigError listing every problem."""
    dynamo = data.get("dynamo", "v0.1")
    if dynamo not in GENERATIONS:
        raise ConfigError([Problem(source, "dynamo", (
            f"Input should be {' or '.join(map(repr, GENERATIONS))} (received {show(dynamo)})"))])
    model = environment_model(data)
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(problems_from(err, source, model)) from None


def load_environment(path: Path | str,
                     warnings: list[Problem] | None = None) -> Environment | EnvironmentV1:
    """Load and validate one environment file (Dynamo v0.1 or 1.x, as its `dynamo` key says);
    raises ConfigError listing every problem.

    Settings that are legal but probably unintended are appended to `warnings` when given.
    """
    path = Path(path)
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError([Problem(str(path), "",
                                   f"expected a mapping of settings, got {show(data)}")])
    environment = validate_environment(data, str(path))
    if warnings is not None:
        warnings += [Problem(str(path), f.field, f.message) for f in rule_warnings(environment)]
    return environment
