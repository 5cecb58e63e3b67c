"""A pod's ServiceAccount token volume at the path in-cluster clients read it from, in a private
mount namespace per pod (Linux; standard library and libc only). K3 of translate.py.

Why a mount namespace: Dynamo 1.6.1's Kubernetes client (kube-rs 2.0.1, `Config::incluster`)
reads the token, CA and namespace from `/var/run/secrets/kubernetes.io/serviceaccount/`, a path
compiled into it (the strings are in `dynamo/_core.abi3.so`; the only variables it reads are
`KUBERNETES_SERVICE_HOST`/`PORT`, `KUBECONFIG` and `KUBE_RS_DEBUG_*`, of which
`KUBE_RS_DEBUG_OVERRIDE_URL` moves only the URL). A kubeconfig would name other files, but it
is another code path than the pods take, so it would not show that the in-cluster one works.
Writing under /var/run of this machine would change the machine, and collide between pods
(each has its own token and namespace). So each pod's processes start in a mount namespace of
their own where a small read-only tmpfs at that path holds its files, as the kubelet mounts
them; nothing of it is visible outside, and it goes away with the pod's last process.

How, from the calling thread (namespaces belong to threads, and a child process starts in the
namespaces of the thread that starts it, as :mod:`.netns` uses for the network):

- :class:`PodMountNamespaces` first moves the thread into a copy of its mount namespace whose
  mounts are all private (`MS_REC | MS_PRIVATE` on `/`), so that nothing mounted later
  propagates back to the machine's namespace;
- :meth:`PodMountNamespaces.pod` moves it into a fresh copy of that one, provides the files,
  lets the caller start the pod's processes, and moves the thread back;
- leaving restores the thread's original mount namespace (and working directory, which
  `setns` resets) where it may (root); in a user namespace it may not, and stays in the private
  copy, which the process's end discards.

The path's parents rarely exist (`/run/secrets` does not outside a pod). A directory cannot be
made under this machine's `/run` without changing it, so the deepest parent that exists gets a
tmpfs over it in the pod's namespace, with each of its original entries bound back (symlinks
copied): the processes see the machine's `/run` as it was, plus the ServiceAccount files.
Where the path does exist (run-local inside a pod of a real cluster), the tmpfs hides that pod's
own token. `/etc/podinfo` (a downward-API volume some pods mount) is hidden by an empty tmpfs
when this machine has one: the runtime reads the pod identity from its files before the
variables (measured: with `/etc/podinfo/pod_name` and `pod_namespace` present, the worker
applied its DynamoWorkerMetadata under those, ignoring `POD_NAME` and `POD_NAMESPACE`), and
K1's must be the ones it uses.

Needs `CAP_SYS_ADMIN` in the thread's user namespace: root, or the user namespace run-local
enters for the private network (:func:`.netns.private_network`); otherwise
:class:`MountNamespaceUnavailable` says why.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

CLONE_NEWNS = 0x00020000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
PODINFO_DIR = Path("/etc/podinfo")


class MountNamespaceUnavailable(RuntimeError):
    """No private mount namespace can be made here, and why."""


@dataclass(frozen=True)
class TokenVolume:
    """What the kubelet mounts for a pod with automountServiceAccountToken."""

    token: str
    ca: str
    """The API server's CA certificate (PEM)."""
    namespace: str

    @property
    def files(self) -> dict[str, str]:
        return {"token": self.token, "ca.crt": self.ca, "namespace": self.namespace}


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                           ctypes.c_char_p]
    return libc


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def _unshare(flags: int) -> None:
    _check(_libc().unshare(ctypes.c_int(flags)), "unshare")


def _setns(fd: int, flags: int) -> None:
    _check(_libc().setns(ctypes.c_int(fd), ctypes.c_int(flags)), "setns")


def mount(source: str | None, target: str | Path, fstype: str | None, flags: int,
          data: str | None = None) -> None:
    def raw(text: str | Path | None) -> bytes | None:
        return None if text is None else os.fsencode(text)

    _check(_libc().mount(raw(source), raw(target), raw(fstype), ctypes.c_ulong(flags),
                         raw(data)), f"mount {target}")


def _shadow(directory: Path) -> None:
    """A tmpfs over `directory` holding what it held: each entry bound back from the original,
    reached through a descriptor opened before the tmpfs hides it."""
    handle = os.open(directory, os.O_PATH | os.O_DIRECTORY)
    try:
        mode = os.stat(directory).st_mode & 0o7777
        entries = os.listdir(directory)
        mount("tmpfs", directory, "tmpfs", MS_NOSUID | MS_NODEV, f"mode={mode:o}")
        for entry in entries:
            source = f"/proc/self/fd/{handle}/{entry}"
            target = directory / entry
            if os.path.islink(source):
                os.symlink(os.readlink(source), target)
                continue
            if os.path.isdir(source):
                target.mkdir()
            else:
                target.touch()
            # MS_REC: mounts below the entry come along (and must, where they are locked).
            mount(source, target, None, MS_BIND | MS_REC)
    finally:
        os.close(handle)


def _read_only_tmpfs(path: Path, files: Mapping[str, str]) -> None:
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    mount("tmpfs", path, "tmpfs", flags, "size=1m,mode=755")
    for name, text in files.items():
        (path / name).write_text(text)
        (path / name).chmod(0o644)
    mount(None, path, None, MS_REMOUNT | MS_RDONLY | flags)


def provide(volume: TokenVolume, target: Path = SERVICE_ACCOUNT_DIR) -> None:
    """Mount `volume`'s files read-only at `target` in the calling thread's mount namespace,
    which must be a private one (see the module docstring); hide `/etc/podinfo`."""
    path = Path(os.path.realpath(target))
    if not path.is_dir():
        anchor = next(parent for parent in path.parents if parent.is_dir())
        if anchor == Path("/"):
            raise MountNamespaceUnavailable(f"none of the parents of {target} exists")
        _shadow(anchor)
        path.mkdir(parents=True)
    _read_only_tmpfs(path, volume.files)
    if PODINFO_DIR.is_dir():
        _read_only_tmpfs(PODINFO_DIR, {})


class PodMountNamespaces:
    """Mount namespaces of pods, made from the calling thread (see the module docstring)::

        with PodMountNamespaces() as mounts:
            with mounts.pod(volume):
                subprocess.Popen(...)   # sees volume's files at SERVICE_ACCOUNT_DIR
    """

    def __init__(self) -> None:
        self._original = -1
        self._base = -1
        self._cwd = ""

    def __enter__(self) -> PodMountNamespaces:
        self._cwd = os.getcwd()
        self._original = os.open("/proc/thread-self/ns/mnt", os.O_RDONLY)
        try:
            _unshare(CLONE_NEWNS)
        except OSError as exc:
            os.close(self._original)
            raise MountNamespaceUnavailable(
                f"unshare(CLONE_NEWNS) failed: {os.strerror(exc.errno or 0)}") from exc
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        self._base = os.open("/proc/thread-self/ns/mnt", os.O_RDONLY)
        return self

    @contextlib.contextmanager
    def pod(self, volume: TokenVolume) -> Iterator[None]:
        """The calling thread in a new mount namespace holding `volume` for the body."""
        _unshare(CLONE_NEWNS)
        try:
            provide(volume)
            yield
        finally:
            _setns(self._base, CLONE_NEWNS)
            os.chdir(self._cwd)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        try:
            with contextlib.suppress(OSError):
                # Not permitted from a user namespace: the thread stays in its private copy.
                _setns(self._original, CLONE_NEWNS)
            os.chdir(self._cwd)
        finally:
            os.close(self._base)
            os.close(self._original)
