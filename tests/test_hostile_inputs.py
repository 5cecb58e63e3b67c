"""Issue 14's classes of hostile and unlucky input, each case generated (tests/support/hostile.py)
and run as a user runs the command, in a copy of the project: exit code 2, one short line per
problem naming its source, well within the time bound, and every file of the project, dist/
included, exactly as it was. A few of each class also run as separate processes under a memory
cap, for what only a process shows (a traceback on the way out, memory)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from constructs_lib.tools import cli
from tests.conftest import ROOT
from tests.support import hostile
from tests.support.hostile import Case

CASES = hostile.all_cases()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hostile.make_project(tmp_path_factory.mktemp("template"))


def prepare(case: Case, template: Path, tmp_path: Path) -> tuple[Path, tuple[str, ...]]:
    project = hostile.copy_project(template, tmp_path / "project")
    hostile.make_files(project, case)
    return project, tuple(a.replace("{project}", str(project)) for a in case.args)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_a_hostile_input_is_refused_in_one_line_and_changes_nothing(
        case: Case, template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    project, args = prepare(case, template, tmp_path)
    before = hostile.snapshot(tmp_path)
    monkeypatch.chdir(project)
    start = time.monotonic()
    with hostile.time_bound(hostile.TIME_BOUND):
        code = cli.main(list(args))
    elapsed = hostile.elapsed_since(start)
    hostile.check_refusal(case, code, capsys.readouterr().err, elapsed)
    assert hostile.snapshot(tmp_path) == before


# One or two of each class in a process of its own, with 1 GiB of address space: enough for
# the command, far from what the blow-ups took (several GiB).
IN_A_PROCESS = ["alias-bomb-9x10-top", "nesting-400000-list", "recursive-alias-0",
                "big-integer-3", "non-finite-0", "yaml-1.1-yes-replicas", "environment-fifo",
                "set-file-dev-zero", "many-problems", "synth-output-current-folder"]


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


@pytest.mark.parametrize("case_id", IN_A_PROCESS)
def test_a_hostile_input_exits_2_in_a_process_of_its_own(case_id: str, template: Path,
                                                          tmp_path: Path) -> None:
    [case] = [c for c in CASES if c.id == case_id]
    project, args = prepare(case, template, tmp_path)
    before = hostile.snapshot(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "constructs_lib", *args], cwd=project,
                            env=env, capture_output=True, text=True,
                            timeout=hostile.TIME_BOUND, preexec_fn=_limit_memory)
    hostile.check_refusal(case, result.returncode, result.stderr,
                          hostile.elapsed_since(start))
    assert result.stdout == ""
    assert hostile.snapshot(tmp_path) == before


def test_every_class_of_the_issue_has_cases() -> None:
    prefixes = {"alias-bomb", "nesting", "recursive-alias", "big-integer", "non-finite",
                "yaml-1.1", "tag", "duplicate", "environment-fifo", "values-sparse",
                "set-file-dev-zero", "control", "long-value", "many-problems", "replicas",
                "nodes", "workers", "annotations", "relabeling", "mount-path", "storage-size",
                "storage-class", "synth-name", "plan-name", "twin-files", "write-environment",
                "set-deep-key", "synth-output", "helm-output"}
    missing = {p for p in prefixes if not any(c.id.startswith(p) for c in CASES)}
    assert not missing
    assert len(CASES) >= 200
