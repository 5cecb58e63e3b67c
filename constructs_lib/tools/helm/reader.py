"""Reads merged values key by key, collecting problems, and builds the model's data.

Each value is read by its Helm path and checked for the shape the chart expects; each setting
written for the model remembers the Helm key (and the file) it came from, so that the model's
own errors can be reported in the user's terms.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ...errors import Problem, show
from .merge import Path, Values
from .set_values import dotted

MISSING: Any = object()
"""Not set: the model's default applies."""

# A model field path as the rules write it in their messages (`frontend.config.Common.model`,
# `dependencies.etcd.endpoints_override`); a lone word counts only with an underscore, which no
# English word in a message has.
_FIELD_PATH = re.compile(r"(?<![\w./'\"-])[a-z][\w-]*(?:\.[A-Za-z][\w-]*|\[\d+\])*")


class Reader:
    def __init__(self, values: Values) -> None:
        self.values = values
        self.data: dict[str, Any] = {}
        """What Environment.model_validate receives."""
        self.where: dict[str, tuple[str, str]] = {}
        """Model field path -> (source, Helm key) it was read from."""
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self._bad_mappings: set[Path] = set()

    # -- reading values -------------------------------------------------------------------

    def get(self, path: Path, default: Any = MISSING) -> Any:
        node: Any = self.values.tree
        for depth, part in enumerate(path):
            if not isinstance(node, Mapping):
                self._not_a_mapping(path[:depth], node)
                return default
            if part not in node:
                return default
            node = node[part]
        return node

    def _not_a_mapping(self, path: Path, value: Any) -> None:
        if path not in self._bad_mappings:
            self._bad_mappings.add(path)
            self.problem(path, f"expected a mapping of keys, got {show(value)}")

    def problem(self, path: Path, message: str) -> None:
        self.problems.append(Problem(self.values.origin(path), dotted(path), message))

    def warn(self, path: Path, message: str) -> None:
        self.warnings.append(Problem(self.values.origin(path), dotted(path), message))

    def flag(self, path: Path, default: bool) -> bool:
        value = self.get(path, default)
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            self.problem(path, f"expected true or false, got the string {value!r} (Helm "
                               "treats every non-empty string as true; write true or false, "
                               "unquoted)")
        else:
            self.problem(path, f"expected true or false, got {show(value)}")
        return default

    def integer(self, path: Path, default: Any = MISSING) -> Any:
        value = self.get(path, default)
        if value is MISSING or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        digits = value.strip().lstrip("+-") if isinstance(value, str) else ""
        if digits.isdigit() and digits.isascii():
            if len(digits) <= 19:  # Python converts at most 4300 digits; Kubernetes stores 64 bits
                return int(value)
            self.problem(path, f"expected a whole number of at most 64 bits, got {show(value)}")
            return MISSING
        self.problem(path, f"expected a whole number, got {show(value)}")
        return MISSING

    def mapping(self, path: Path) -> dict[str, Any]:
        value = self.get(path, {})
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self._not_a_mapping(path, value)
            return {}
        return dict(value)

    def text(self, path: Path, default: Any = MISSING) -> Any:
        """A string setting; numbers are taken as Helm prints them (`tag: 2` is "2")."""
        value = self.get(path, default)
        if isinstance(value, bool):
            self.problem(path, f"expected a string, got {show(value)}")
            return MISSING
        if isinstance(value, (int, float)):
            return str(value)
        return value

    # -- writing the model ----------------------------------------------------------------

    def put(self, field: str, path: Path | None, value: Any, source: str | None = None) -> None:
        """Set `field` (dotted model path) and remember which Helm key it came from."""
        if value is MISSING:
            return
        node = self.data
        *parents, last = field.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
        if path is not None:
            self.where[field] = (source or self.values.origin(path), dotted(path))
        elif source is not None:
            self.where[field] = (source, "")

    def key_of(self, field: str, path: Path) -> None:
        """Remember the Helm key of a model setting left at its default: the rules may still
        report it, or mention it in a message about another setting."""
        self.where.setdefault(field, (self.values.origin(path), dotted(path)))

    def locate(self, problem: Problem) -> Problem | None:
        """A model problem, named by the Helm key its value was read from, and worded with the
        Helm keys of the other settings its message mentions."""
        found = self._helm_key(problem.field.replace(".[key]", ""))
        if found is None:
            return None
        source, key = found
        return Problem(source, key, self.in_helm_terms(problem.message))

    def in_helm_terms(self, message: str) -> str:
        def helm(match: re.Match[str]) -> str:
            path = match.group()
            found = self._helm_key(path) if "." in path or "_" in path else None
            return found[1] if found and found[1] else path
        return _FIELD_PATH.sub(helm, message)

    def _helm_key(self, field: str) -> tuple[str, str] | None:
        """(source, Helm key) of a model field path, or of the setting it lies within."""
        for model_path in sorted(self.where, key=len, reverse=True):
            if field == model_path or field.startswith((f"{model_path}.", f"{model_path}[")):
                source, helm = self.where[model_path]
                return source, (helm + field[len(model_path):]).lstrip(".")
        return None
