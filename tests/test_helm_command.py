"""The `from-helm-values` command: what it prints, what it writes, and how it refuses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from constructs_lib.tools.cli import main
from tests.conftest import ROOT, read_documents
from tests.support.helm_values import sized

SMALL_VALUES = {"rdma": {"enable": False}, "etcd": {"persistence": {"size": "5Gi"}}}


@pytest.fixture
def values_file(tmp_path: Path) -> Path:
    file = tmp_path / "values.yaml"
    file.write_text(yaml.safe_dump(SMALL_VALUES))
    return file


def run(*args: str) -> int:
    return main(["from-helm-values", *args])


def test_unknown_keys_are_errors_naming_file_and_key_and_nothing_is_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "prod.yaml"
    bad.write_text("rdma:\n  enabled: false\nservice:\n  nodePort: 30080\n")
    code = run("-f", str(bad), "--set", "etcd.persistence.storageClass=cbs", "--release", "r1",
               "--output", str(tmp_path / "out"), "--write-environment", str(tmp_path / "e.yaml"))
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{bad}: rdma.enabled: unknown key (did you mean rdma.enable?); allowed under rdma: "
        "enable, hostNetwork, networkMode",
        f"{bad}: service.nodePort: unknown key; allowed under service: port, type",
        "--set: etcd.persistence.storageClass: not a key of the etcd subchart that this project "
        "translates; supported: enable, replicaCount, auth.rbac.create, readinessProbe.enabled, "
        "livenessProbe.enabled, persistence.size, resources.requests, resources.limits",
    ]
    assert not (tmp_path / "out").exists() and not (tmp_path / "e.yaml").exists()


def test_unknown_keys_and_invalid_values_are_reported_together(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rdma:\n  enabled: false\n  networkMode: tke-direct\n"
                   "multinode:\n  replicas: -1\n")
    code = run("-f", str(bad), "--set", "single.enable=false,multinode.enable=true",
               "--set", "configs=Frontend: [", "--release", "r1", "--output", str(tmp_path / "out"))
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{bad}: rdma.enabled: unknown key (did you mean rdma.enable?); allowed under rdma: "
        "enable, hostNetwork, networkMode",
        "--set: configs: is not valid YAML: line 1, column 12: expected the node content, but "
        "found '<stream end>' (it holds Dynamo's configs.yaml)",
        "chart defaults: graphs: has no 'frontend.py', which the multinode Deployment runs "
        "(`dynamo serve graphs.frontend:Frontend`); it has: single.py",
        "chart defaults: prefillConfigs: is empty, but the prefill Deployment runs `dynamo serve "
        "-f` with it; it must hold the Dynamo configs.yaml",
        f"{bad}: rdma.networkMode: Input should be 'tke-route-eni' or 'tke-bridge' (received "
        "tke-direct)",
        f"{bad}: multinode.replicas: Input should be greater than or equal to 0 (received -1)",
    ]


def test_ignore_unknown_warns_and_writes(values_file: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    # A folder the command wrote before is replaced whole, stale files included.
    output = tmp_path / "out"
    output.mkdir()
    (output / "Deployment.old-release.k8s.yaml").write_text("kind: Deployment\n")
    (output / "kustomization.yaml").write_text("resources: []\n")
    (output / "PLAN.md").write_text("# Placement plan: old\n")
    environment = tmp_path / "environments" / "r1.yaml"
    code = run("-f", str(values_file), "--set", "rdma.enabled=true", "--ignore-unknown",
               "--release", "r1", "--output", str(output), "--write-environment", str(environment))
    captured = capsys.readouterr()
    assert code == 0
    warnings = captured.err.splitlines()
    assert warnings[0] == (
        "warning: --set: rdma.enabled: unknown key (did you mean rdma.enable?); allowed under "
        "rdma: enable, hostNetwork, networkMode; ignored")
    # The rules' advice for the converted deployment follows, in the values' own keys, as
    # synth prints it for environment files (these small values turn RDMA off).
    assert warnings[1].startswith(f"warning: {values_file}: rdma.enable: false, while the decode")
    assert all(line.startswith("warning: ") for line in warnings)
    # 11 resources of the seed's kinds, and a NetworkPolicy each for etcd, NATS and Dynamo
    # The summary synth prints, then where the environment file went.
    out = captured.out.splitlines()
    assert out[0] == f"r1: 14 resources -> {output}"
    assert out[1].startswith("  ConfigMap 3, Service 5, ") and out[1].endswith("; 8 GPUs on 1 node")
    assert out[2:] == [f"environment file -> {environment}"]
    files = sorted(p.name for p in output.iterdir())
    assert "Deployment.old-release.k8s.yaml" not in files
    assert "Deployment.r1-dynamo-single.k8s.yaml" in files
    # The plan is written anew like the manifests (the parity tests check its name).
    assert (output / "PLAN.md").read_text().startswith("# Placement plan: r1\n")
    kustomization = yaml.safe_load((output / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(f for f in files if f.endswith(".k8s.yaml"))
    text = environment.read_text()
    assert text.splitlines()[1:7] == [
        "# Converted from the seed Helm chart's values by",
        f"#   python -m constructs_lib from-helm-values -f {values_file} --set rdma.enabled=true "
        "--release r1 --namespace default",
        "# Synthesizing this file gives the manifests that command wrote; edit this file from now "
        "on.",
        "#",
        "# Notes from the conversion:",
        "#   --set: rdma.enabled: unknown key (did you mean rdma.enable?); allowed under rdma: "
        "enable, hostNetwork, networkMode; ignored",
    ]
    written = yaml.safe_load(text)
    assert written["rdma"] == {"enabled": False}
    assert written["dependencies"] == {"etcd": {"storage_size": "5Gi"}}
    assert not list(tmp_path.glob(".from-helm-values.*")), "the staging folder is left behind"


def test_files_layer_in_order_and_set_comes_last(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    first, second = tmp_path / "base.yaml", tmp_path / "prod.yaml"
    first.write_text(yaml.safe_dump({
        "service": {"port": 81}, "podLabels": {"team": "llm"},
        "imagePullSecrets": [{"name": "a"}, {"name": "b"}],
        # workers that take the 4 GPUs the second file gives the pod
        "configs": sized(4, decode_gpus=2)["configs"],
        "single": {"resources": {"limits": {"memory": "64Gi"}}}}))
    second.write_text(yaml.safe_dump({
        "service": {"port": 82}, "podLabels": {"tier": "prod"},
        "imagePullSecrets": [{"name": "c"}],
        # null deletes the chart's GPU request; the limits map merges with the first file's
        "single": {"resources": {"requests": None, "limits": {"nvidia.com/gpu": 4}}}}))
    environment = tmp_path / "r1.yaml"
    code = run("-f", str(first), "-f", str(second), "--set", "service.port=83",
               "--set", "imagePullSecrets[1].name=d", "--release", "r1",
               "--output", str(tmp_path / "out"), "--write-environment", str(environment))
    assert code == 0, capsys.readouterr().err
    written = yaml.safe_load(environment.read_text())
    assert written["service"] == {"port": 83}
    assert written["pod_labels"] == {"team": "llm", "tier": "prod"}
    assert written["image_pull_secrets"] == ["c", "d"]
    assert written["frontend"]["resources"] == {"gpus": 4, "limits": {"memory": "64Gi"}}
    [deployment] = [d for d in read_documents(tmp_path / "out") if d["kind"] == "Deployment"]
    serve = deployment["spec"]["template"]["spec"]["containers"][0]
    assert serve["resources"]["limits"]["nvidia.com/gpu"] == 4


def test_set_string_and_set_file_layer_over_files_and_set_in_helms_order(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    values, tier = tmp_path / "values.yaml", tmp_path / "tier.txt"
    values.write_text(yaml.safe_dump({**SMALL_VALUES, "podLabels": dict.fromkeys("abcd", "f")}))
    tier.write_text("gold")
    environment = tmp_path / "r1.yaml"
    # --set-file first and --set last on the command line: Helm still applies --set, then
    # --set-string, then --set-file.
    code = run("-f", str(values), "--set-file", f"podLabels.a={tier}",
               "--set-string", "podLabels.a=true,podLabels.b=8",
               "--set", "podLabels.a=x,podLabels.b=y,podLabels.c=z", "--release", "r1",
               "--output", str(tmp_path / "out"), "--write-environment", str(environment))
    assert code == 0, capsys.readouterr().err
    expected = {"a": "gold", "b": "8", "c": "z", "d": "f"}
    written = yaml.safe_load(environment.read_text())
    assert written["pod_labels"] == expected
    [deployment] = [d for d in read_documents(tmp_path / "out") if d["kind"] == "Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert {key: labels[key] for key in expected} == expected
    assert environment.read_text().splitlines()[2] == (
        f"#   python -m constructs_lib from-helm-values -f {values} --set "
        "podLabels.a=x,podLabels.b=y,podLabels.c=z --set-string podLabels.a=true,podLabels.b=8 "
        f"--set-file podLabels.a={tier} --release r1 --namespace default")


def test_set_string_keeps_true_and_8_strings_where_set_types_them(
        values_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("-f", str(values_file), "--set", "podLabels.canary=true", "--release", "r1",
               "--output", str(tmp_path / "refused")) == 2
    assert capsys.readouterr().err.splitlines() == [
        "--set: podLabels.canary: label values are strings; got True (quote it in YAML) "
        "(received true)"]
    assert run("-f", str(values_file), "--set-string", "podLabels.canary=true,podLabels.shard=8",
               "--release", "r1", "--output", str(tmp_path / "out")) == 0
    [deployment] = [d for d in read_documents(tmp_path / "out") if d["kind"] == "Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert (labels["canary"], labels["shard"]) == ("true", "8")


def test_configs_through_set_file_give_the_same_manifests_as_in_a_values_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    values = sized(4, decode_gpus=2)
    inline, resources, configs = (tmp_path / "inline.yaml", tmp_path / "resources.yaml",
                                  tmp_path / "my-configs.yaml")
    inline.write_text(yaml.safe_dump(values))
    resources.write_text(yaml.safe_dump({"single": values["single"]}))
    configs.write_text(values["configs"])
    assert run("-f", str(inline), "--release", "r1", "--output", str(tmp_path / "a")) == 0
    assert run("-f", str(resources), "--set-file", f"configs={configs}", "--release", "r1",
               "--output", str(tmp_path / "b")) == 0, capsys.readouterr().err
    first, second = ({p.name: p.read_text() for p in (tmp_path / out).iterdir()}
                     for out in ("a", "b"))
    assert first == second
    # and these configs are the file's, not the chart's (whose decode worker takes 4 GPUs)
    [config_map] = [d for d in read_documents(tmp_path / "b")
                    if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "r1-dynamo-configs"]
    served = yaml.safe_load(config_map["data"]["configs.yaml"])
    assert served["VllmWorker"]["tensor-parallel-size"] == 2


def test_a_problem_in_a_set_file_names_the_file(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    values, configs = tmp_path / "values.yaml", tmp_path / "my-configs.yaml"
    values.write_text(yaml.safe_dump(SMALL_VALUES))
    configs.write_text("Frontend: [\n")
    assert run("-f", str(values), "--set-file", f"configs={configs}", "--release", "r1",
               "--output", str(tmp_path / "out")) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"--set-file {configs}: configs: is not valid YAML: line 2, column 1: expected the node "
        "content, but found '<stream end>' (it holds Dynamo's configs.yaml)"]


def test_a_missing_set_file_is_one_line_and_nothing_is_written(
        values_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "my-configs.yaml"
    code = run("-f", str(values_file), "--set-file", f"configs={missing}", "--release", "r1",
               "--output", str(tmp_path / "out"), "--write-environment", str(tmp_path / "e.yaml"))
    assert code == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"--set-file: configs={missing}: file not found"]
    assert captured.out == ""
    assert not (tmp_path / "out").exists() and not (tmp_path / "e.yaml").exists()


def test_an_output_folder_with_other_files_is_refused_and_kept(
        values_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "project"
    output.mkdir()
    (output / "README.md").write_text("mine\n")
    assert run("-f", str(values_file), "--release", "r1", "--output", str(output)) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"--output: {output} holds files this command does not write (such as README.md); its "
        "contents are replaced, so give a new or empty folder, or one it wrote before"]
    assert [p.name for p in output.iterdir()] == ["README.md"]


def test_the_environment_file_may_not_go_inside_the_output(
        values_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output, environment = tmp_path / "out", tmp_path / "out" / "env.yaml"
    assert run("-f", str(values_file), "--release", "r1", "--output", str(output),
               "--write-environment", str(environment)) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"--write-environment: {environment} is inside --output {output}, whose contents are "
        "replaced; write the environment file elsewhere (e.g. environments/)"]
    assert not output.exists()


@pytest.mark.parametrize("content, message", [
    ("rdma: [\n", "invalid YAML: line 2, column 1: expected the node content, but found "
                  "'<stream end>'"),
    ("- a\n- b\n", "expected a mapping of values, got ['a', 'b']"),
])
def test_values_files_that_are_not_values_are_refused(
        content: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(content)
    assert run("-f", str(bad), "--release", "r1", "--output", str(tmp_path / "out")) == 2
    assert capsys.readouterr().err.splitlines() == [f"{bad}: {message}"]


def test_missing_files_and_malformed_set_are_all_reported(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run("-f", str(tmp_path / "a.yaml"), "-f", str(tmp_path / "b.yaml"),
               "--set", "rdma.enable", "--release", "r1", "--output", str(tmp_path / "out"))
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{tmp_path / 'a.yaml'}: file not found",
        f"{tmp_path / 'b.yaml'}: file not found",
        "--set: 'rdma.enable': key 'rdma.enable' has no value; expected key=value, e.g. "
        "rdma.enable=false",
    ]


def test_an_empty_values_file_is_accepted_as_helm_accepts_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    # Convert only: the output folder is a file, which is refused after the values are read.
    (tmp_path / "out").write_text("")
    assert run("-f", str(empty), "--release", "r1", "--output", str(tmp_path / "out")) == 2
    assert capsys.readouterr().err.splitlines() == [f"--output: {tmp_path / 'out'} is a file; "
                                                    "give a folder"]


def test_the_help_says_where_the_manifests_go(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["from-helm-values", "--help"])
    assert exit.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "directly in DIR (apply with `kubectl apply -k DIR`)" in help_text
    assert "--write-environment FILE" in help_text and "--ignore-unknown" in help_text
    assert "--set-string KEY=VALUE" in help_text and "--set-file KEY=PATH" in help_text
    assert "then every --set, then every --set-string, then every --set-file" in help_text


def test_the_release_and_output_are_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["from-helm-values", "-f", "values.yaml"])
    assert exit.value.code == 2
    assert "the following arguments are required: --release, --output" in capsys.readouterr().err


def test_a_real_process_exits_2_without_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "values.yaml"
    bad.write_text("rdma:\n  networkMode: tke-direct\n")
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    process = subprocess.run(
        [sys.executable, "-m", "constructs_lib", "from-helm-values", "-f", str(bad),
         "--release", "r1", "--output", str(tmp_path / "out")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert process.returncode == 2
    assert "Traceback" not in process.stderr
    assert process.stderr.splitlines()[-1] == (
        f"{bad}: rdma.networkMode: Input should be 'tke-route-eni' or 'tke-bridge' (received "
        "tke-direct)")
    assert process.stdout == ""
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("with_schema", [True, False], ids=["schema-here", "no-schema-here"])
def test_the_written_environment_names_the_schema_in_its_first_line_as_shipped_files_do(
        values_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], with_schema: bool) -> None:
    # Relative to where `python -m constructs_lib schema` writes it: the current folder.
    monkeypatch.chdir(tmp_path)
    if with_schema:
        (tmp_path / "schema").mkdir()
        (tmp_path / "schema" / "environment.schema.json").write_bytes(
            (ROOT / "schema" / "environment.schema.json").read_bytes())
    code = run("-f", str(values_file), "--release", "r1", "--output", "out",
               "--write-environment", "environments/r1.yaml")
    assert code == 0, capsys.readouterr().err
    first = (tmp_path / "environments" / "r1.yaml").read_text().splitlines()[0]
    shipped = (ROOT / "environments" / "dev.yaml").read_text().splitlines()[0]
    assert first == shipped == "# yaml-language-server: $schema=../schema/environment.schema.json"
    last = capsys.readouterr().out.splitlines()[-1]
    if with_schema:
        assert last == "environment file -> environments/r1.yaml"
    else:
        assert last == ("environment file -> environments/r1.yaml (its first line names "
                        "schema/environment.schema.json for editors; `python -m constructs_lib "
                        "schema` writes it)")
