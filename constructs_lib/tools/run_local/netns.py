"""A private network namespace for a local run (Linux; standard library and libc only).

Why: Dynamo 1.x's zmq event plane (the default, and what the 1.x Deployments run) binds its
PUB sockets on ``0.0.0.0`` whatever ``DYN_EVENT_PLANE_HOST`` says, and so does the mock
engine's ZMQ KV-event sink (measured, ai-dynamo 1.6.1). On a laptop that would listen on every
interface. Inside a new network namespace whose only interface is ``lo``, a socket bound to
``0.0.0.0`` can only be reached at 127.0.0.1, so the run keeps the cluster's planes and still
listens nowhere beyond loopback.

:func:`private_network` moves the calling thread, and every process it starts afterwards, into
such a namespace:

- with ``CAP_SYS_ADMIN`` (root): ``unshare(CLONE_NEWNET)``; on exit the thread returns to the
  namespace it came from (the new one disappears with its last process);
- otherwise, when ``allow_user_namespace`` and the process has a single thread:
  ``unshare(CLONE_NEWUSER | CLONE_NEWNET)`` with the user and group mapped to themselves (what
  ``unshare -rn`` does, without the root mapping). A process cannot leave that user namespace:
  meant for a command whose process ends with the run (``run-local``);
- otherwise nothing changes and the :class:`Isolation` it yields says why; the caller falls back.

In each case ``lo`` is brought up (``SIOCSIFFLAGS``), which gives it 127.0.0.1 and ::1.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


@dataclass(frozen=True)
class Isolation:
    """Where a local run's processes live.

    ``private``: in a network namespace of their own that holds only ``lo``. ``how`` says how
    it was made, or why it could not be (then the run stays in the caller's namespace).
    ``outer_namespace`` is the namespace id (inode of ``/proc/.../ns/net``) the caller was in.
    """

    private: bool
    how: str
    outer_namespace: int


def namespace_id(pid: int | None = None) -> int:
    """The network namespace of ``pid`` (default: the calling thread), as an inode number."""
    where = "thread-self" if pid is None else str(pid)
    return os.stat(f"/proc/{where}/ns/net").st_ino


def interfaces(pid: int | None = None) -> list[str]:
    """Network interfaces in the namespace of ``pid`` (default: the calling thread)."""
    where = "thread-self" if pid is None else str(pid)
    lines = Path(f"/proc/{where}/net/dev").read_text().splitlines()[2:]
    return [line.split(":", 1)[0].strip() for line in lines if ":" in line]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _unshare(flags: int) -> None:
    if _libc().unshare(ctypes.c_int(flags)) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"unshare: {os.strerror(code)}")


def _setns(fd: int, flags: int) -> None:
    if _libc().setns(ctypes.c_int(fd), ctypes.c_int(flags)) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"setns: {os.strerror(code)}")


def bring_loopback_up() -> None:
    """Set ``lo`` up in the calling thread's network namespace."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def _thread_count() -> int:
    return len(os.listdir("/proc/self/task"))


def _enter_user_namespace() -> None:
    uid, gid = os.getuid(), os.getgid()
    _unshare(CLONE_NEWUSER | CLONE_NEWNET)
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
    Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")


def _enter(allow_user_namespace: bool) -> tuple[bool, bool, str]:
    """Try to enter a new network namespace: (entered, can return, how or why not)."""
    try:
        _unshare(CLONE_NEWNET)
        return True, True, "unshare(CLONE_NEWNET)"
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EACCES, errno.ENOSYS, errno.EINVAL):
            raise
        reason = f"unshare(CLONE_NEWNET) failed: {os.strerror(exc.errno or 0)}"
    if not allow_user_namespace:
        return False, False, reason
    if _thread_count() != 1:
        return False, False, f"{reason}; a user namespace needs a single-threaded process"
    try:
        _enter_user_namespace()
    except OSError as exc:
        return False, False, (f"{reason}; unshare(CLONE_NEWUSER|CLONE_NEWNET) failed: "
                              f"{exc.strerror or exc}")
    return True, False, "unshare(CLONE_NEWUSER|CLONE_NEWNET), user and group mapped to themselves"


@contextlib.contextmanager
def private_network(allow_user_namespace: bool = False) -> Iterator[Isolation]:
    """Run the body in a new network namespace holding only ``lo`` (see the module docstring).

    Never raises for lack of privileges: the yielded :class:`Isolation` has ``private`` False
    and the reason in ``how``.
    """
    outer = namespace_id()
    saved = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        entered, restore, how = _enter(allow_user_namespace)
        try:
            if entered:
                bring_loopback_up()
            yield Isolation(entered, how, outer)
        finally:
            if restore:
                _setns(saved, CLONE_NEWNET)
    finally:
        os.close(saved)


def probe(allow_user_namespace: bool = False) -> Isolation:
    """Whether :func:`private_network` would give a private namespace here, found out in a
    child process (so that this process is left as it is)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: try, report, exit without running any Python cleanup
        try:
            os.close(read)
            with private_network(allow_user_namespace) as isolation:
                line = f"{int(isolation.private)} {isolation.how}"
            os.write(write, line.encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        answer = pipe.read().decode()
    os.waitpid(pid, 0)
    private, _, how = answer.partition(" ")
    return Isolation(private == "1", how or "probe failed", namespace_id())
