"""Is a Dynamo 1.x container command line accepted by the pinned runtime? Its own parsers judge.

The parsers of ai-dynamo 1.6.1 and vLLM 0.31.0 (``dynamo.vllm.args.parse_args``, the
frontend's ``parse_args``) run in a venv of their own (scripts/install-runtime-parsers.sh,
2.4 GB), in one long-lived process per test process (tests/support/runtime_parsers_server.py
says what a check covers). Starting it costs about 7-10 s, once; a check then costs 10 to
300 ms.

    check_vllm_worker(["--model", "/m", "--disaggregation-mode", "decode"], {"DYN_NAMESPACE": "x"})
    check_frontend(["--router-mode", "kv"], env)    # -> [] when accepted, else the problems
    check_container(deployment_container)           # python3 -m dynamo.frontend | dynamo.vllm
    check("vllm", argv, env)                         # -> Verdict(problems, warnings)

A module that uses them takes ``pytestmark = requirement_marks()``: without the venv its tests
skip with the reason, unless DYNAMO_E2E_REQUIRED=1 (CI), where that is an error.
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from tests.support.servers import expand_dependent_vars

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVER = Path(__file__).with_name("runtime_parsers_server.py")
START_TIMEOUT = 120.0
CHECK_TIMEOUT = 60.0
MODULES = {"dynamo.frontend": "frontend", "dynamo.vllm": "vllm"}


@dataclass(frozen=True)
class Verdict:
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return not self.problems


def parsers_python() -> Path:
    """The parsers venv's interpreter: ``$DYNAMO_PARSERS_VENV`` or ``<repo>/.venv-parsers``."""
    venv = Path(os.environ.get("DYNAMO_PARSERS_VENV") or REPO_ROOT / ".venv-parsers")
    return venv / "bin" / "python"


def missing_reason() -> str | None:
    python = parsers_python()
    if not python.exists():
        return (f"runtime parsers venv missing ({python}): "
                "run scripts/install-runtime-parsers.sh")
    return None


def requirement_marks() -> list[pytest.MarkDecorator]:
    """Skip a module with the reason when the parsers venv is missing (an error instead when
    DYNAMO_E2E_REQUIRED=1, as in CI)."""
    missing = missing_reason()
    if missing is None:
        return []
    if os.environ.get("DYNAMO_E2E_REQUIRED") == "1":
        raise RuntimeError(missing)
    return [pytest.mark.skip(reason=missing)]


def check(kind: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> Verdict:
    """``kind`` is "vllm" (``python3 -m dynamo.vllm``) or "frontend"."""
    return _session().ask(kind, list(argv), dict(env or {}))


def check_vllm_worker(argv: Sequence[str], env: Mapping[str, str] | None = None) -> list[str]:
    """The problems the pinned ``dynamo.vllm`` finds in these arguments and env; [] if none."""
    return check("vllm", argv, env).problems


def check_frontend(argv: Sequence[str], env: Mapping[str, str] | None = None) -> list[str]:
    """The problems the pinned ``dynamo.frontend`` finds in these arguments and env."""
    return check("frontend", argv, env).problems


def container_command(container: Mapping[str, Any]) -> tuple[str, list[str], dict[str, str]]:
    """(kind, argv, env) of a ``python3 -m dynamo.X`` container, as the kubelet would run it:
    literal env values with ``$(VAR)`` expanded; ``valueFrom`` variables (secrets, fieldRefs)
    are left out, the parsers never read them."""
    env: dict[str, str] = {}
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = expand_dependent_vars(str(item["value"]), env)
    command = [*(container.get("command") or []), *(container.get("args") or [])]
    command = [expand_dependent_vars(str(part), env) for part in command]
    if len(command) < 3 or os.path.basename(command[0]) not in ("python3", "python") \
            or command[1] != "-m" or command[2] not in MODULES:
        raise ValueError(f"container {container.get('name')!r} does not run "
                         f"python3 -m {' | '.join(MODULES)}: {command[:3]}")
    return MODULES[command[2]], command[3:], env


def check_container(container: Mapping[str, Any]) -> list[str]:
    kind, argv, env = container_command(container)
    return check(kind, argv, env).problems


class _Session:
    """The server process: started on first use, stopped when the test process exits."""

    def __init__(self, python: Path) -> None:
        # open as long as the session: close() closes (and so deletes) it
        self.log = tempfile.NamedTemporaryFile(prefix="runtime-parsers-", suffix=".log")  # noqa: SIM115
        self.process = subprocess.Popen(
            [str(python), str(SERVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.log, text=True, cwd=tempfile.gettempdir(),
            env={k: v for k, v in os.environ.items()
                 if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")},
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin: IO[str] = self.process.stdin
        self.stdout: IO[str] = self.process.stdout
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.stdout, selectors.EVENT_READ)
        self.versions = self._read(START_TIMEOUT, "start")["ready"]

    def ask(self, kind: str, argv: list[str], env: dict[str, str]) -> Verdict:
        self.stdin.write(json.dumps({"kind": kind, "argv": argv, "env": env}) + "\n")
        self.stdin.flush()
        answer = self._read(CHECK_TIMEOUT, f"check {kind} {argv}")
        return Verdict(problems=answer["problems"], warnings=answer["warnings"])

    def _read(self, timeout: float, what: str) -> dict[str, Any]:
        if not self.selector.select(timeout):
            self.close()
            raise RuntimeError(f"runtime parsers: no answer to {what} in {timeout:.0f} s"
                               f"{self._log_tail()}")
        line = self.stdout.readline()
        if not line:
            self.process.wait(timeout=10)
            raise RuntimeError(f"runtime parsers exited ({self.process.returncode}) during "
                               f"{what}{self._log_tail()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _log_tail(self) -> str:
        self.log.flush()
        tail = Path(self.log.name).read_text(errors="replace")[-3000:]
        return f"; its log ends:\n{tail}" if tail else ""

    def close(self) -> None:
        if self.process.poll() is None:
            self.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


_sessions: dict[Path, _Session] = {}


def _session() -> _Session:
    python = parsers_python()
    if python in _sessions and _sessions[python].process.poll() is not None:
        del _sessions[python]  # it timed out or died: the next check starts another
    if python not in _sessions:
        missing = missing_reason()
        if missing is not None:
            raise RuntimeError(missing)
        _sessions[python] = _Session(python)
        atexit.register(_sessions[python].close)
    return _sessions[python]
