from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from constructs_lib.cli import main
from tests.conftest import ENVIRONMENTS, ROOT


def test_synth_writes_each_environment_into_its_folder(tmp_path: Path, capsys) -> None:
    assert main(["synth", str(ENVIRONMENTS / "single-node.yaml"), "-o", str(tmp_path)]) == 0
    assert (tmp_path / "single-node" / "kustomization.yaml").is_file()
    assert "single-node:" in capsys.readouterr().out


def test_bad_input_exits_2_with_one_line_per_problem_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("release: R1\nmode: single\nfrontend:\n  config: {}\nrdma: {enable: true}\n")
    result = subprocess.run(
        [sys.executable, "-m", "constructs_lib", "synth", str(bad), "-o", str(tmp_path / "out")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert f"{bad}: release: 'R1' is not a valid DNS-1123 label" in lines[0]
    assert any(line.startswith(f"{bad}: rdma.enable: unknown key") for line in lines)
    assert not (tmp_path / "out").exists()


def test_run_local_refuses_a_v01_environment(capsys) -> None:
    assert main(["run-local", str(ENVIRONMENTS / "single-node.yaml")]) == 2
    assert "dynamo: run-local runs Dynamo 1.x environments; this one is v0.1" in (
        capsys.readouterr().err)
