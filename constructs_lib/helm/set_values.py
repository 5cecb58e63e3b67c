"""Helm's `--set` syntax: `a.b=c,list[0].name=x,tags={a,b}`, typed as Helm 3 types it.

Keys are dotted paths; `\\.` is a dot inside a key (`graphs.single\\.py=...`), `[N]` a list index.
Assignments are separated by commas (`\\,` is a comma inside a value). A value `{x,y}` is a
list. Values are typed the way Helm 3 types them: `true`/`false` (any case) are booleans,
`null` is null (it deletes the key from the chart's defaults), a decimal integer without a
leading zero is an integer, and everything else, floats included, stays a string.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, Problem
from .merge import Path, Values

SOURCE = "--set"
# Helm refuses larger indices, so that `a[99999999]=x` cannot allocate a huge list.
MAX_INDEX = 65536


@dataclass(frozen=True)
class Assignment:
    path: Path
    value: Any

    @property
    def dotted(self) -> str:
        return dotted(self.path)


def dotted(path: Path) -> str:
    """A path as the user writes it: `multinode.prefill.replicas`, `imagePullSecrets[0].name`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def typed(text: str) -> Any:
    lowered = text.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    if lowered == "null":
        return None
    if text == "0":
        return 0
    if text and text[0] != "0":
        digits = text[1:] if text[0] in "+-" else text
        if digits.isdigit() and digits.isascii() and -(2**63) <= int(text) < 2**63:
            return int(text)
    return text


class _Reader:
    """Walks one `--set` argument character by character, honouring backslash escapes."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def done(self) -> bool:
        return self.pos >= len(self.text)

    def until(self, stops: str) -> tuple[str, str | None]:
        """Characters up to the first unescaped stop; returns them and the stop (None at end)."""
        out = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            self.pos += 1
            if char == "\\" and self.pos < len(self.text):
                out.append(self.text[self.pos])
                self.pos += 1
            elif char in stops:
                return "".join(out), char
            else:
                out.append(char)
        return "".join(out), None


def parse(argument: str) -> list[Assignment]:
    """The assignments of one `--set` argument; raises ConfigError naming what is wrong."""
    reader = _Reader(argument)
    assignments = []
    while not reader.done():
        assignments.append(_assignment(reader, argument))
    if not assignments:
        raise _error(argument, "empty; expected key=value, e.g. rdma.enable=false")
    return assignments


def _assignment(reader: _Reader, argument: str) -> Assignment:
    path: list[str | int] = []
    while True:
        key, stop = reader.until(".[=,")
        if key == "" and not (stop == "[" and path):
            raise _error(argument, f"empty key after {dotted(tuple(path)) or 'the start'!r}; "
                                   "expected key=value, e.g. rdma.enable=false")
        if key:
            path.append(key)
        while stop == "[":
            path.append(_index(reader, argument))
            stop = _after_index(reader, argument)
        if stop == ".":
            continue
        if stop == "=":
            return Assignment(tuple(path), _value(reader, argument))
        raise _error(argument, f"key {dotted(tuple(path))!r} has no value; expected key=value, "
                               "e.g. rdma.enable=false")


def _index(reader: _Reader, argument: str) -> int:
    text, stop = reader.until("]")
    if stop is None or not text.isdigit():
        raise _error(argument, f"list index [{text}] is not a number in brackets such as [0]")
    index = int(text)
    if index > MAX_INDEX:
        raise _error(argument, f"list index {index} is larger than Helm allows ({MAX_INDEX})")
    return index


def _after_index(reader: _Reader, argument: str) -> str:
    if reader.done():
        return ""
    char = reader.text[reader.pos]
    reader.pos += 1
    if char not in ".[=":
        raise _error(argument, f"expected '.', '[' or '=' after a list index, found {char!r}")
    return char


def _value(reader: _Reader, argument: str) -> Any:
    if reader.text.startswith("{", reader.pos):
        reader.pos += 1
        body, stop = reader.until("}")
        if stop is None:
            raise _error(argument, "a list value {a,b} is missing its closing '}'")
        if not reader.done():
            following, _ = reader.until(",")
            if following:
                raise _error(argument, f"unexpected {following!r} after a list value {{...}}")
        items = _split(body)
        return [typed(item) for item in items]
    text, _ = reader.until(",")
    return typed(text)


def _split(body: str) -> list[str]:
    if body == "":
        return []
    reader = _Reader(body)
    items = []
    while True:
        item, stop = reader.until(",")
        items.append(item)
        if stop is None:
            return items


def _error(argument: str, message: str) -> ConfigError:
    return ConfigError([Problem(SOURCE, "", f"{argument!r}: {message}")])


def apply(values: Values, assignment: Assignment) -> None:
    """Set one value into the user's values, creating maps and lists on the way as Helm does:
    a path through a non-map replaces it with a map, an index past a list's end pads it with
    nulls."""
    container: Any = values.tree
    path = assignment.path
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        following = None if last else path[depth + 1]
        empty: Any = [] if isinstance(following, int) else {}
        if isinstance(part, int):
            while len(container) <= part:
                container.append(None)
            if last:
                container[part] = assignment.value
            elif not isinstance(container[part], type(empty)):
                container[part] = empty
        else:
            if last:
                container[part] = assignment.value
            elif not isinstance(container.get(part), type(empty)):
                container[part] = empty
        if not last:
            container = container[part]
    values.mark(path, SOURCE)


def apply_arguments(values: Values, arguments: list[str]) -> list[Assignment]:
    """Parse and apply every `--set` argument in order; reports every malformed one at once."""
    problems: list[Problem] = []
    applied: list[Assignment] = []
    for argument in arguments:
        try:
            assignments = parse(argument)
        except ConfigError as err:
            problems.extend(err.problems)
            continue
        for assignment in assignments:
            apply(values, assignment)
            applied.append(assignment)
    if problems:
        raise ConfigError(problems)
    return applied
