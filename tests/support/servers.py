"""Running server binaries on 127.0.0.1 for a test: free ports, bounded waits, clean stops."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import socketserver
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# Debian installs nats-server in /usr/sbin, which is not on a normal user's PATH.
_EXTRA_BIN_DIRS = ["/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"]


def find_binary(name: str) -> str | None:
    """The executable a container's `command: [name]` would run, from this machine."""
    found = shutil.which(os.path.basename(name))
    if found:
        return found
    for folder in _EXTRA_BIN_DIRS:
        candidate = Path(folder) / os.path.basename(name)
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def serving(server: socketserver.BaseServer) -> Iterator[Any]:
    """Yield `server` while a thread serves it; for a fixture to `yield from`."""
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def expand_dependent_vars(text: str, env: dict[str, str]) -> str:
    """Kubernetes' expansion of `$(VAR)` in command, args and env values; `$$(VAR)` escapes."""
    def replace(match: re.Match[str]) -> str:
        if match.group(0).startswith("$$"):
            return match.group(0)[1:]
        return env.get(match.group(1), match.group(0))
    return re.sub(r"\$\$?\(([A-Za-z_][A-Za-z0-9_]*)\)", replace, text)


def container_env(container: dict[str, Any], pod_name: str) -> dict[str, str]:
    """The container's environment as the kubelet builds it (fieldRef metadata.name only)."""
    env: dict[str, str] = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = expand_dependent_vars(item["value"], env)
        elif item.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name":
            env[item["name"]] = pod_name
        else:
            raise AssertionError(f"cannot emulate env source {item}")
    return env


class Server:
    """A process whose output goes to a file, stopped (and waited for) by `stop`."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.argv = argv
        self.log = log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(argv, env={"PATH": os.environ.get("PATH", ""), **env},
                                        stdout=self._log_file, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log_file.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def wait_until(condition: Callable[[], bool], timeout: float, what: str,
               servers: list[Server] = ()) -> None:  # type: ignore[assignment]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for server in servers:
            if server.process.poll() is not None:
                raise AssertionError(f"{server.argv[0]} exited with {server.process.returncode} "
                                     f"while waiting for {what}:\n{server.output()}")
        if condition():
            return
        time.sleep(0.1)
    logs = "\n".join(s.output() for s in servers)
    raise AssertionError(f"{what}: not within {timeout} s\n{logs}")


def http_json(url: str, body: dict[str, Any] | None = None, timeout: float = 5) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def answers(url: str) -> bool:
    try:
        http_json(url, timeout=1)
        return True
    except (urllib.error.URLError, OSError, ValueError):
        return False
