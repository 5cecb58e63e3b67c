"""The output folder (constructs_lib/tools/output.py): which folders synth replaces, what it
keeps, how it swaps, and what it cleans after a killed run; in-process, on small outputs."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from constructs_lib.errors import ConfigError, Problem
from constructs_lib.model.loader import load_environment
from constructs_lib.tools import cli, output, synth
from tests.conftest import ENVIRONMENTS
from tests.support.hostile import snapshot

DEV = load_environment(ENVIRONMENTS / "dev.yaml")


def test_the_system_exchanges_two_folders_in_one_step(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "x").write_text("a")
    if not output.exchange(first, second):
        pytest.skip("no renameat2(RENAME_EXCHANGE) here: the two-rename fallback is used")
    assert (second / "x").read_text() == "a" and not (first / "x").exists()


@pytest.mark.parametrize("atomic", [True, False], ids=["exchange", "two-renames"])
def test_a_second_synth_replaces_the_first_and_leaves_nothing_beside_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, atomic: bool) -> None:
    if not atomic:
        monkeypatch.setattr(output, "_RENAMEAT2", None)
    out = tmp_path / "dist"
    synth.synthesize({"dev": DEV}, out)
    synth.synthesize({"other": DEV}, out)
    assert sorted(p.name for p in out.iterdir()) == [output.MARKER, "other"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dist"]
    assert oct(out.stat().st_mode & 0o777) == oct(0o777 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_named_files_replace_their_folders_and_keep_the_others(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    synth.synthesize({"dev": DEV, "old": DEV}, out)
    kept = snapshot(out / "old")
    synth.synthesize({"dev": DEV, "new": DEV}, out, keep_others=True)
    assert sorted(p.name for p in out.iterdir()) == [output.MARKER, "dev", "new", "old"]
    assert snapshot(out / "old") == kept
    synth.synthesize({"dev": DEV}, out)  # the whole folder of environments: a mirror
    assert sorted(p.name for p in out.iterdir()) == [output.MARKER, "dev"]


def test_a_dist_written_before_the_marker_is_recognised_and_marked(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    synth.synthesize({"dev": DEV}, out)
    (out / output.MARKER).unlink()
    synth.synthesize({"dev": DEV}, out)
    assert (out / output.MARKER).is_file()


def test_what_killed_runs_left_is_removed_and_a_stranded_output_put_back(
        tmp_path: Path) -> None:
    out = tmp_path / "dist"
    synth.synthesize({"dev": DEV}, out)
    before = snapshot(out)
    # What the previous versions left when killed: the old output moved aside with no dist/
    # in its place, a staging folder, from-helm-values' work folder; and someone's own folder
    # that happens to look like a staging folder.
    stranded = tmp_path / ".dist.old.k1ll3d0a"
    stranded.mkdir()
    out.rename(stranded / "dist")
    staging = tmp_path / ".dist.abcd_123"
    (staging / "dev").mkdir(parents=True)
    (staging / "dev" / "Deployment.x.k8s.yaml").write_text("kind: Deployment\n")
    (tmp_path / ".from-helm-values.zz9plura" / "out").mkdir(parents=True)
    theirs = tmp_path / ".dist.notes123"
    theirs.mkdir()
    (theirs / "mine.txt").write_text("mine\n")

    output.OutputFolder(out, "environments")._recover(tmp_path)
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".dist.notes123", ".from-helm-values.zz9plura", "dist"]
    output.OutputFolder(tmp_path / "converted", "manifests")._recover(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".dist.notes123", "dist"]


def test_a_run_waits_for_another_that_holds_the_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys\n"
         f"fd = os.open({str(tmp_path)!r}, os.O_RDONLY)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\nsys.stdin.readline()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdin is not None and holder.stdout is not None
    assert holder.stdout.readline() == "held\n"
    said = io.StringIO()
    waiting = threading.Event()

    class Stderr(io.StringIO):
        def write(self, text: str) -> int:
            said.write(text)
            waiting.set()
            return len(text)

    def release() -> None:  # once this process says it waits, and not before
        waiting.wait(30)
        assert holder.stdin is not None
        holder.stdin.write("go\n")
        holder.stdin.flush()

    monkeypatch.setattr(sys, "stderr", Stderr())
    threading.Thread(target=release, daemon=True).start()
    with output.locked(tmp_path), output.locked(tmp_path):  # reentrant within a process
        assert holder.wait(30) == 0  # it let go: only then does this process hold the lock
    assert said.getvalue() == f"waiting: another run is writing into {tmp_path}\n"


def test_environments_of_one_release_and_namespace_are_a_warning(tmp_path: Path) -> None:
    for name in ("blue", "green"):
        (tmp_path / f"{name}.yaml").write_text((ENVIRONMENTS / "dev.yaml").read_text())
    warnings: list[Problem] = []
    synth.load_all([tmp_path / "blue.yaml", tmp_path / "green.yaml"], warnings)
    assert [str(w) for w in warnings] == [
        f"{tmp_path / 'blue.yaml'}: release: dynamo-dev, in namespace dynamo-dev, as in green: "
        "the same resource names, so applying more than one of them replaces the others' "
        "resources (give each a release of its own to run them side by side)"]


def test_a_refused_output_names_the_folder_and_why(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.md").write_text("mine\n")
    with pytest.raises(ConfigError) as refused:
        output.OutputFolder(Path("notes"), "environments").check()
    assert [str(p) for p in refused.value.problems] == [
        "--output: notes holds files this command does not write (such as todo.md); its "
        "contents are replaced, so give a new or empty folder, or one it wrote before"]


def test_from_helm_values_writes_an_environment_folder_without_the_marker(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("rdma:\n  enable: false\n")
    out = tmp_path / "out"
    for _ in range(2):  # the second run replaces what the first wrote
        assert cli.main(["from-helm-values", "-f", str(values), "--release", "r1", "-o",
                         str(out)]) == 0, capsys.readouterr().err
    names = sorted(p.name for p in out.iterdir())
    assert output.MARKER not in names and "PLAN.md" in names and "kustomization.yaml" in names
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "values.yaml"]


def test_a_full_disk_while_writing_the_environment_file_names_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from constructs_lib.tools.helm import command

    values = tmp_path / "values.yaml"
    values.write_text("rdma:\n  enable: false\n")
    out = tmp_path / "out"
    assert cli.main(["from-helm-values", "-f", str(values), "--release", "r1", "-o",
                     str(out)]) == 0
    before = snapshot(out)
    capsys.readouterr()

    def full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(command.os, "replace", full)
    written = tmp_path / "environments" / "r1.yaml"
    assert cli.main(["from-helm-values", "-f", str(values), "--release", "r1", "-o", str(out),
                     "--write-environment", str(written)]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"error: {written}: cannot be written: No space left on device (ENOSPC)")
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["environments", "out", "values.yaml"]
    assert list((tmp_path / "environments").iterdir()) == []
