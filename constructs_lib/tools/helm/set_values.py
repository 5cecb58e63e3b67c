"""Helm's `--set` syntax: `a.b=c,list[0].name=x,tags={a,b}`, typed as Helm 3 types it; and
its `--set-string` (every value a string) and `--set-file` (`configs=my-configs.yaml`: the value
is the file's text) with the same key syntax.

Keys are dotted paths; `\\.` is a dot inside a key (`graphs.single\\.py=...`), `[N]` a list index.
Assignments are separated by commas (`\\,` is a comma inside a value). A value `{x,y}` is a
list. Values are typed the way Helm 3 types them: `true`/`false` (any case) are booleans,
`null` is null (it deletes the key from the chart's defaults), a decimal integer without a
leading zero is an integer, and everything else, floats included, stays a string.
`--set-string` skips that typing, so `true` and `8` stay strings (`null` too: it deletes
nothing). `--set-file` reads everything up to the next unescaped comma as a file path, relative
to the working directory as Helm reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any

from ...errors import ConfigError, Problem, quoted
from ...model.yaml_input import MAX_DEPTH, FileError, read_text
from .merge import Path, Values

SOURCE = "--set"
STRING_SOURCE = "--set-string"
FILE_SOURCE = "--set-file"
# Helm refuses larger indices, so that `a[99999999]=x` cannot allocate a huge list.
MAX_INDEX = 65536


@dataclass(frozen=True)
class Assignment:
    path: Path
    value: Any
    source: str = SOURCE
    """What set it, as problems name it: `--set`, `--set-string`, `--set-file my-configs.yaml`."""

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
        # (at most 19 digits before int(): Python refuses to convert more than 4300)
        if digits.isdigit() and digits.isascii() and len(digits) <= 19 and \
                -(2**63) <= int(text) < 2**63:
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


def parse(argument: str, flag: str = SOURCE) -> list[Assignment]:
    """The assignments of one argument of `flag` (`--set`, `--set-string` or `--set-file`);
    raises ConfigError naming what is wrong. A `--set-file` assignment's value is the path."""
    reader = _Reader(argument)
    assignments = []
    while not reader.done():
        assignments.append(_assignment(reader, argument, flag))
    if not assignments:
        raise _error(argument, f"empty; expected {_example(flag)}", flag)
    return assignments


def _example(flag: str) -> str:
    return ("key=path, e.g. configs=my-configs.yaml" if flag == FILE_SOURCE
            else "key=value, e.g. rdma.enable=false")


def _assignment(reader: _Reader, argument: str, flag: str) -> Assignment:
    path: list[str | int] = []
    while True:
        key, stop = reader.until(".[=,")
        if key == "" and not (stop == "[" and path):
            raise _error(argument, f"empty key after {dotted(tuple(path)) or 'the start'!r}; "
                                   f"expected {_example(flag)}", flag)
        if key:
            path.append(key)
        while stop == "[":
            path.append(_index(reader, argument, flag))
            stop = _after_index(reader, argument, flag)
        if len(path) > MAX_DEPTH:
            raise _error(argument, f"the key has more than {MAX_DEPTH} parts; at most "
                                   f"{MAX_DEPTH} levels of nesting are read", flag)
        if stop == ".":
            continue
        if stop == "=":
            if flag == FILE_SOURCE:
                return _file_assignment(tuple(path), reader, argument)
            return Assignment(tuple(path), _value(reader, argument, flag), flag)
        raise _error(argument, f"key {dotted(tuple(path))!r} has no value; expected "
                               f"{_example(flag)}", flag)


def _file_assignment(path: Path, reader: _Reader, argument: str) -> Assignment:
    name, _ = reader.until(",")
    if not name:
        raise _error(argument, f"key {dotted(path)!r} names no file; expected key=path, e.g. "
                               "configs=my-configs.yaml", FILE_SOURCE)
    return Assignment(path, name, FILE_SOURCE)


def _index(reader: _Reader, argument: str, flag: str) -> int:
    text, stop = reader.until("]")
    if stop is None or not (text.isascii() and text.isdigit()):
        raise _error(argument, f"list index [{text[:20]}] is not a number in brackets such as "
                               "[0]", flag)
    index = int(text) if len(text) <= 6 else MAX_INDEX + 1
    if index > MAX_INDEX:
        raise _error(argument, f"list index {text[:20]} is larger than Helm allows "
                               f"({MAX_INDEX})", flag)
    return index


def _after_index(reader: _Reader, argument: str, flag: str) -> str:
    if reader.done():
        return ""
    char = reader.text[reader.pos]
    reader.pos += 1
    if char not in ".[=":
        raise _error(argument, f"expected '.', '[' or '=' after a list index, found {char!r}",
                     flag)
    return char


def _value(reader: _Reader, argument: str, flag: str) -> Any:
    convert = str if flag == STRING_SOURCE else typed
    if reader.text.startswith("{", reader.pos):
        reader.pos += 1
        body, stop = reader.until("}")
        if stop is None:
            raise _error(argument, "a list value {a,b} is missing its closing '}'", flag)
        if not reader.done():
            following, _ = reader.until(",")
            if following:
                raise _error(argument, f"unexpected {following!r} after a list value {{...}}",
                             flag)
        items = _split(body)
        return [convert(item) for item in items]
    text, _ = reader.until(",")
    return convert(text)


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


def _error(argument: str, message: str, flag: str) -> ConfigError:
    return ConfigError([Problem(flag, "", f"{quoted(argument)}: {message}")])


def read_file(assignment: Assignment) -> Assignment:
    """A `--set-file` assignment with the file's text as its value, named by the file so that a
    problem in that text says where it came from. Only a regular file of at most
    `yaml_input.MAX_BYTES` is read."""
    name = assignment.value
    try:
        text = read_text(FilePath(name))
    except FileError as err:
        raise ConfigError([Problem(FILE_SOURCE, "", f"{assignment.dotted}={name}: "
                                                    f"{err.message}")]) from None
    return Assignment(assignment.path, text, f"{FILE_SOURCE} {name}")


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
    values.mark(path, assignment.source)


def apply_arguments(values: Values, arguments: list[str],
                    flag: str = SOURCE) -> list[Assignment]:
    """Parse and apply every argument of `flag` in order (reading `--set-file`'s files);
    reports every malformed argument and unreadable file at once."""
    problems: list[Problem] = []
    applied: list[Assignment] = []
    for argument in arguments:
        try:
            assignments = parse(argument, flag)
            if flag == FILE_SOURCE:
                assignments = _read_all(assignments)
        except ConfigError as err:
            problems.extend(err.problems)
            continue
        for assignment in assignments:
            apply(values, assignment)
            applied.append(assignment)
    if problems:
        raise ConfigError(problems)
    return applied


def _read_all(assignments: list[Assignment]) -> list[Assignment]:
    problems: list[Problem] = []
    read: list[Assignment] = []
    for assignment in assignments:
        try:
            read.append(read_file(assignment))
        except ConfigError as err:
            problems.extend(err.problems)
    if problems:
        raise ConfigError(problems)
    return read
