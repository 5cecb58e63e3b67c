"""Helm's layering of values: `-f` files merged in order, `--set` applied, chart defaults under.

Helm does this in two steps, and the difference shows with null. The user's files are merged
with one another first (maps merge, anything else replaces, later wins, a null is kept as a
value); `--set` then edits that result; and only then is it coalesced onto the chart's
defaults, where a null deletes the key. So a null in one file followed by a map in a later file
leaves the chart's other keys of that map in place, while a null that survives deletes them.

Every key records the source (file name, `--set`, `--set-file FILE`, `chart defaults`...) that
last set it, so that problems can name the file a wrong value came from.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

Path = tuple[str | int, ...]
CHART_DEFAULTS = "chart defaults"


@dataclass
class Values:
    """Values being layered, with the source of every key."""

    tree: dict[str, Any] = field(default_factory=dict)
    origins: dict[Path, str] = field(default_factory=dict)

    def origin(self, path: Path) -> str:
        """The source that last set `path` or, failing that, its closest parent."""
        for end in range(len(path), 0, -1):
            if path[:end] in self.origins:
                return self.origins[path[:end]]
        return CHART_DEFAULTS

    def merge_file(self, values: dict[str, Any], source: str) -> None:
        """Helm's merge of one more `-f` file into the user's values (nulls are kept)."""
        _merge(self.tree, values, (), source, self.origins)

    def mark(self, path: Path, source: str) -> None:
        for end in range(1, len(path) + 1):
            self.origins[path[:end]] = source


def _merge(base: dict[str, Any], layer: dict[str, Any], prefix: Path, source: str,
           origins: dict[Path, str]) -> None:
    for key, value in layer.items():
        path = (*prefix, key)
        origins[path] = source
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value, path, source, origins)
        else:
            base[key] = copy.deepcopy(value)
            _mark_below(value, path, source, origins)


def _mark_below(value: Any, prefix: Path, source: str, origins: dict[Path, str]) -> None:
    if isinstance(value, dict):
        items: Any = value.items()
    else:
        items = enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        origins[(*prefix, key)] = source
        _mark_below(item, (*prefix, key), source, origins)


def coalesce(defaults: dict[str, Any], user: Values) -> Values:
    """The user's values over the chart's defaults; a null the user left in deletes the key."""
    origins: dict[Path, str] = {}
    _mark_below(defaults, (), CHART_DEFAULTS, origins)
    tree = copy.deepcopy(defaults)
    deleted: list[Path] = []
    _coalesce(tree, user.tree, (), deleted)
    # What a null deleted is gone, so a key asked for below it is named by the null's source.
    origins = {path: source for path, source in origins.items()
               if not any(path[:len(gone)] == gone for gone in deleted)}
    origins.update(user.origins)
    return Values(tree, origins)


def _coalesce(base: dict[str, Any], user: dict[str, Any], prefix: Path,
              deleted: list[Path]) -> None:
    for key, value in user.items():
        if value is None:
            base.pop(key, None)
            deleted.append((*prefix, key))
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            _coalesce(base[key], value, (*prefix, key), deleted)
        else:
            base[key] = _without_nulls(copy.deepcopy(value))


def _without_nulls(value: Any) -> Any:
    # A null inside a map that has nothing underneath in the chart is dropped as well.
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value
