"""Starts jsii's Node runtime outside the terminal's foreground process group.

Ctrl-C sends SIGINT to every process of the foreground group. Node dies of it at once, and the
Python side then fails in the middle of a request: jsii prints Node's ECONNRESET trace and the
whole pending request, and the command ends with a traceback instead of its own one line. With
Node in a session of its own, only Python sees Ctrl-C: it raises KeyboardInterrupt, the command
cleans up after itself and says "interrupted" (exit 130), and jsii's exit handler stops Node
as at any other exit (`quiet_exit` keeps a late Ctrl-C from interrupting that). A Ctrl-C can
also land while Python is in the middle of writing a request: asking Node to exit then makes it
read a torn message and answer with ECONNRESET and a traceback, so after an interrupt
(`interrupted`) Node is ended without a word instead.

jsii starts Node with `subprocess.Popen` from one module; that module's `subprocess` is replaced
by one whose Popen adds `start_new_session=True`. Nothing else changes, and a jsii without that
module (another version) is left as it is.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import threading
from types import ModuleType
from typing import Any


class _OwnSessionSubprocess(ModuleType):
    """The `subprocess` module, but every Popen starts a session of its own."""

    def __init__(self) -> None:
        super().__init__("subprocess")

    def __getattr__(self, name: str) -> Any:
        return getattr(subprocess, name)

    @staticmethod
    def Popen(*args: Any, **kwargs: Any) -> subprocess.Popen[Any]:
        kwargs.setdefault("start_new_session", True)
        process = subprocess.Popen(*args, **kwargs)
        _started.append(process)
        return process


_started: list[subprocess.Popen[Any]] = []


def start() -> None:
    """Call before the first `import cdk8s` of the process (later calls change nothing)."""
    try:
        from jsii._kernel.providers import process
    except ImportError:
        return
    if getattr(process, "subprocess", None) is subprocess:
        setattr(process, "subprocess", _OwnSessionSubprocess())  # noqa: B010 (not exported)


_quiet = False


def quiet_exit() -> None:
    """Call after `import cdk8s`: at exit, a Ctrl-C no longer interrupts jsii stopping Node (which
    would print a traceback after the command has finished its work)."""
    global _quiet
    if not _quiet:
        _quiet = True
        atexit.register(_ignore_interrupts)  # runs before jsii's own handler, registered earlier


def _ignore_interrupts() -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def interrupted() -> None:
    """Call when Ctrl-C ended the command: Node (its session: jsii's relay and kernel) is killed
    and its pipe closed, so jsii's exit handler finds nothing left to say to it."""
    for process in _started:
        # The relay first: it reports a kernel that dies before it.
        process.kill()
        process.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
