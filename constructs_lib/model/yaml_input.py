"""Reads the YAML users give this tool (environment files, Helm values, `--set-file` texts),
with bounded work and one reading of every value.

- **Bounded**: a file is read only when it is a regular file of at most `MAX_BYTES`; a
  document may nest at most `MAX_DEPTH` levels and hold at most `MAX_VALUES` values once its
  aliases are expanded (a few hundred bytes of aliases can otherwise stand for 10^9 values),
  and integers are 64-bit, as Kubernetes' are.
- **YAML 1.2 core schema**, as Kubernetes tooling reads JSON-compatible YAML, and **refusing the
  plain scalars YAML 1.1 readers (PyYAML, Helm's and kubectl's go-yaml v2) read differently**:
  `yes`/`no`/`on`/`off`/`y`/`n`, sexagesimal numbers (`1:00`), octal and binary forms (`012`,
  `0o12`, `0b1`), digits with underscores and unquoted dates. Each is a problem that says how to
  write the value unambiguously. Tags other than YAML's core ones (`!!set`, `!!binary`,
  `!!timestamp`, `!!python/...`) are refused; so are keys given twice, keys that are mappings
  or lists, NaN and infinite numbers (JSON, and so the Kubernetes API, has none).
- Merge keys (`<<: *defaults`) work as in YAML 1.1 readers (Helm's included): explicit keys win.

libyaml's C parser produces the events where PyYAML was built with it; the values are built from
the events here, so that every limit holds before anything else sees the data.
"""

from __future__ import annotations

import math
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml import events

MAX_BYTES = 1024 * 1024
"""Largest input file: the shipped environment files are about 3 KB, Helm values files a few."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and lists (the environment file nests 7 levels)."""
MAX_VALUES = 100_000
"""Most nodes (keys, values, mappings and lists) in one document, aliases expanded; the
environment file has about 300."""
INT64_MAX = 2**63 - 1

_FAST_PARSER = getattr(yaml, "CSafeLoader", None)
_CORE = "tag:yaml.org,2002:"

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False,
         "FALSE": False}
_DECIMAL = re.compile(r"^[-+]?[0-9]+$")
_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_NON_FINITE = re.compile(r"^(?:[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")
# What YAML 1.1 readers take for something else than YAML 1.2 does.
_BOOL_11 = re.compile(r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$")
_SEXAGESIMAL_11 = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
# Binary, YAML 1.2's octal, and numbers with underscores (`1_000`), which only YAML 1.1 has.
_NUMBER_11 = re.compile(r"^[-+]?(?:0b[0-1_]+|0o[0-7]+|0x[0-9a-fA-F_]+|"
                        r"(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?)$")
_TIMESTAMP_11 = re.compile(
    r"^[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?"
    r"(?:(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?"
    r"(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)?$")


@dataclass(frozen=True)
class YamlProblem:
    """One thing wrong with a YAML text: the key path it is under and what is wrong."""

    path: tuple[str | int, ...]
    message: str
    """Starts with `line L, column C:` when the position is known."""

    @property
    def field(self) -> str:
        return field_path(self.path)


class YamlError(Exception):
    """Every problem found in one YAML text (parsing stops at the first structural one)."""

    def __init__(self, problems: list[YamlProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(p.message for p in problems))


class FileError(Exception):
    """A file that is not read: missing, unreadable, not a regular file, too large, not UTF-8."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def field_path(path: tuple[str | int, ...], most: int = 8) -> str:
    """`a.b[0].c`, with the middle left out of very deep paths."""
    parts = [f"[{p}]" if isinstance(p, int) else _key_text(p) for p in path]
    if len(parts) > most:
        parts = [*parts[:4], "...", *parts[-2:]]
    text = ""
    for part in parts:
        text += part if part.startswith("[") or not text else f".{part}"
    return text


def _key_text(key: object) -> str:
    text = key if isinstance(key, str) else str(key)
    return text if len(text) <= 40 else text[:37] + "..."


_KINDS = [(stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket")]


def read_text(path: Path | str, limit: int = MAX_BYTES) -> str:
    """The UTF-8 text of a regular file of at most `limit` bytes; raises FileError.

    Opened without blocking and checked before reading, so that a FIFO, a device such as
    /dev/zero or a multi-gigabyte file is refused at once instead of read."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise FileError("file not found") from None
    except OSError as err:
        raise FileError(f"cannot be read ({err.strerror})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise FileError("cannot be read (Is a directory)")
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a file")
            raise FileError(f"is {kind}, not a regular file; give a file")
        if info.st_size > limit:
            raise FileError(_too_large(info.st_size, limit))
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(limit + 1 - size, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise FileError(_too_large(size, limit))
    except OSError as err:
        raise FileError(f"cannot be read ({err.strerror})") from None
    finally:
        os.close(fd)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as err:
        raise FileError(f"is not UTF-8 text (byte {err.start})") from None


def _too_large(size: int, limit: int) -> str:
    return (f"is {size} bytes; at most {limit} bytes ({limit // 1024} KiB) are read, far more "
            "than any environment or values file needs")


def parse(text: str, context: bool = True) -> Any:
    """The single document in `text` (None when it is empty); raises YamlError. `context`: say
    where the construct a syntax error is in began."""
    if _FAST_PARSER is not None:
        try:
            return _Builder(text).build(_FAST_PARSER)
        except yaml.YAMLError:
            pass  # parse again below, for PyYAML's own wording of the mistake and its position
    try:
        return _Builder(text).build(yaml.SafeLoader)
    except yaml.YAMLError as err:
        raise YamlError([YamlProblem((), syntax_message(err, text, context))]) from None


def syntax_message(err: yaml.YAMLError, text: str, context: bool = True) -> str:
    """`invalid YAML: line L, column C: what`, on one line."""
    if isinstance(err, yaml.reader.ReaderError):
        line = text.count("\n", 0, err.position) + 1
        column = err.position - (text.rfind("\n", 0, err.position) + 1) + 1
        what = (f"character #x{err.character:04x} is not allowed ({err.reason})"
                if isinstance(err.character, int) else err.reason)
        return f"invalid YAML: line {line}, column {column}: {what}"
    mark = getattr(err, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    reason = getattr(err, "problem", None) or " ".join(str(err).split())
    within, start = getattr(err, "context", None), getattr(err, "context_mark", None)
    if context and within and start and not (
            mark and (mark.line, mark.column) == (start.line, start.column)):
        # Where the parser noticed is often a line after the mistake; say where it began.
        reason += (f" ({within} that starts at line {start.line + 1}, "
                   f"column {start.column + 1})")
    return f"invalid YAML: {where}{reason}"


class _Stop(Exception):
    """A structural problem: building stops."""


@dataclass
class _Frame:
    container: dict[Any, Any] | list[Any]
    path: tuple[str | int, ...]
    anchor: str | None
    size: int = 1
    key: Any = None
    has_key: bool = False
    key_where: str = ""
    key_line: int = 0
    key_plain: bool = False
    lines: dict[Any, int] | None = None
    merged: list[dict[Any, Any]] | None = None


_NO_VALUE = object()


class _Builder:
    def __init__(self, text: str) -> None:
        self.text = text
        self.problems: list[YamlProblem] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.open_anchors: set[str] = set()
        self.values = 0
        self.stack: list[_Frame] = []
        self.root: Any = None
        self.documents = 0

    def build(self, parser: type) -> Any:
        try:
            for event in yaml.parse(self.text, Loader=parser):
                self._event(event)
        except _Stop:
            pass
        if self.problems:
            raise YamlError(self.problems)
        return self.root

    # -- problems ---------------------------------------------------------------------------

    def _where(self, event: events.Event) -> str:
        mark = event.start_mark
        return f"line {mark.line + 1}, column {mark.column + 1}" if mark else "at its end"

    def _problem(self, path: tuple[str | int, ...], event: events.Event, message: str) -> None:
        self.problems.append(YamlProblem(path, f"{self._where(event)}: {message}"))

    def _stop(self, path: tuple[str | int, ...], event: events.Event, message: str) -> _Stop:
        self._problem(path, event, message)
        return _Stop()

    # -- events -----------------------------------------------------------------------------

    def _path(self, scalar: str | None = None) -> tuple[str | int, ...]:
        """Where the next value goes (`scalar`: its text, which names it when it is a key)."""
        if not self.stack:
            return ()
        frame = self.stack[-1]
        if isinstance(frame.container, list):
            return (*frame.path, len(frame.container))
        if frame.has_key:
            return (*frame.path, _path_key(frame.key))
        return frame.path if scalar is None else (*frame.path, scalar)

    def _event(self, event: events.Event) -> None:
        if isinstance(event, events.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                self.problems.append(YamlProblem((), (
                    f"invalid YAML: {self._where(event)}: expected a single document in the "
                    "stream, but found another document")))
                raise _Stop()
        elif isinstance(event, events.ScalarEvent):
            self._count(1, event)
            value = self._scalar(event)
            if event.anchor:
                self.anchors[event.anchor] = (value, 1)
            self._add(value, 1, event)
        elif isinstance(event, events.AliasEvent):
            self._alias(event)
        elif isinstance(event, (events.MappingStartEvent, events.SequenceStartEvent)):
            self._start(event)
        elif isinstance(event, (events.MappingEndEvent, events.SequenceEndEvent)):
            self._end()

    def _count(self, values: int, event: events.Event) -> None:
        self.values += values
        if self.values > MAX_VALUES:
            raise self._stop(self._path(), event, (
                f"the document holds more than {MAX_VALUES} values once its aliases are "
                f"expanded; at most {MAX_VALUES} are read"))

    def _alias(self, event: events.AliasEvent) -> None:
        name = event.anchor
        if name in self.open_anchors:
            raise self._stop(self._path(), event, (
                f"alias *{name} refers to the mapping or list that contains it; a value "
                "cannot contain itself"))
        if name not in self.anchors:
            raise self._stop(self._path(), event, f"alias *{name} names no anchor &{name} "
                                                  "defined before it")
        value, size = self.anchors[name]
        self._count(size, event)
        self._add(value, size, event)

    def _taking_key(self) -> bool:
        frame = self.stack[-1] if self.stack else None
        return frame is not None and isinstance(frame.container, dict) and not frame.has_key

    def _start(self, event: events.CollectionStartEvent) -> None:
        path = self._path()
        if self._taking_key():
            raise self._stop(path, event, "a key must be a single value, not a mapping or "
                                          "a list")
        if len(self.stack) >= MAX_DEPTH:
            raise self._stop(path, event, f"nested more than {MAX_DEPTH} levels deep; at "
                                          f"most {MAX_DEPTH} levels are read")
        mapping = isinstance(event, events.MappingStartEvent)
        expected = f"{_CORE}map" if mapping else f"{_CORE}seq"
        if event.tag not in (None, "!", expected):
            self._problem(path, event, _tag_message(event.tag))
        self._count(1, event)
        if event.anchor:
            self.open_anchors.add(event.anchor)
        self.stack.append(_Frame({} if mapping else [], path, event.anchor,
                                 lines={} if mapping else None))

    def _end(self) -> None:
        frame = self.stack.pop()
        value: Any = frame.container
        if frame.merged:
            merged: dict[Any, Any] = {}
            for source in reversed(frame.merged):  # the first mapping merged wins
                merged.update(source)
            explicit = value
            for key in explicit:
                merged.pop(key, None)
            merged.update(explicit)
            value = merged
        if frame.anchor:
            self.open_anchors.discard(frame.anchor)
            self.anchors[frame.anchor] = (value, frame.size)
        self._add(value, frame.size, None)

    def _add(self, value: Any, size: int, event: events.Event | None) -> None:
        if not self.stack:
            self.root = value
            return
        frame = self.stack[-1]
        frame.size += size
        if isinstance(frame.container, list):
            frame.container.append(value)
            return
        if not frame.has_key:
            if isinstance(value, (dict, list)):
                assert event is not None  # an alias of a mapping or list used as a key
                raise self._stop(self._path(), event, "a key must be a single value, not a "
                                                      "mapping or a list")
            assert event is not None  # keys are scalars or aliases
            frame.key, frame.has_key = value, True
            frame.key_where = self._where(event)
            frame.key_line = event.start_mark.line + 1 if event.start_mark else 0
            frame.key_plain = _is_plain(event)
            return
        key, frame.has_key = frame.key, False
        if key == "<<" and frame.key_plain:
            self._merge(frame, value)
            return
        assert frame.lines is not None
        if key in frame.lines:
            self.problems.append(YamlProblem((*frame.path, _path_key(key)), (
                f"{frame.key_where}: given twice (first at line {frame.lines[key]}); the "
                "second value would silently replace the first")))
            return
        frame.lines[key] = frame.key_line
        frame.container[key] = value

    def _merge(self, frame: _Frame, value: Any) -> None:
        sources = value if isinstance(value, list) else [value]
        if not all(isinstance(source, dict) for source in sources):
            self.problems.append(YamlProblem((*frame.path, "<<"), (
                f"{frame.key_where}: a merge key (<<) takes a mapping or a list of "
                "mappings, such as <<: *defaults")))
            return
        frame.merged = (frame.merged or []) + sources

    # -- scalars ----------------------------------------------------------------------------

    def _scalar(self, event: events.ScalarEvent) -> Any:
        text, tag = event.value, event.tag
        plain = _is_plain(event)
        if tag in (None, "!") and not plain:
            return text
        if tag is None:
            return self._plain(text, event)
        if tag == f"{_CORE}str":
            return text
        if tag == f"{_CORE}null" and _NULL.match(text):
            return None
        if tag == f"{_CORE}bool" and text in _BOOL:
            return _BOOL[text]
        if tag in (f"{_CORE}int", f"{_CORE}float"):
            value = self._plain(text, event)
            if tag.endswith("int") and isinstance(value, int) and not isinstance(value, bool):
                return value
            if tag.endswith("float") and isinstance(value, (int, float)) and \
                    not isinstance(value, bool):
                return float(value)
        if tag in (f"{_CORE}null", f"{_CORE}bool", f"{_CORE}int", f"{_CORE}float"):
            self._problem(self._path(text), event, f"{_show(text)} is not a valid "
                                               f"!!{tag.removeprefix(_CORE)}")
            return text
        self._problem(self._path(text), event, _tag_message(tag))
        return text

    def _plain(self, text: str, event: events.ScalarEvent) -> Any:
        if _NULL.match(text):
            return None
        if text in _BOOL:
            return _BOOL[text]
        if _DECIMAL.match(text):
            digits = text.lstrip("+-")
            if len(digits) > 1 and digits.startswith("0"):
                return self._ambiguous(text, event, (
                    "is octal in YAML 1.1 (Helm and kubectl read 012 as 10) and decimal in "
                    "YAML 1.2; write the number without leading zeros, or quote it for a "
                    "string"))
            return self._integer(text, int(text) if len(digits) <= 19 else None, event)
        if _HEX.match(text):
            return self._integer(text, int(text, 16) if len(text) <= 18 else None, event)
        if _FLOAT.match(text):
            value = float(text)
            if not math.isfinite(value):
                return self._non_finite(text, event)
            return value
        if _NON_FINITE.match(text):
            return self._non_finite(text, event)
        if _BOOL_11.match(text):
            return self._ambiguous(text, event, (
                f"is a boolean in YAML 1.1 (Helm and kubectl read it as "
                f"{'true' if text.lower() in ('y', 'yes', 'on') else 'false'}) and a string in "
                "YAML 1.2; write true or false, or quote it for a string"))
        if _SEXAGESIMAL_11.match(text):
            return self._ambiguous(text, event, (
                "is a base-60 number in YAML 1.1 (1:30 is 90) and a string in YAML 1.2; quote "
                "it for a string"))
        if _NUMBER_11.match(text):
            return self._ambiguous(text, event, (
                "is a number in one YAML version and a string in the other; write the number "
                "in decimal digits only, or quote it for a string"))
        if _TIMESTAMP_11.match(text):
            return self._ambiguous(text, event, (
                "is a date in YAML 1.1 and a string in YAML 1.2; quote it for a string"))
        return text

    def _ambiguous(self, text: str, event: events.ScalarEvent, message: str) -> str:
        self._problem(self._path(text), event, f"{_show(text)} {message}")
        return text

    def _integer(self, text: str, value: int | None, event: events.ScalarEvent) -> Any:
        if value is None or not -INT64_MAX - 1 <= value <= INT64_MAX:
            self._problem(self._path(text), event, (
                f"{_show(text)} is larger than a 64-bit integer (at most {INT64_MAX}), "
                "which is the largest number Kubernetes stores; quote it for a string"))
            return text
        return value

    def _non_finite(self, text: str, event: events.ScalarEvent) -> str:
        self._problem(self._path(text), event, (
            f"{_show(text)} is not a finite number: JSON, and so the Kubernetes API, has no "
            "infinity or NaN; quote it for a string"))
        return text


def _is_plain(event: events.Event) -> bool:
    return (isinstance(event, events.ScalarEvent) and event.tag is None
            and bool(event.implicit[0]) and event.style in (None, ""))


def _path_key(key: Any) -> str | int:
    return key if isinstance(key, (str, int)) else str(key)


def _tag_message(tag: str | None) -> str:
    shown = f"!!{tag.removeprefix(_CORE)}" if tag and tag.startswith(_CORE) else str(tag)
    return (f"the tag {_show(shown)} is not read: only plain mappings, lists, strings, numbers, "
            "booleans and null are (no sets, binary, timestamps or language objects)")


def _show(text: str) -> str:
    shown = text if len(text) <= 40 else text[:37] + "..."
    return repr(shown) if any(not c.isprintable() for c in shown) else shown
