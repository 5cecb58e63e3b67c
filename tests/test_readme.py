"""The README's Python examples are executed as a user would run them, so they keep working."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

EXAMPLES = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_the_readme_has_examples() -> None:
    assert EXAMPLES


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_readme_example_runs(index: int, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(EXAMPLES[index])
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.glob("out/*.k8s.yaml")), "the example synthesized nothing"
    # Each example ends by printing a value, with what it prints in a comment.
    printed = re.search(r"^print\(.*\)  # (\S+)\s*$", EXAMPLES[index], re.M)
    assert printed, "the example should end with `print(...)  # <what it prints>`"
    assert printed.group(1) in result.stdout.splitlines()


def test_the_readme_s_example_of_refused_input_is_what_synth_prints(tmp_path: Path) -> None:
    block = re.search(r"the value received and what is allowed, for example\n\n```text\n(.*?)```",
                      (ROOT / "README.md").read_text(), re.S)
    assert block, "the README's example of refused input moved"
    prod = tmp_path / "environments" / "prod.yaml"
    prod.parent.mkdir()
    text = (ROOT / "environments" / "multi-node-v1.yaml").read_text()
    for old, new in (("\nrelease:", "\nrelase:"),
                     ("host_network: false", "host_network: false\n  network_mode: tke-vpc"),
                     ("tensor-parallel-size: 4", "tensor-paralel-size: 4")):
        assert old in text
        text = text.replace(old, new, 1)
    prod.write_text(text)
    result = subprocess.run([sys.executable, "-m", "constructs_lib", "synth",
                             "environments/prod.yaml", "-o", "out"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 2
    printed = result.stderr.splitlines()
    for line in block.group(1).splitlines():
        # An example line may end in "..." where the list of allowed keys goes on.
        assert any(p == line or (line.endswith("...") and p.startswith(line[:-3]))
                   for p in printed), (line, printed)
    assert len(printed) == len(block.group(1).splitlines())


def test_the_readme_says_to_create_the_namespace_of_every_shipped_environment() -> None:
    from constructs_lib.model.loader import load_environment
    from tests.conftest import ENVIRONMENTS

    readme = (ROOT / "README.md").read_text()
    gitops = readme.split("## GitOps\n")[1].split("\n## ")[0]
    for path in sorted(ENVIRONMENTS.glob("*.yaml")):
        namespace = load_environment(path).namespace
        assert f"`kubectl create namespace {namespace}`" in gitops, path.name


def test_the_readme_s_1x_environment_composes(tmp_path: Path) -> None:
    from constructs_lib.model import EnvironmentV1
    from constructs_lib.model.loader import load_environment
    from tests.support.charts import composed

    block = re.search(r"A complete file, .*?\n\n```yaml\n(.*?)```",
                      (ROOT / "README.md").read_text(), re.S)
    assert block, "the README's complete 1.x example moved"
    path = tmp_path / "llama.yaml"
    path.write_text(block.group(1))
    environment = load_environment(path)
    assert isinstance(environment, EnvironmentV1)
    assert composed(environment).problems() == []


def test_the_readme_s_hand_composed_refusal_is_what_synth_says(tmp_path: Path) -> None:
    example = next(e for e in EXAMPLES if "DecodeWorkerPool(chart" in e and "kplus" not in e
                   and 'Chart(app, "llama"' in e)
    assert "gpus=4," in example
    script = tmp_path / "broken.py"
    script.write_text(example.replace("gpus=4,", "gpus=2,", 1))
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode != 0
    assert ("[llama/decode] engine.tensor-parallel-size: tensor-parallel-size 4 needs 4 GPUs "
            "per worker, but gpus gives each decode worker 2") in result.stderr
    assert not list(tmp_path.glob("out/*/*.k8s.yaml")) and not list(tmp_path.glob("out/*.yaml"))


def test_the_readme_s_discovery_refusal_is_what_synth_says(tmp_path: Path) -> None:
    example = next(e for e in EXAMPLES if "KubernetesDiscovery(chart" in e)
    given = "DecodeWorkerPoolProps(\n    **release,"
    assert given in example
    script = tmp_path / "forgotten.py"
    script.write_text(example.replace(
        given, 'DecodeWorkerPoolProps(\n    **{**release, "kubernetes_discovery": None},'))
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode != 0
    assert ("[qwen/decode] kubernetes_discovery: not given, but runtime.discovery is kubernetes: "
            in result.stderr)
    assert "`[qwen/decode] kubernetes_discovery: not given, but runtime.discovery is " \
        "kubernetes: ...`" in " ".join((ROOT / "README.md").read_text().split())
