"""The command line: exit codes, one line per problem, no traceback, and all-or-nothing output."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from constructs_lib.tools import cli, synth
from tests.conftest import ENVIRONMENTS, ROOT, SHIPPED

GOOD = ENVIRONMENTS / "multi-node.yaml"


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """`python -m constructs_lib ARGS` in a fresh interpreter, as a user runs it."""
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    return subprocess.run([sys.executable, "-m", "constructs_lib", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("content, expected", [
    (None, "file not found"),
    ("release: [r1\n", "invalid YAML: line 2, column 1: expected ',' or ']', but got '<stream "
                       "end>' (while parsing a flow sequence that starts at line 1, column 10)"),
    (GOOD.read_text().replace("  replicas: 2\n", "  replicas: two\n"),
     "prefill.replicas: Input should be a valid integer (received two)"),
    (GOOD.read_text().replace("mode: multinode\n", "mode: multinode\nnode_pool: 3\n"),
     "node_pool: unknown key; allowed here: debug, dependencies, dependency_wait, dynamo, "
     "frontend, fullname_override, image, image_pull_secrets, mode, model_volume, name_override, "
     "namespace, network_policy, nodes, placement, pod_annotations, pod_labels, prefill, rdma, "
     "release, resource_defaults, security, service, shared_memory"),
], ids=["missing-file", "invalid-yaml", "wrong-type", "unknown-key"])
def test_bad_input_is_one_line_without_traceback(content: str | None, expected: str,
                                                 tmp_path: Path) -> None:
    path = tmp_path / "prod.yaml"
    if content is not None:
        path.write_text(content)
    result = run("synth", str(path), "--output", str(tmp_path / "dist"))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"{path}: {expected}"]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "dist").exists()


def test_plan_prints_the_placement_table() -> None:
    result = run("plan", "multi-node")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("node-")]
    assert [(r[0], r[1], r[3], r[4], r[5]) for r in rows] == [
        ("node-1", "8", "8", "deepseek-r1-llama-70b-dynamo-multinode-frontend", "1/1"),
        ("node-2", "8", "8", "deepseek-r1-llama-70b-dynamo-multinode-prefill", "1/2"),
        ("node-3", "8", "8", "deepseek-r1-llama-70b-dynamo-multinode-prefill", "2/2"),
    ]
    assert result.stderr == ""


def test_plan_takes_a_path_and_prints_warnings_on_stderr(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["plan", str(ENVIRONMENTS / "single-node-no-rdma.yaml")]) == 0
    captured = capsys.readouterr()
    assert "node-1  8 of 8" in captured.out
    assert captured.err.startswith(
        f"warning: {ENVIRONMENTS / 'single-node-no-rdma.yaml'}: rdma.enabled: false, while the "
        "decode worker prefills remotely")


def test_plan_of_an_unknown_environment_lists_the_known_ones(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["plan", "prod", "--environments-dir", str(ENVIRONMENTS)]) == 2
    assert capsys.readouterr().err == (
        f"prod: neither an environment file nor an environment in {ENVIRONMENTS}/ (it has: "
        f"{', '.join(sorted(SHIPPED))})\n")


def test_plan_of_a_misspelt_environment_says_which_one_it_probably_means(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["plan", "multi-nod", "--environments-dir", str(ENVIRONMENTS)]) == 2
    assert capsys.readouterr().err.startswith(
        f"multi-nod: neither an environment file nor an environment in {ENVIRONMENTS}/; did you "
        "mean 'multi-node'? (it has: ")


def test_a_misspelt_command_gets_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["synht"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "python -m constructs_lib: error: argument COMMAND: invalid choice: 'synht' "
        "(did you mean 'synth'?)")
    with pytest.raises(SystemExit):
        cli.main(["frobnicate"])
    assert "did you mean" not in capsys.readouterr().err


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(commands.choices)


@pytest.mark.parametrize("name", sorted(_commands()))
def test_every_command_has_a_description_and_every_option_a_help_text(name: str) -> None:
    command = _commands()[name]
    assert command.description, f"`{name} --help` has no description"
    assert not [action.option_strings or action.dest for action in command._actions
                if not action.help], f"`{name} --help` has arguments without a help text"


def test_plan_of_an_environment_that_does_not_fit_says_what_is_missing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "small.yaml"
    path.write_text(GOOD.read_text().replace("  count: 3\n", "  count: 2\n"))
    assert cli.main(["plan", str(path)]) == 2
    assert capsys.readouterr().err.startswith(
        f"{path}: nodes.count: 2, but the deployment needs 3 nodes of 8 GPUs")


def test_a_missing_environments_folder_is_an_input_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere"
    assert cli.main(["synth", "--environments-dir", str(missing), "-o", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"{missing}: no such folder of environment files\n"


def test_a_file_that_is_not_text_is_an_input_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"release: r1\n\xff\xfe\n")
    assert cli.main(["plan", str(path)]) == 2
    assert capsys.readouterr().err == f"{path}: is not UTF-8 text (byte 12)\n"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_a_failing_synth_leaves_the_previous_output_byte_identical(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dist"
    assert cli.main(["synth", str(GOOD), "--output", str(out)]) == 0
    before = snapshot(out)
    assert "multi-node/PLAN.md" in before
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.read_text().replace("  count: 3\n", "  count: 2\n"))
    capsys.readouterr()
    assert cli.main(["synth", str(GOOD), str(bad), "--output", str(out)]) == 2
    assert capsys.readouterr().err.startswith(f"{bad}: nodes.count: 2")
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml", "dist"]


def test_an_error_while_writing_leaves_the_previous_output_byte_identical(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "dist"
    environments = synth.load_all([GOOD, ENVIRONMENTS / "single-node.yaml"])
    synth.synthesize(environments, out)
    before = snapshot(out)
    real = synth._finish

    def fail_on_the_second(name: str, *args: object) -> object:
        if name == "single-node":
            raise OSError(28, "No space left on device")
        return real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(synth, "_finish", fail_on_the_second)
    with pytest.raises(OSError):
        synth.synthesize(environments, out)
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dist"]


def test_synth_writes_each_environment_and_ends_with_a_summary_of_each(tmp_path: Path,
                                                                        capsys) -> None:
    files = [str(ENVIRONMENTS / f"{name}.yaml") for name in ("multi-node", "single-node")]
    assert cli.main(["synth", *files, "-o", str(tmp_path)]) == 0
    assert (tmp_path / "single-node" / "kustomization.yaml").is_file()
    assert capsys.readouterr().out.splitlines() == [
        f"multi-node: 17 resources -> {tmp_path / 'multi-node'}",
        "  ConfigMap 4, Service 5, NetworkPolicy 3, PodDisruptionBudget 1, StatefulSet 2, "
        "Deployment 2; 24 GPUs on 3 nodes",
        f"single-node: 14 resources -> {tmp_path / 'single-node'}",
        "  ConfigMap 3, Service 5, NetworkPolicy 3, StatefulSet 2, Deployment 1; 8 GPUs on 1 node",
    ]


def test_help_lists_every_command_with_its_one_line_help() -> None:
    result = subprocess.run([sys.executable, "-m", "constructs_lib", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60,
                            env={**os.environ, "COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    listed = {line.split()[0]: line.split(None, 1)[1:] for line in lines
              if line.startswith("    ") and not line.startswith("     ")}
    assert set(listed) == {"synth", "from-helm-values", "plan", "upgrade", "dynamo-graph",
                           "run-local", "schema", "docs"}
    assert all(help_text for help_text in listed.values()), "a help is not on its command's line"
    assert not [line for line in lines if line.startswith(" " * 10)], "a help wrapped"
    assert all(len(line) <= 80 for line in lines)


def test_version_is_the_installed_distribution_version(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == (
        f"python -m constructs_lib {metadata.version('dynamo-cdk8s')}")


def test_run_local_refuses_a_v01_environment(capsys) -> None:
    assert cli.main(["run-local", str(ENVIRONMENTS / "single-node.yaml")]) == 2
    assert "dynamo: run-local runs Dynamo 1.x environments; this one is v0.1" in (
        capsys.readouterr().err)
