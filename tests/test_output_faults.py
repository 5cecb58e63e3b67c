"""Faults while synth writes its output (issue 14): a kill at any moment, Ctrl-C, a full disk,
a permission, an immutable file, two synths at once. Each runs `python -m constructs_lib synth`
as a process of its own on a project whose dist/ holds an older synth, and checks the exit code
and message, that dist/ is at every moment the complete old or the complete new output, and
that the next run leaves no temporary folder behind.

Kills land at chosen points through a small driver that replaces one function of
constructs_lib.tools.output with one that kills its own process (SIGKILL: no cleanup runs) or
interrupts it (SIGINT to its process group, as Ctrl-C in a terminal does)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from constructs_lib.model.loader import load_environment
from constructs_lib.tools import synth
from tests.conftest import ROOT
from tests.support.hostile import snapshot

ENVIRONMENT = ROOT / "environments" / "dev.yaml"
TIMEOUT = 60


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """dist/ folders of an older and a newer dev.yaml (the newer adds a pod label)."""
    where = tmp_path_factory.mktemp("outputs")
    newer = where / "newer.yaml"
    newer.write_text(_newer_text())
    synth.synthesize({"dev": load_environment(ENVIRONMENT)}, where / "old")
    synth.synthesize({"dev": load_environment(newer)}, where / "new")
    return where / "old", where / "new"


def _newer_text() -> str:
    data = yaml.safe_load(ENVIRONMENT.read_text())
    data["pod_labels"] = {"team": "inference"}
    return yaml.safe_dump(data, sort_keys=False)


@pytest.fixture
def project(tmp_path: Path, outputs: tuple[Path, Path]) -> Path:
    """environments/dev.yaml in its newer version, and dist/ as the older synth wrote it."""
    project = tmp_path / "project"
    (project / "environments").mkdir(parents=True)
    (project / "environments" / "dev.yaml").write_text(_newer_text())
    shutil.copytree(outputs[0], project / "dist")
    return project


DRIVER = """
import os, signal, sys
from pathlib import Path
from constructs_lib.tools import output, synth
from constructs_lib.tools.cli import main

point = os.environ["FAULT"]
kill = lambda: os.kill(os.getpid(), signal.SIGKILL)
interrupt = lambda: os.killpg(os.getpgid(0), signal.SIGINT)
real_swap, real_remove, real_rename, real_synth_app = (
    output._swap, output._remove, os.rename, synth.synth_app)

def swap(staging, out):
    if point in ("kill-before-swap", "interrupt-before-swap"):
        (kill if point.startswith("kill") else interrupt)()
    return real_swap(staging, out)

def remove(folder):
    if ".new-" in folder.name and point in ("kill-after-swap", "interrupt-after-swap"):
        (kill if point.startswith("kill") else interrupt)()
    return real_remove(folder)

def rename(source, target):
    real_rename(source, target)
    if point == "kill-between-renames" and ".old-" in Path(target).name:
        kill()

def synth_app(app):
    if point == "interrupt-in-jsii":
        interrupt()
        import time; time.sleep(0.5)
    return real_synth_app(app)

if point == "kill-between-renames":
    output._RENAMEAT2 = None  # as on a system without renameat2(RENAME_EXCHANGE)
output._swap, output._remove, os.rename, synth.synth_app = swap, remove, rename, synth_app
sys.exit(main(sys.argv[1:]))
"""


def run(project: Path, *args: str, fault: str | None = None,
        wait: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    if fault:
        env["FAULT"] = fault
    command = ([sys.executable, "-c", DRIVER] if fault else
               [sys.executable, "-m", "constructs_lib"]) + list(args or ("synth",))
    # A session of its own: the driver's SIGINT reaches its process group only, as a
    # terminal's Ctrl-C reaches the foreground job.
    return subprocess.run(command, cwd=project, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT, start_new_session=True)


def leftovers(project: Path) -> list[str]:
    return sorted(p.name for p in project.iterdir() if p.name.startswith("."))


def problem_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if not line.startswith("warning: ")]


@pytest.mark.parametrize("fault, complete", [
    ("kill-before-swap", "old"),
    ("kill-after-swap", "new"),
    ("kill-between-renames", None),
])
def test_a_kill_at_any_point_leaves_a_complete_dist_and_the_next_run_cleans_up(
        project: Path, outputs: tuple[Path, Path], fault: str, complete: str | None) -> None:
    old, new = (snapshot(folder) for folder in outputs)
    result = run(project, fault=fault)
    assert result.returncode == -signal.SIGKILL
    if complete is not None:
        assert snapshot(project / "dist") == {"old": old, "new": new}[complete]
    else:
        # Without an atomic exchange there is an instant with no dist/ (the kill is there);
        # the old copy waits beside it, whole.
        assert not (project / "dist").exists()
        [stranded] = [p for p in project.iterdir() if ".dist.old-" in p.name]
        assert snapshot(stranded) == old
    assert leftovers(project)
    again = run(project)
    assert again.returncode == 0, again.stderr
    assert snapshot(project / "dist") == new
    assert leftovers(project) == []


@pytest.mark.parametrize("fault, complete", [
    ("interrupt-in-jsii", "old"),
    ("interrupt-before-swap", "old"),
    ("interrupt-after-swap", "new"),
])
def test_ctrl_c_exits_130_with_one_line_and_a_complete_dist(
        project: Path, outputs: tuple[Path, Path], fault: str, complete: str) -> None:
    old, new = (snapshot(folder) for folder in outputs)
    start = time.monotonic()
    result = run(project, fault=fault)
    assert time.monotonic() - start < 20
    assert result.returncode == 130, result.stderr
    assert problem_lines(result.stderr) == ["interrupted"]
    assert "Traceback" not in result.stderr and "ECONNRESET" not in result.stderr
    assert snapshot(project / "dist") == {"old": old, "new": new}[complete]
    if complete == "old":
        assert leftovers(project) == []


def test_ctrl_c_from_the_terminal_at_an_arbitrary_moment(
        project: Path, outputs: tuple[Path, Path]) -> None:
    old, new = (snapshot(folder) for folder in outputs)
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    process = subprocess.Popen([sys.executable, "-m", "constructs_lib", "synth"], cwd=project,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    time.sleep(0.6)  # about when jsii runs
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode in (0, 130), stderr
    assert "Traceback" not in stderr and "ECONNRESET" not in stderr
    if process.returncode == 130:
        assert problem_lines(stderr) == ["interrupted"]
    assert snapshot(project / "dist") in (old, new)


NODE_SESSIONS = """
import os, sys
from constructs_lib.tools import cli, jsii_session
code = cli.main(["synth"])
print(code, len(jsii_session._started),
      all(os.getsid(p.pid) == p.pid != os.getsid(0) for p in jsii_session._started))
"""


def test_jsii_node_runs_in_a_session_of_its_own_so_ctrl_c_reaches_only_python(
        project: Path) -> None:
    # Whatever a command imports first: a module that imports cdk8s before new_app would start
    # Node in the terminal's process group, and Ctrl-C would kill it mid-request.
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    result = subprocess.run([sys.executable, "-c", NODE_SESSIONS], cwd=project, env=env,
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert result.stdout.splitlines()[-1] == "0 1 True", result.stderr


def test_two_synths_at_once_follow_each_other(project: Path, outputs: tuple[Path, Path]) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    processes = [subprocess.Popen([sys.executable, "-m", "constructs_lib", "synth"],
                                  cwd=project, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(TIMEOUT), *p.communicate()) for p in processes]
    for code, stdout, stderr in results:
        assert code == 0, stderr
        assert stdout.splitlines()[0] == "dev: 8 resources -> dist/dev"
        assert all(line.startswith("waiting: another run is writing into")
                   for line in problem_lines(stderr))
    assert snapshot(project / "dist") == snapshot(outputs[1])
    assert leftovers(project) == []


def _can(command: list[str]) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _chattr(flag: str, path: Path) -> bool:
    return shutil.which("chattr") is not None and _can(["chattr", flag, str(path)])


def test_a_full_disk_is_one_line_and_leaves_dist_as_it_was(
        project: Path, outputs: tuple[Path, Path], tmp_path: Path) -> None:
    """A real ENOSPC: the project on a 1 MiB tmpfs, in a mount namespace of its own."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or not _can(
            ["unshare", "-m", "mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(tmp_path)]):
        pytest.skip("needs root and unshare -m to mount a small tmpfs")
    disk = tmp_path / "disk"
    disk.mkdir()
    script = f"""
set -e
mount -t tmpfs -o size=1m tmpfs {disk}
cp -a {project}/. {disk}/
cd {disk}
# leave 40 KiB: the new manifests (about 70 KiB) do not fit
fallocate -l $(( ($(df --output=avail -k . | tail -1) - 40) * 1024 )) filler
set +e
{sys.executable} -m constructs_lib synth 2> stderr.txt
echo "exit $?"
find . -path ./filler -prune -o -print | sort | grep -v stderr.txt > listing.txt
cp stderr.txt listing.txt {tmp_path}/
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(["unshare", "-m", "bash", "-c", script], env=env,
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert "exit 1" in result.stdout, result.stdout + result.stderr
    stderr = (tmp_path / "stderr.txt").read_text()
    assert problem_lines(stderr) == [
        "error: dist: cannot be written: No space left on device (ENOSPC)"], stderr
    listing = (tmp_path / "listing.txt").read_text().split()
    old = sorted(f"./dist/{name}" for name in snapshot(outputs[0]))
    assert sorted(p for p in listing if p.startswith("./dist/")) == old
    assert not [p for p in listing if p.startswith("./.")]


def test_a_folder_it_may_not_write_in_is_one_line_naming_it(project: Path) -> None:
    if not _chattr("+i", project):
        pytest.skip("needs chattr +i (root, a file system with attributes)")
    try:
        result = run(project)
    finally:
        _chattr("-i", project)
    assert result.returncode == 1
    assert problem_lines(result.stderr) == [
        f"error: {project}: cannot be written: Operation not permitted (EPERM)"]
    assert "Traceback" not in result.stderr


def test_an_immutable_file_in_the_old_output_is_a_warning_and_is_removed_later(
        project: Path, outputs: tuple[Path, Path]) -> None:
    stuck = project / "dist" / "dev" / "PLAN.md"
    if not _chattr("+i", stuck):
        pytest.skip("needs chattr +i (root, a file system with attributes)")
    try:
        result = run(project)
        assert result.returncode == 0, result.stderr
        assert snapshot(project / "dist") == snapshot(outputs[1])
        [kept] = leftovers(project)
        assert [line for line in result.stderr.splitlines() if "could not be removed" in line] \
            == [f"warning: {project / kept}: the previous output could not be removed entirely; "
                "remove it when you can (the next run tries again)"]
        assert sorted(p.name for p in (project / kept).rglob("*")) == ["PLAN.md", "dev"]
    finally:
        _chattr("-i", project / leftovers(project)[0] / "dev" / "PLAN.md"
                if leftovers(project) else stuck)
    again = run(project)
    assert again.returncode == 0, again.stderr
    assert leftovers(project) == []
