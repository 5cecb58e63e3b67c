"""The output folder of `synth` and `from-helm-values`: recognised, replaced atomically, and
written by one run at a time.

**Which folders are replaced.** Only a folder this tool wrote, or an empty or new one. Its
contents must be what the tool writes (environment folders of manifests, or the manifests
themselves), so that a file someone added is never deleted, and it must be signed: `synth`'s
folder carries `MARKER`; a folder of one environment's manifests (`from-helm-values`, and each
`dist/<environment>/`) has its `PLAN.md` and `kustomization.yaml`, which is also how a `dist/`
written before the marker existed is recognised.
The output is never a symbolic link, the current folder or a folder that holds it, nor a folder
that holds the input files.

**How it is replaced.** The new contents are written into a hidden sibling folder
(`.<name>.new-XXXXXXXX`), which is then swapped with the output folder in one step: Linux's
`renameat2(RENAME_EXCHANGE)` exchanges the two names atomically, so at every instant `<name>`
is either the complete old folder or the complete new one, whatever kills the process when.
Where the file system or the kernel cannot exchange (not Linux, some network file systems), the
old folder is renamed away (`.<name>.old-XXXXXXXX`) and the new one renamed in: a kill between
the two renames leaves no `<name>`, and the next run renames the old one back before anything
else. `<name>` stays a plain folder either way (a symbolic link to versioned folders would be
atomic too, but git, kustomize and Argo CD would then see a link, not the manifests).

**Leftovers and concurrency.** Every run takes an exclusive lock (flock) on the parent folder
for as long as it writes, so two runs into one folder follow each other; under the lock it
first removes what killed runs left behind (hidden siblings that carry the marker or the
tool's layout).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import ConfigError, Problem

MARKER = ".dynamo-cdk8s-output"
MARKER_TEXT = (
    "This folder is written by dynamo-cdk8s (`make synth`, `python -m constructs_lib synth`),\n"
    "which replaces its contents on every run: edit the environment files, not these\n"
    "manifests. This file tells it the folder is its own to replace.\n")
_MANIFEST = re.compile(r"^[^/]+\.k8s\.yaml$")
_OWN_FILES = ("kustomization.yaml", "PLAN.md", MARKER)

Layout = Literal["environments", "manifests"]
"""`environments`: one folder of manifests per environment (`synth`); `manifests`: the
manifests directly in the folder (`from-helm-values`)."""


class OutputError(OSError):
    """The output could not be written (disk full, permissions): the input was fine. Names the
    folder or file the user gave, never a temporary one."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def describe(err: OSError) -> str:
    """`No space left on device (ENOSPC)`: what an OSError says, without its file names."""
    name = errno.errorcode.get(err.errno or 0)
    reason = err.strerror or str(err)
    return f"{reason} ({name})" if name else reason


# -- what may be replaced ------------------------------------------------------------------------


def _is_own_file(entry: os.DirEntry[str]) -> bool:
    return entry.is_file(follow_symlinks=False) and (
        entry.name in _OWN_FILES or bool(_MANIFEST.match(entry.name)))


def _foreign_entries(folder: Path, layout: Layout) -> list[str]:
    """Entries (relative paths) the tool would not have written there."""
    foreign = []
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if _is_own_file(entry) and (layout == "manifests" or entry.name == MARKER):
                continue
            if layout == "environments" and entry.is_dir(follow_symlinks=False):
                with os.scandir(entry.path) as inner:
                    foreign += [f"{entry.name}/{e.name}" for e in inner if not _is_own_file(e)]
                continue
            foreign.append(entry.name)
    return foreign


def _signed(folder: Path, layout: Layout) -> bool:
    """Whether `folder` carries the marker, or the plan and kustomization every folder of
    manifests this tool wrote before the marker existed has."""
    if (folder / MARKER).is_file():
        return True
    signature = ("PLAN.md", "kustomization.yaml")
    if layout == "manifests":
        return all((folder / name).is_file() for name in signature)
    subfolders = [p for p in folder.iterdir() if p.is_dir()]
    return bool(subfolders) and all((sub / name).is_file() for sub in subfolders
                                    for name in signature)


def owned(folder: Path, layout: Layout) -> bool:
    """Whether `folder` is one this tool wrote (or is empty): nothing else in it, and signed."""
    try:
        return not any(folder.iterdir()) or (
            not _foreign_entries(folder, layout) and _signed(folder, layout))
    except OSError:
        return False


@dataclass(frozen=True)
class OutputFolder:
    path: Path
    layout: Layout
    flag: str = "--output"
    """How the command line names the folder in problems."""
    sources: Sequence[Path] = ()
    """Input files and folders the output must not hold."""

    @property
    def name(self) -> str:
        return self.path.name

    def problem(self, message: str) -> ConfigError:
        return ConfigError([Problem(self.flag, "", f"{self.path} {message}")])

    def check(self) -> None:
        """Raises ConfigError, naming the folder, when it is not one to replace."""
        path = self.path
        resolved = path.resolve()
        protected = [(Path.cwd().resolve(), "the current folder"),
                     *((Path(s).resolve(), f"{s}, an input of this command")
                       for s in self.sources)]
        for inside, what in protected:
            if resolved == inside or resolved in inside.parents:
                where = (f"holds {what}" if resolved != inside else "is the current folder"
                         if what == "the current folder" else "is an input of this command")
                raise self.problem(f"{where}; its contents would be replaced, so give a folder "
                                   "of its own such as dist")
        if path.is_symlink():
            raise self.problem(f"is a symbolic link (to {os.readlink(path)}); give the folder "
                               "itself: the contents of the folder it points to would be "
                               "replaced")
        if not path.name or path.name in (".", ".."):
            raise self.problem("is not a folder name; give a folder such as dist")
        if not path.exists():
            return
        if not path.is_dir():
            raise self.problem("is a file; give a folder")
        try:
            foreign = _foreign_entries(path, self.layout)
        except OSError as err:
            raise OutputError(path, f"cannot be read: {describe(err)}") from None
        if foreign:
            raise self.problem(
                f"holds files this command does not write (such as {foreign[0]}); its "
                "contents are replaced, so give a new or empty folder, or one it wrote before")
        if any(path.iterdir()) and not _signed(path, self.layout):
            raise self.problem(
                f"was not written by this command (it has no {MARKER}); its contents are "
                "replaced, so give a new or empty folder, or one it wrote before")

    def replace(self, build: Callable[[Path], None], keep: Callable[[str], bool] | None = None,
                warnings: list[str] | None = None) -> None:
        """Check the folder, then write it anew: `build(folder)` fills a fresh hidden folder,
        which then takes the output's place in one step. Entries of the current output for
        which `keep(name)` is true are carried over. Problems removing the old copy are
        appended to `warnings` (or printed), never raised: the output is complete by then."""
        parent = self.path.absolute().parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputError(parent, f"cannot be created: {describe(err)}") from None
        with locked(parent):
            self._recover(parent)
            self.check()
            try:
                staging = Path(tempfile.mkdtemp(prefix=f".{self.name}.new-", dir=parent))
            except OSError as err:
                raise OutputError(parent, f"cannot be written: {describe(err)}") from None
            try:
                _set_mode(staging)
                _write_marker(staging)
                build(staging)
                if keep is not None and self.path.is_dir():
                    _carry_over(self.path, staging, keep)
                if self.layout == "manifests":
                    # A folder of one environment's manifests, like dist/<environment>: its
                    # plan and kustomization are its signature (the marker only marked it
                    # as a run's own while it was written).
                    (staging / MARKER).unlink()
                exchanged = _swap(staging, self.path)
            except OutputError:
                _remove(staging)
                raise
            except OSError as err:
                _remove(staging)
                raise OutputError(self.path, f"cannot be written: {describe(err)}") from None
            except BaseException:
                _remove(staging)
                raise
            left = _remove(exchanged) if exchanged is not None else []
            for leftover in left:
                message = (f"warning: {leftover}: the previous output could not be removed "
                           "entirely; remove it when you can (the next run tries again)")
                if warnings is None:
                    print(message, file=sys.stderr)
                else:
                    warnings.append(message)

    # -- leftovers of killed runs -----------------------------------------------------------------

    def _recover(self, parent: Path) -> None:
        """Put back an output a run was killed in the middle of replacing (fallback swaps only),
        then remove the hidden folders killed runs left behind."""
        pattern = re.compile(rf"^\.{re.escape(self.name)}\.(new-|old-|old\.)?[a-z0-9_]{{8}}$")
        leftovers = sorted((p for p in parent.iterdir() if pattern.match(p.name)
                            and p.is_dir() and not p.is_symlink()),
                           key=lambda p: p.stat().st_mtime)
        if not self.path.exists() and not self.path.is_symlink():
            for candidate in reversed(leftovers):  # the newest first
                # (the previous versions of this tool kept it in `.<name>.old.X/<name>`)
                old = candidate / self.name if ".old." in candidate.name else candidate
                if ".old" in candidate.name and old.is_dir() and not old.is_symlink() \
                        and self._own(old):
                    os.rename(old, self.path)
                    break
        for leftover in leftovers:
            if not leftover.exists():
                continue
            # The previous versions of this tool kept the old output in `.<name>.old.X/<name>`.
            inner = leftover / self.name
            nested = ".old." in leftover.name and inner.is_dir() and not inner.is_symlink() \
                and [p.name for p in leftover.iterdir()] == [self.name]
            if self._own(inner if nested else leftover):
                _remove(leftover)
        if self.layout == "manifests":
            # The previous versions of from-helm-values wrote in `.from-helm-values.X/out`.
            for leftover in parent.glob(".from-helm-values.*"):
                if re.fullmatch(r"\.from-helm-values\.[a-z0-9_]{8}", leftover.name) and \
                        leftover.is_dir() and not leftover.is_symlink() and \
                        {p.name for p in leftover.iterdir()} <= {"out", "previous"}:
                    _remove(leftover)

    def _own(self, folder: Path) -> bool:
        """Whether a hidden sibling of the tool's naming is the tool's to remove: a killed run's
        staging folder carries the marker (written first), an old copy that was partly removed
        holds nothing but what the tool writes."""
        try:
            return (folder / MARKER).is_file() or not _foreign_entries(folder, self.layout)
        except OSError:
            return False


def _set_mode(folder: Path) -> None:
    """The mode a folder made with mkdir gets (mkdtemp's is 0700, readable by its owner only)."""
    umask = os.umask(0o022)
    os.umask(umask)
    os.chmod(folder, 0o777 & ~umask)


def _write_marker(folder: Path) -> None:
    (folder / MARKER).write_text(MARKER_TEXT, encoding="utf-8")


def _carry_over(current: Path, staging: Path, keep: Callable[[str], bool]) -> None:
    for entry in current.iterdir():
        target = staging / entry.name
        if keep(entry.name) and not target.exists() and entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, target, symlinks=True)


def _remove(folder: Path) -> list[str]:
    """Remove a folder tree; returns the paths that could not be removed."""
    failed: list[str] = []

    def note(_function: object, path: str, _error: object) -> None:
        failed.append(path)

    if sys.version_info >= (3, 12):
        shutil.rmtree(folder, onexc=note)
    else:
        shutil.rmtree(folder, onerror=note)
    return [str(folder)] if failed and folder.exists() else []


# -- the swap -----------------------------------------------------------------------------------

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _renameat2() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function: Callable[..., int] = libc.renameat2
    except (OSError, AttributeError):
        return None
    return function


_RENAMEAT2 = _renameat2()


def exchange(first: Path, second: Path) -> bool:
    """Swap two existing paths' names in one step; False where the system cannot."""
    if _RENAMEAT2 is None:
        return False
    result = _RENAMEAT2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second),
                        _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(second))


def _swap(staging: Path, output: Path) -> Path | None:
    """Put `staging` in `output`'s place; returns where the old output now is, if any."""
    if not output.exists():
        os.rename(staging, output)
        return None
    if exchange(staging, output):
        return staging
    retired = Path(tempfile.mkdtemp(prefix=f".{output.name}.old-", dir=output.parent))
    os.rmdir(retired)
    os.rename(output, retired)
    try:
        os.rename(staging, output)
    except BaseException:
        os.rename(retired, output)
        raise
    return retired


# -- one writer at a time -----------------------------------------------------------------------

_held: dict[Path, int] = {}


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on `folder` for this process (reentrant), so that runs writing into it
    follow each other; a run that has to wait says so on stderr."""
    folder = folder.absolute()
    if folder in _held:
        _held[folder] += 1
        try:
            yield
        finally:
            _held[folder] -= 1
        return
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise OutputError(folder, f"cannot be opened: {describe(err)}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting: another run is writing into {folder}", file=sys.stderr)
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            pass  # a file system without locks: run unserialized, as before
        _held[folder] = 1
        try:
            yield
        finally:
            del _held[folder]
    finally:
        os.close(fd)
