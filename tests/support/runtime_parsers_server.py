"""Checks Dynamo 1.x command lines with the pinned runtime's own parsers, one request a line.

Runs in the parsers venv (scripts/install-runtime-parsers.sh), not in the project's: it imports
ai-dynamo 1.6.1 and vLLM 0.31.0 once (about 7 s), then answers each request in milliseconds.
The client is tests/support/runtime_parsers.py. Standard library only besides those two.

Protocol: one JSON object a line on stdin, ``{"kind": "vllm" | "frontend", "argv": [...],
"env": {...}}``; one JSON answer a line on the original stdout, ``{"problems": [...],
"warnings": [...]}``. The first line written is ``{"ready": {...versions}}``. Whatever the
runtime itself prints goes to stderr.

What a check runs, with ``os.environ`` set to the container's literal env:
- vllm: ``dynamo.vllm.args.parse_args(argv)``, what ``python3 -m dynamo.vllm`` runs before it
  loads a model (the Dynamo and vLLM flags, vLLM's EngineArgs validation, Dynamo's cross-checks);
- frontend: ``dynamo.frontend.main.parse_args()`` on ``sys.argv = [..., *argv]``.
Problems: an argparse error, an exception, an ERROR log, a deprecation the parsers warn of;
an environment value outside the choices of the flag it defaults (the parsers do not check
those themselves: ``DYN_EVENT_PLANE=bogus`` parses); a boolean variable the runtime would
read as false although it is no false spelling; a ``DYN_*`` name the runtime reads nowhere or
calls deprecated (those the runtime reads by prefix, DYN_SYSTEM_*, DYN_HEALTH_CHECK_*,
DYN_CANARY_*, ..., count as read when the runtime has the config field they set); a
``VLLM_*`` name vLLM does not define, or whose value vLLM rejects.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import mmap
import os
import re
import sys
import warnings
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

WORKER_PARSER = "Dynamo vLLM worker configuration"
FRONTEND_PARSER = "Dynamo Frontend: HTTP+Pre-processor+Router"

# Variables of this process a check keeps (the interpreter needs them); the rest of a check's
# environment is the container's.
_KEPT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONDONTWRITEBYTECODE")
# Where the parsers need something a pod has and this machine may not. vLLM has no GPU here:
# its CPU platform. A NIXL worker looks for a routable address of its own when this is unset
# (a pod has one; a test sandbox may not).
_DEFAULTS = {"VLLM_TARGET_DEVICE": "cpu", "VLLM_NIXL_SIDE_CHANNEL_HOST": "10.0.0.1"}

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}
_ENV_IN_HELP = re.compile(r"env var: ([A-Z][A-Z0-9_]*)")


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Checker:
    def __init__(self) -> None:
        os.environ.update({k: v for k, v in _DEFAULTS.items() if k not in os.environ})
        self._base = {k: os.environ[k] for k in _KEPT if k in os.environ}
        import dynamo.frontend.main
        import dynamo.vllm.args
        import vllm.envs

        self._worker = dynamo.vllm.args.parse_args
        self._frontend = dynamo.frontend.main.parse_args
        self._vllm_envs = vllm.envs.environment_variables
        package = Path(dynamo.vllm.args.__file__).resolve().parents[1]
        self._python_names: set[str] = set()
        for source in package.rglob("*.py"):
            if "tests" not in source.parts:
                self._python_names.update(re.findall(r"DYN_[A-Z0-9_]+", source.read_text()))
        with open(package / "_core.abi3.so", "rb") as core:
            self._core = mmap.mmap(core.fileno(), 0, access=mmap.ACCESS_READ)
        self._known: dict[str, tuple[bool, bool]] = {}
        self._parsers: list[argparse.ArgumentParser] = []
        original = argparse.ArgumentParser.parse_known_args
        parsers = self._parsers

        def recording(self: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> Any:
            if self.description in (WORKER_PARSER, FRONTEND_PARSER):
                parsers.append(self)
            return original(self, *args, **kwargs)

        argparse.ArgumentParser.parse_known_args = recording  # type: ignore[method-assign]
        self.versions = {name: metadata.version(name)
                         for name in ("ai-dynamo", "ai-dynamo-runtime", "vllm", "torch")}

    def check(self, kind: str, argv: list[str], env: dict[str, str]) -> dict[str, list[str]]:
        problems: list[str] = []
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update({**self._base, **_DEFAULTS, **env})
        self._parsers.clear()
        try:
            with self._capture() as (stderr, handler, caught):
                try:
                    if kind == "vllm":
                        self._worker(list(argv))
                    elif kind == "frontend":
                        sys.argv = ["dynamo.frontend", *argv]
                        self._frontend()
                    else:
                        raise ValueError(f"unknown kind {kind!r}")
                except SystemExit as exit_:
                    if exit_.code not in (0, None):
                        problems.append(_argparse_error(stderr.getvalue()) or "")
                except Exception as error:  # the parsers' own verdict
                    problems.append(f"{type(error).__name__}: {error}")
            warnings_ = []
            for record in handler.records:
                message = f"{record.name}: {record.getMessage()}"
                if record.levelno >= logging.ERROR:
                    problems.append(message)
                elif "deprecat" in message.lower():
                    problems.append(f"deprecated: {message}")
                else:
                    warnings_.append(message)
            if "" in problems:  # an exit without an argparse message: the ERROR log says why
                problems.remove("")
                if not problems:
                    problems.append("exited with an error and logged nothing")
            for warning in caught:
                message = f"{warning.category.__name__}: {warning.message}"
                if issubclass(warning.category, (DeprecationWarning, FutureWarning)) and \
                        _from_runtime(warning.filename):
                    problems.append(f"deprecated: {message}")
            problems += self._env_defaults(env)
            problems += self._env_names(env)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        return {"problems": problems, "warnings": warnings_}

    @contextlib.contextmanager
    def _capture(self) -> Iterator[tuple[io.StringIO, _Records, list[warnings.WarningMessage]]]:
        handler = _Records()
        loggers = [logging.getLogger(), logging.getLogger("dynamo"), logging.getLogger("vllm")]
        for logger in loggers:
            logger.addHandler(handler)
        stderr = io.StringIO()
        try:
            with contextlib.redirect_stderr(stderr), \
                    warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                yield stderr, handler, caught
        finally:
            for logger in loggers:
                logger.removeHandler(handler)
            # one record reaches the handler once per logger it propagates through
            seen: set[int] = set()
            handler.records = [r for r in handler.records
                               if not (id(r) in seen or seen.add(id(r)))]  # type: ignore[func-returns-value]

    def _env_defaults(self, env: dict[str, str]) -> list[str]:
        """Variables that default a flag: the value must be one the flag would accept."""
        problems = []
        for parser in self._parsers[:1]:
            for action in _actions(parser):
                found = _ENV_IN_HELP.search(action.help or "")
                if not found or found.group(1) not in env:
                    continue
                name, raw = found.group(1), env[found.group(1)]
                if isinstance(action, argparse.BooleanOptionalAction):
                    if raw.strip().lower() not in _TRUE | _FALSE:
                        problems.append(f"{name}={raw!r} (for {action.option_strings[0]}) is "
                                        "read as false: the runtime takes true/1/yes/on as true")
                elif action.choices is not None:
                    values = action.default if isinstance(action.default, list) \
                        else [action.default]
                    bad = [v for v in values if v not in action.choices]
                    if bad:
                        problems.append(f"{name}={raw!r} (for {action.option_strings[0]}): "
                                        f"invalid choice, choose from "
                                        f"{', '.join(map(str, action.choices))}")
        return problems

    def _env_names(self, env: dict[str, str]) -> list[str]:
        problems = []
        for name, value in env.items():
            if name.startswith("DYN_"):
                known, deprecated = self._dynamo_name(name)
                if not known:
                    problems.append(f"{name} is read nowhere in ai-dynamo "
                                    f"{self.versions['ai-dynamo']}")
                elif deprecated:
                    problems.append(f"deprecated: {name} (the runtime says: "
                                    f"{self._deprecation_text(name)})")
            elif name.startswith("VLLM_") and name not in _DEFAULTS:
                if name not in self._vllm_envs:
                    problems.append(f"{name} is not an environment variable of vLLM "
                                    f"{self.versions['vllm']}")
                    continue
                try:
                    self._vllm_envs[name]()
                except Exception as error:
                    problems.append(f"{name}={value!r}: vLLM rejects it: {error}")
        return problems

    def _dynamo_name(self, name: str) -> tuple[bool, bool]:
        if name not in self._known:
            needle = name.encode()
            known = name in self._python_names or self._core.find(needle) >= 0 or any(
                self._core.find(field.encode()) >= 0 for field in _config_fields(name))
            deprecated = self._core.find(needle + b" is deprecated") >= 0
            self._known[name] = (known, deprecated)
        return self._known[name]

    def _deprecation_text(self, name: str) -> str:
        start = self._core.find(name.encode() + b" is deprecated")
        text = self._core[start:start + 300].split(b"\x00")[0].decode("utf-8", "replace")
        sentences = re.split(r"(?<=\.)(?=[A-Z ])", text)
        return "".join(sentences[:2]).strip()


# The Rust runtime reads these groups of variables by prefix (figment), not by full name:
# DYN_<GROUP>_<KEY> sets the RuntimeConfig field <field prefix><key>, some with a _secs suffix
# (DYN_CANARY_WAIT_TIME -> canary_wait_time_secs).
_PREFIXED = {"DYN_RUNTIME_": "", "DYN_WORKER_": "", "DYN_SYSTEM_": "system_",
             "DYN_COMPUTE_": "compute_", "DYN_HEALTH_CHECK_": "health_check_",
             "DYN_CANARY_": "canary_"}


def _config_fields(name: str) -> list[str]:
    for prefix, field in _PREFIXED.items():
        if name.startswith(prefix) and len(name) > len(prefix):
            key = field + name[len(prefix):].lower()
            return [key, key + "_secs"]
    return []


def _actions(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    """Every action, those of the groups too (dynamo.vllm shows vLLM's flags that way)."""
    seen: set[int] = set()
    for action in [*parser._actions, *(a for g in parser._action_groups
                                       for a in g._group_actions)]:
        if action.option_strings and id(action) not in seen:
            seen.add(id(action))
            yield action


def _argparse_error(stderr: str) -> str | None:
    found = re.search(r"^[^\n]*: error: (.*)", stderr, re.MULTILINE | re.DOTALL)
    return found.group(1).strip() if found else None


def _from_runtime(filename: str) -> bool:
    return any(f"{os.sep}{package}{os.sep}" in filename for package in ("dynamo", "vllm"))


def main() -> None:
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # what the runtime prints (Rust logs too) must not mix with the answers
    checker = Checker()
    answers.write(json.dumps({"ready": checker.versions}) + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            answer = checker.check(request["kind"], request["argv"], request.get("env") or {})
        except Exception as error:  # a broken check must not end the session
            answer = {"problems": [f"checker failed: {type(error).__name__}: {error}"],
                      "warnings": []}
        answers.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
