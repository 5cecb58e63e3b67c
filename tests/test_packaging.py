"""The wheel is a working library: built with the standard backend, installed into a fresh
virtual environment, imported and synthesized by an app outside this repository."""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from email.parser import Parser
from pathlib import Path
from typing import Any

import cdk8s
import pydantic
import pytest
import yaml

from tests.conftest import ENVIRONMENTS, ROOT

# What the wheel is built from: pyproject.toml names README.md as the long description.
SOURCES = ["pyproject.toml", "README.md", "constructs_lib"]

APP = textwrap.dedent('''
    import json
    import sys
    from importlib import resources
    from pathlib import Path

    import cdk8s

    import constructs_lib
    from constructs_lib import DependencyStack, DependencyStackProps, DynamoChart
    from constructs_lib.model import Component, Resources, ServeConfig
    from constructs_lib.v0_1 import FrontendDeployment, FrontendDeploymentProps
    from constructs_lib.model.loader import load_environment

    app = cdk8s.App(outdir="out")
    chart = cdk8s.Chart(app, "mine", namespace="team", disable_resource_name_hashes=True)
    deps = DependencyStack(chart, "deps", DependencyStackProps(release="mine", namespace="team"))
    FrontendDeployment(chart, "frontend", FrontendDeploymentProps(
        release="mine", full_name="mine-dynamo", namespace="team",
        config=ServeConfig.model_validate({
            "Frontend": {"served_model_name": "m", "endpoint": "dynamo.Processor.chat/completions"},
            "Processor": {"model": "/data/m"},
            "VllmWorker": {"model": "/data/m",
                           "ServiceArgs": {"workers": 1, "resources": {"gpu": 1}}},
        }),
        graph=(Component.FRONTEND, Component.PROCESSOR, Component.VLLM_WORKER),
        resources=Resources(gpus=1),
        dependencies=deps,
    ))
    DynamoChart(app, "shipped", load_environment(Path(sys.argv[1])))
    app.synth()
    defaults = resources.files("constructs_lib.tools.helm").joinpath("chart_defaults.yaml")
    print(json.dumps({
        "package": constructs_lib.__file__,
        "chart_defaults": defaults.is_file(),
        "files": sorted(p.name for p in Path("out").glob("*.k8s.yaml")),
    }))
''')


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy, so that build/ and *.egg-info are not written into the checkout.
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out),
         str(source)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (built,) = out.glob("dynamo_cdk8s-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed; returns its python."""
    venv = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = venv / "bin" / "python"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-index", "--no-deps", str(wheel)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    # The wheel is what is under test, with --no-deps; its dependencies (cdk8s, jsii, pydantic,
    # PyYAML) are borrowed from this test's own environment through a .pth file, because
    # installing them would need a package index and the tests never reach the network. A .pth
    # line only appends a directory to sys.path: the .pth files in that directory (among them
    # this checkout's editable install) are not run, so the source tree stays out of sys.path.
    site_packages = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    borrowed = sorted({str(Path(m.__file__).parents[1]) for m in (cdk8s, pydantic, yaml)})
    (Path(site_packages) / "_dependencies_of_the_test_environment.pth").write_text(
        "\n".join(borrowed) + "\n")
    return python


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def test_the_wheel_holds_the_typed_package_and_its_data(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "constructs_lib/py.typed" in names
    assert "constructs_lib/tools/helm/chart_defaults.yaml" in names
    assert "constructs_lib/model/environment.py" in names
    assert not [n for n in names if n.startswith(("tests/", "imports/", "dist/", "bench/"))]
    metadata_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
    metadata = Parser().parsestr(zipfile.ZipFile(wheel).read(metadata_name).decode())
    required = {r.split(">")[0].split("<")[0].split("=")[0].strip()
                for r in metadata.get_all("Requires-Dist") or [] if "extra ==" not in r}
    assert required == {"cdk8s", "cdk8s-plus-27", "constructs", "pydantic", "pyyaml"}
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "dynamo-cdk8s = constructs_lib.tools.cli:program" in zipfile.ZipFile(wheel).read(
        entry_points).decode()


def test_an_app_outside_the_repository_synthesizes_with_the_installed_package(
        installed: Path, tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    environment = shutil.copy(ENVIRONMENTS / "single-node.yaml", tmp_path / "env.yaml")
    result = subprocess.run([str(installed), "app.py", str(environment)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300, env=_clean_env())
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert Path(report["package"]).is_relative_to(installed.parents[1])
    assert report["chart_defaults"]
    assert report["files"] == ["mine.k8s.yaml", "shipped.k8s.yaml"]
    mine = _documents(tmp_path / "out" / "mine.k8s.yaml")
    assert {(d["kind"], d["metadata"]["name"]) for d in mine} >= {
        ("Deployment", "mine-dynamo-single"), ("StatefulSet", "mine-etcd"),
        ("StatefulSet", "mine-nats")}
    expected = [d for f in sorted((ROOT / "dist" / "single-node").glob("*.k8s.yaml"))
                for d in _documents(f)]
    assert _by_identity(_documents(tmp_path / "out" / "shipped.k8s.yaml")) == _by_identity(expected)


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _by_identity(documents: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in documents}


def test_the_installed_command_synthesizes_the_committed_output(installed: Path,
                                                                tmp_path: Path) -> None:
    shutil.copy(ENVIRONMENTS / "multi-node.yaml", tmp_path / "multi-node.yaml")
    command = installed.parent / "dynamo-cdk8s"
    result = subprocess.run([str(command), "synth", "multi-node.yaml", "-o", "out"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env=_clean_env())
    assert result.returncode == 0, result.stderr
    expected = ROOT / "dist" / "multi-node"
    written = tmp_path / "out" / "multi-node"
    names = sorted(p.name for p in expected.iterdir())
    assert sorted(p.name for p in written.iterdir()) == names
    _, mismatch, errors = filecmp.cmpfiles(written, expected, names, shallow=False)
    assert not mismatch and not errors


# jsii's box when it runs on a Node release it no longer supports.
END_OF_LIFE_BOX = "end-of-life and not supported anymore"
QUIET_NODE_20 = "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"
SMALL_APP = textwrap.dedent('''
    import cdk8s

    from constructs_lib import DependencyStack, DependencyStackProps

    app = cdk8s.App(outdir="out")
    chart = cdk8s.Chart(app, "mine", namespace="team")
    DependencyStack(chart, "deps", DependencyStackProps(release="mine", namespace="team"))
    app.synth()
''')


def _node(major: str) -> str:
    """A Node of that major version for jsii (JSII_NODE), or skip."""
    candidates = [ROOT / "node_modules" / ".bin" / "node", shutil.which("node")]
    for node in candidates:
        if node and Path(node).exists():
            version = subprocess.run([str(node), "--version"], capture_output=True, text=True,
                                     timeout=60).stdout.strip()
            if version.startswith(f"v{major}."):
                return str(node)
    pytest.skip(f"no Node {major} here")


def _user_env(node: str, **settings: str) -> dict[str, str]:
    """A wheel user's environment: none of this repository's jsii settings (scripts/with-env)."""
    env = {k: v for k, v in _clean_env().items() if not k.startswith("JSII_")}
    return {**env, "JSII_NODE": node, **settings}


@pytest.mark.parametrize("major, settings, box", [
    ("22", {}, False),
    ("20", {}, True),
    ("20", {QUIET_NODE_20: "20"}, False),
], ids=["node-22", "node-20", "node-20-with-the-readme-setting"])
def test_an_app_of_a_wheel_user_has_a_clean_stderr_on_the_node_versions_the_readme_names(
        installed: Path, tmp_path: Path, major: str, settings: dict[str, str],
        box: bool) -> None:
    # The README: jsii supports Node 22 and 24; on Node 20 it prints its end-of-life box on
    # every run unless the app's environment sets the variable. The library does not set it
    # for an app: `import cdk8s` may come first, and it is the app's environment.
    (tmp_path / "app.py").write_text(SMALL_APP)
    result = subprocess.run([str(installed), "app.py"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300, env=_user_env(_node(major), **settings))
    assert result.returncode == 0, result.stderr
    if box:
        assert END_OF_LIFE_BOX in result.stderr
    else:
        assert result.stderr == ""


@pytest.mark.parametrize("settings, box", [({}, False), ({QUIET_NODE_20: ""}, True)],
                         ids=["default", "the-user-asks-for-the-box"])
def test_the_installed_command_keeps_jsii_quiet_about_node_20_unless_told_otherwise(
        installed: Path, tmp_path: Path, settings: dict[str, str], box: bool) -> None:
    shutil.copy(ENVIRONMENTS / "dev.yaml", tmp_path / "dev.yaml")
    result = subprocess.run([str(installed.parent / "dynamo-cdk8s"), "synth", "dev.yaml", "-o",
                             "out"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env=_user_env(_node("20"), **settings))
    assert result.returncode == 0, result.stderr
    assert (END_OF_LIFE_BOX in result.stderr) == box
    if not box:  # only synth's own advice, if the environment earns any
        assert all(line.startswith("warning: ") for line in result.stderr.splitlines())


WHEEL_COMMAND = ".venv/bin/python -m build --wheel --outdir wheels ."


def test_the_readme_builds_the_wheel_with_the_project_venv_into_a_folder_git_ignores() -> None:
    # The system Python has no `build`; scripts/setup.sh installs it into .venv (test extras).
    assert WHEEL_COMMAND in (ROOT / "README.md").read_text()
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(["git", "check-ignore", "-q", "wheels/dynamo_cdk8s-0.1.0.whl"],
                             cwd=ROOT, timeout=60)
    assert ignored.returncode == 0, "wheels/ is not ignored by git"
