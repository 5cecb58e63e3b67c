"""Reads the values a `helm template` command line would use: chart defaults, `-f`, `--set`."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path as FilePath
from typing import Any

import yaml

from ..errors import ConfigError, Problem, show
from ..model.loader import read_yaml
from . import known_keys, set_values
from .merge import Values, coalesce


@dataclass(frozen=True)
class Inputs:
    values: Values
    """The chart's defaults with the user's files and `--set` over them."""
    unknown: list[Problem]
    """Keys the chart does not read, each named with the file (or `--set`) that set it."""


def chart_defaults() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("chart_defaults.yaml").read_text("utf-8")
    defaults = yaml.safe_load(text)
    assert isinstance(defaults, dict)
    return defaults


def gather(files: list[str], sets: list[str]) -> Inputs:
    """Raises ConfigError for unreadable files and malformed `--set`, all of them at once."""
    problems: list[Problem] = []
    unknown: list[Problem] = []
    user = Values()
    for name in files:
        try:
            data = read_yaml(FilePath(name))
        except ConfigError as err:
            problems.extend(err.problems)
            continue
        if data is None:
            continue  # Helm accepts an empty values file
        if not isinstance(data, dict):
            problems.append(Problem(name, "", f"expected a mapping of values, got {show(data)}"))
            continue
        unknown.extend(known_keys.unknown_in(data, name))
        user.merge_file(data, name)
    try:
        assignments = set_values.apply_arguments(user, sets)
    except ConfigError as err:
        problems.extend(err.problems)
        assignments = []
    if problems:
        raise ConfigError(problems)
    for assignment in assignments:
        problem = known_keys.unknown_path(assignment.path, set_values.SOURCE)
        if problem is not None and problem not in unknown:
            unknown.append(problem)
    return Inputs(coalesce(chart_defaults(), user), unknown)
