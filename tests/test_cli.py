from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from constructs_lib.cli import main
from tests.conftest import ENVIRONMENTS, ROOT


def test_synth_writes_each_environment_and_ends_with_a_summary_of_each(tmp_path: Path,
                                                                        capsys) -> None:
    files = [str(ENVIRONMENTS / f"{name}.yaml") for name in ("multi-node", "single-node")]
    assert main(["synth", *files, "-o", str(tmp_path)]) == 0
    assert (tmp_path / "single-node" / "kustomization.yaml").is_file()
    assert capsys.readouterr().out.splitlines() == [
        f"multi-node: 13 resources -> {tmp_path / 'multi-node'}",
        "  ConfigMap 4, Service 5, StatefulSet 2, Deployment 2; 24 GPUs",
        f"single-node: 11 resources -> {tmp_path / 'single-node'}",
        "  ConfigMap 3, Service 5, StatefulSet 2, Deployment 1; 8 GPUs",
    ]


def test_help_lists_every_command_with_its_one_line_help() -> None:
    result = subprocess.run([sys.executable, "-m", "constructs_lib", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60,
                            env={**os.environ, "COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    listed = {line.split()[0]: line.split(None, 1)[1:] for line in lines
              if line.startswith("    ") and not line.startswith("     ")}
    assert set(listed) == {"synth", "from-helm-values", "run-local", "schema", "docs"}
    assert all(help_text for help_text in listed.values()), "a help is not on its command's line"
    assert not [line for line in lines if line.startswith(" " * 10)], "a help wrapped"
    assert all(len(line) <= 80 for line in lines)


def test_version_is_the_installed_distribution_version(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == (
        f"python -m constructs_lib {metadata.version('dynamo-cdk8s')}")


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
