"""`npm run synth` (`cdk8s synth`, the pinned CLI from package.json) writes the same dist/ as
`python main.py`, never leaves dist/ deleted, and is quiet."""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, SHIPPED

CLI = ROOT / "node_modules" / ".bin" / "cdk8s"
NPM = shutil.which("npm")
# Set by scripts/with-env for the tests; a user's shell has none of them.
USER_ENV = {k: v for k, v in os.environ.items()
            if k not in ("CDK8S_CHECK_UPGRADE", "JSII_NODE",
                         "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION")}
# What the cdk8s CLI prints when it checks npm for a new version offline, or when it fails.
NOISE = ("A new version", "    at ", "Traceback", "end-of-life")

pytestmark = pytest.mark.skipif(not CLI.exists() or NPM is None,
                                reason="node_modules is missing: run `npm ci` (make test does)")


def _checkout(tmp_path: Path, *, python_environment: bool) -> Path:
    """The files `npm run synth` reads and writes, in a folder of their own: the test must not
    replace the dist/ that other tests read. node_modules (and .venv) are this checkout's."""
    copy = tmp_path / "checkout"
    copy.mkdir()
    for name in ("cdk8s.yaml", "main.py", "package.json", "scripts", "environments", "dist"):
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, copy / name)
        else:
            shutil.copy2(ROOT / name, copy / name)
    (copy / "node_modules").symlink_to(ROOT / "node_modules")
    if python_environment:
        (copy / ".venv").symlink_to(ROOT / ".venv")
    return copy


def _npm_run_synth(checkout: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert NPM is not None
    return subprocess.run([NPM, "run", "--silent", "synth", *(["--", *args] if args else [])],
                          cwd=checkout, capture_output=True, text=True, timeout=300,
                          env={**USER_ENV, "npm_config_update_notifier": "false"})


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _assert_same_tree(left: Path, right: Path) -> None:
    assert sorted(p.name for p in left.iterdir()) == sorted(p.name for p in right.iterdir())
    for sub in (p for p in left.iterdir() if p.is_dir()):
        names = sorted(p.name for p in sub.iterdir())
        assert names == sorted(p.name for p in (right / sub.name).iterdir()), sub.name
        _, mismatch, errors = filecmp.cmpfiles(sub, right / sub.name, names, shallow=False)
        assert not mismatch and not errors, (sub.name, mismatch)


def test_without_the_python_environment_it_says_to_run_make_synth_and_deletes_nothing(
        tmp_path: Path) -> None:
    # A fresh clone after only `npm ci`: the CLI deletes its output folder before the app runs,
    # so that folder must not be dist/.
    checkout = _checkout(tmp_path, python_environment=False)
    before = _snapshot(checkout / "dist")
    result = _npm_run_synth(checkout)
    assert result.returncode != 0
    assert "run `make synth` first" in result.stderr
    assert "not found" not in result.stderr
    assert _snapshot(checkout / "dist") == before


def test_a_failing_synth_leaves_dist_as_it_was_and_a_good_one_replaces_it(
        tmp_path: Path) -> None:
    checkout = _checkout(tmp_path, python_environment=True)
    dev = checkout / "environments" / "dev.yaml"
    good = dev.read_text()
    dev.write_text(good.replace("\nrelease:", "\nrelase:", 1))
    (checkout / "dist" / "dev" / "stale.k8s.yaml").write_text("kind: Stale\n")
    before = _snapshot(checkout / "dist")

    failed = _npm_run_synth(checkout)
    assert failed.returncode != 0
    assert "environments/dev.yaml: relase: unknown key" in failed.stderr
    assert _snapshot(checkout / "dist") == before

    dev.write_text(good)
    result = _npm_run_synth(checkout)
    assert result.returncode == 0, result.stderr
    assert not any(noise in result.stderr for noise in NOISE), result.stderr
    # The summary synth prints, on stderr: the CLI discards the app's stdout.
    for name in SHIPPED:
        assert f"{name}: " in result.stderr and f" -> dist/{name}\n" in result.stderr
    _assert_same_tree(checkout / "dist", ROOT / "dist")
    # The CLI's own output folder is a copy, which it lists and may delete.
    _assert_same_tree(checkout / "cdk8s.out", ROOT / "dist")


def test_cdk8s_synth_with_an_output_folder_writes_the_committed_dist(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    result = subprocess.run(
        [str(CLI), "synth", "--check-upgrade=false", "--output", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**USER_ENV, "PATH": f"{ROOT / 'node_modules' / '.bin'}:{os.environ['PATH']}"})
    assert result.returncode == 0, result.stderr
    assert not any(noise in result.stderr for noise in NOISE), result.stderr
    _assert_same_tree(out, ROOT / "dist")
