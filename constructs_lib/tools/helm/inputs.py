"""Reads the values a `helm template` command line would use: chart defaults, `-f`, then
`--set`, `--set-string` and `--set-file` in that order, as Helm applies them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path as FilePath
from typing import Any

import yaml

from ...errors import ConfigError, Problem, show
from ...model.loader import read_yaml
from . import known_keys, set_values
from .merge import Values, coalesce


@dataclass(frozen=True)
class Inputs:
    values: Values
    """The chart's defaults with the user's files and `--set` over them."""
    unknown: list[Problem]
    """Keys the chart does not read, each named with the file (or flag) that set it."""


def chart_defaults() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("chart_defaults.yaml").read_text("utf-8")
    defaults = yaml.safe_load(text)
    assert isinstance(defaults, dict)
    return defaults


def gather(files: list[str], sets: list[str], set_strings: Sequence[str] = (),
           set_files: Sequence[str] = ()) -> Inputs:
    """Raises ConfigError for unreadable files and malformed `--set*`, all of them at once.

    Helm applies every `--set`, then every `--set-string`, then every `--set-file`, whatever
    their order on the command line, so a later kind wins over an earlier one."""
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
    assignments: list[set_values.Assignment] = []
    for flag, arguments in ((set_values.SOURCE, sets), (set_values.STRING_SOURCE, set_strings),
                            (set_values.FILE_SOURCE, set_files)):
        try:
            assignments += set_values.apply_arguments(user, list(arguments), flag)
        except ConfigError as err:
            problems.extend(err.problems)
    if problems:
        raise ConfigError(problems)
    for assignment in assignments:
        problem = known_keys.unknown_path(assignment.path, assignment.source)
        if problem is not None and problem not in unknown:
            unknown.append(problem)
    return Inputs(coalesce(chart_defaults(), user), unknown)
