"""Start, watch and stop a group of local processes (standard library only).

- :class:`ProcessGroup` starts commands with an explicit environment, each in its own
  session (process group), with stdout and stderr captured to ``<workdir>/<name>.log``.
  It waits for HTTP readiness with a bounded timeout (failing fast when the process
  exits) and always stops everything: SIGTERM to each process group, then SIGKILL after a
  bounded grace period. Use it as a context manager so that a failing test still stops it.
- :class:`PortAllocator` hands out distinct free TCP ports on 127.0.0.1 from a range
  below the kernel's ephemeral range (so they cannot collide with outgoing connections)
  and at or below 32767 (Dynamo parses ``DYN_SYSTEM_PORT`` as a signed 16-bit number).
- :func:`listening_sockets` lists the TCP sockets in LISTEN state owned by given pids (and
  their descendants), read from ``/proc``; :func:`non_loopback_listeners` keeps those bound
  beyond loopback.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import ipaddress
import os
import random
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

LOOPBACK = "127.0.0.1"
# Variables passed from this process to the children; everything else comes from the
# explicit env of each command, so that the host environment cannot change the result.
PASSTHROUGH_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")


class ProcessError(RuntimeError):
    """A managed process failed to start, exited early, or did not become ready."""


# --------------------------------------------------------------------------- ports


class PortAllocator:
    """Distinct free ports on ``host`` in ``[low, high]``.

    A port is free if it can be bound on ``host`` at the time of the call. The allocator
    never returns the same port twice, so several ports can be reserved before any
    process binds them. (A port can still be taken by another program in between: the
    range avoids the ephemeral range to make that unlikely.)
    """

    def __init__(
        self, low: int = 20000, high: int = 32767, host: str = LOOPBACK, seed: int | None = None
    ) -> None:
        if not 1024 <= low <= high <= 65535:
            raise ValueError(f"bad port range {low}-{high}")
        self.low, self.high, self.host = low, high, host
        self._given: set[int] = set()
        self._random = random.Random(seed)

    def allocate(self) -> int:
        for _ in range(200):
            port = self._random.randint(self.low, self.high)
            if port not in self._given and _can_bind(self.host, port):
                self._given.add(port)
                return port
        raise ProcessError(f"no free port on {self.host} in {self.low}-{self.high}")

    def allocate_consecutive(self, count: int) -> int:
        """The first of ``count`` consecutive free ports (a base port plus one per data-parallel
        rank, as vLLM's KV-event endpoints are)."""
        if count == 1:
            return self.allocate()
        for _ in range(200):
            base = self._random.randint(self.low, self.high - count + 1)
            block = range(base, base + count)
            if not self._given.intersection(block) and all(_can_bind(self.host, p) for p in block):
                self._given.update(block)
                return base
        raise ProcessError(f"no {count} consecutive free ports on {self.host}")

    @property
    def allocated(self) -> frozenset[int]:
        return frozenset(self._given)


def _can_bind(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


# --------------------------------------------------------------------------- /proc


@dataclass(frozen=True)
class Listener:
    pid: int
    command: str
    address: str
    port: int

    @property
    def loopback(self) -> bool:
        return ipaddress.ip_address(self.address).is_loopback or _mapped_loopback(self.address)

    def __str__(self) -> str:
        return f"{self.command}[{self.pid}] on {self.address}:{self.port}"


def _mapped_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return isinstance(ip, ipaddress.IPv6Address) and bool(
        ip.ipv4_mapped and ip.ipv4_mapped.is_loopback
    )


def _decode_address(hex_addr: str) -> tuple[str, int]:
    """Decode ``0100007F:1F90`` (little-endian 32-bit words) from /proc/net/tcp{,6}."""
    host_hex, port_hex = hex_addr.split(":")
    raw = bytes.fromhex(host_hex)
    # Each 4-byte word is in host (little-endian) order.
    packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(packed)), int(port_hex, 16)


def _listening_inodes(where: str = "thread-self") -> dict[int, tuple[str, int]]:
    """Socket inode -> (address, port) for every TCP socket in LISTEN state in the network
    namespace of ``/proc/<where>`` (a pid, or the calling thread: each process may live in a
    namespace of its own, see :mod:`.netns`)."""
    result: dict[int, tuple[str, int]] = {}
    for table in (f"/proc/{where}/net/tcp", f"/proc/{where}/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except (FileNotFoundError, ProcessLookupError):
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A":  # TCP_LISTEN
                result[int(fields[9])] = _decode_address(fields[1])
    return result


def _children(pids: Iterable[int]) -> set[int]:
    """``pids`` and all their living descendants."""
    parent_of: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # Field 4 (ppid) follows the parenthesised command, which may contain spaces.
            parent_of[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found = {pid for pid in pids if pid in parent_of}
    grew = True
    while grew:
        new = {pid for pid, ppid in parent_of.items() if ppid in found and pid not in found}
        found |= new
        grew = bool(new)
    return found


def _command_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def listening_sockets(pids: Iterable[int]) -> list[Listener]:
    """TCP listeners owned by ``pids`` or their descendants (each read in its own network
    namespace)."""
    tables: dict[int, dict[int, tuple[str, int]]] = {}  # namespace inode -> listeners
    found: list[Listener] = []
    for pid in sorted(_children(pids)):
        fd_dir = Path(f"/proc/{pid}/fd")
        try:
            links = [os.readlink(fd_dir / fd) for fd in os.listdir(fd_dir)]
            namespace = os.stat(f"/proc/{pid}/ns/net").st_ino
        except OSError:
            continue
        if namespace not in tables:
            tables[namespace] = _listening_inodes(str(pid))
        inodes = tables[namespace]
        for link in links:
            if link.startswith("socket:["):
                inode = int(link[8:-1])
                if inode in inodes:
                    address, port = inodes[inode]
                    found.append(Listener(pid, _command_name(pid), address, port))
    return found


def non_loopback_listeners(pids: Iterable[int]) -> list[Listener]:
    return [item for item in listening_sockets(pids) if not item.loopback]


def ports_listening(ports: Iterable[int]) -> set[int]:
    """Which of ``ports`` have a TCP listener on any address, whoever owns it, in the calling
    thread's network namespace."""
    wanted = set(ports)
    return {port for _, port in _listening_inodes().values() if port in wanted}


# --------------------------------------------------------------------------- HTTP


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """GET ``url``: (status, body); HTTP error statuses are returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def probe(url: str, timeout: float = 1.0, status: int = 200) -> tuple[bool, str]:
    """One probe of ``url`` (R6 of translate.py): an HTTP GET answering ``status``, or for a
    ``tcp://host:port`` URL (a tcpSocket probe) a connection the port accepts. Returns whether
    it passed, and what it saw when not."""
    try:
        if url.startswith("tcp://"):
            host, _, port = url[len("tcp://"):].rpartition(":")
            socket.create_connection((host, int(port)), timeout=timeout).close()
            return True, ""
        code, body = http_get(url, timeout=timeout)
        if code == status:
            return True, ""
        return False, f"HTTP {code}: {body[:200]!r}"
    except (OSError, http.client.HTTPException) as exc:
        return False, f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------- processes


@dataclass
class ManagedProcess:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class ProcessGroup:
    """Processes started together and stopped together.

    ``workdir`` receives one ``<name>.log`` per process. ``stop_timeout`` bounds the wait
    after SIGTERM; survivors then get SIGKILL (and another bounded wait).
    """

    workdir: Path
    stop_timeout: float = 10.0
    processes: list[ManagedProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- start

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
    ) -> ManagedProcess:
        """Start ``argv`` with ``PASSTHROUGH_ENV`` from this process plus ``env``."""
        if any(p.name == name for p in self.processes):
            raise ValueError(f"duplicate process name {name!r}")
        full_env = {k: os.environ[k] for k in PASSTHROUGH_ENV if k in os.environ}
        full_env.update(env or {})
        log_path = self.workdir / f"{name}.log"
        with open(log_path, "wb") as log:
            log.write(f"$ {' '.join(argv)}\n".encode())
            log.flush()
            try:
                popen = subprocess.Popen(
                    list(argv),
                    env=full_env,
                    cwd=str(cwd or self.workdir),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # own process group: stop() reaches children
                )
            except OSError as exc:
                raise ProcessError(f"{name}: cannot start {argv[0]!r}: {exc}") from exc
        proc = ManagedProcess(name, list(argv), full_env, log_path, popen)
        self.processes.append(proc)
        return proc

    def get(self, name: str) -> ManagedProcess:
        for proc in self.processes:
            if proc.name == name:
                return proc
        raise KeyError(name)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    # -- readiness

    def wait_http(
        self,
        url: str,
        timeout: float = 60.0,
        process: ManagedProcess | str | None = None,
        status: int = 200,
        interval: float = 0.1,
    ) -> bytes:
        """Poll ``url`` until it answers ``status``; return the body. A ``tcp://host:port``
        URL (a tcpSocket probe) is ready when the port accepts a connection.

        Raises :class:`ProcessError` (with the process's log tail) when ``timeout``
        passes or when ``process`` exits first.
        """
        proc = self.get(process) if isinstance(process, str) else process
        deadline = time.monotonic() + timeout
        last = "no answer"
        while True:
            if proc is not None and not proc.running():
                raise ProcessError(
                    f"{proc.name} exited with {proc.popen.returncode} before {url} was ready"
                    f"\n--- {proc.log_path}\n{proc.log_tail()}"
                )
            wait = min(5.0, max(0.1, deadline - time.monotonic()))
            if url.startswith("tcp://"):  # a tcpSocket probe: the port accepts
                passed, last = probe(url, timeout=wait)
                if passed:
                    return b""
            else:
                try:
                    code, body = http_get(url, timeout=wait)
                    if code == status:
                        return body
                    last = f"HTTP {code}: {body[:200]!r}"
                except (OSError, http.client.HTTPException) as exc:
                    last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                tail = f"\n--- {proc.log_path}\n{proc.log_tail()}" if proc else ""
                raise ProcessError(f"{url} not ready after {timeout:.0f} s ({last}){tail}")
            time.sleep(interval)

    # -- stop

    def stop(self, names: Iterable[str] | None = None) -> dict[str, int | None]:
        """SIGTERM the process groups (last started first), then SIGKILL survivors.

        ``names`` limits this to some processes (default: all). Bounded by about
        ``2 * stop_timeout``. Returns each stopped process's exit code (None if it could
        not be reaped). Safe to call more than once.
        """
        wanted = None if names is None else set(names)
        procs = [p for p in self.processes if wanted is None or p.name in wanted]
        for proc in reversed(procs):
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for proc in procs:
            _wait(proc, deadline)
        survivors = [p for p in procs if p.running() or _group_alive(p)]
        for proc in survivors:
            _signal_group(proc, signal.SIGKILL)
        deadline = time.monotonic() + self.stop_timeout
        for proc in survivors:
            _wait(proc, deadline)
        return {p.name: p.popen.returncode for p in procs}


def _signal_group(proc: ManagedProcess, sig: signal.Signals) -> None:
    # The group id is the pid we started (start_new_session), never a foreign group.
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        if proc.running():
            proc.popen.send_signal(sig)


def _group_alive(proc: ManagedProcess) -> bool:
    try:
        os.killpg(proc.pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _wait(proc: ManagedProcess, deadline: float) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
