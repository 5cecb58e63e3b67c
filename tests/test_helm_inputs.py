"""Gathering a command line's values: files in order, then --set, --set-string and --set-file,
over the chart's defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from constructs_lib.errors import ConfigError
from constructs_lib.tools.helm.inputs import chart_defaults, gather


def test_files_then_set_over_the_charts_defaults(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("service:\n  port: 81\nimagePullSecrets:\n  - name: a\n")
    second.write_text("service:\n  port: 82\n")
    inputs = gather([str(first), str(second)], ["imagePullSecrets[0].name=b"])
    assert inputs.unknown == []
    assert inputs.values.tree["service"] == {"type": "ClusterIP", "port": 82}
    assert inputs.values.tree["imagePullSecrets"] == [{"name": "b"}]
    assert inputs.values.tree["configs"] == chart_defaults()["configs"]
    assert inputs.values.origin(("service", "port")) == str(second)
    assert inputs.values.origin(("imagePullSecrets", 0, "name")) == "--set"
    assert inputs.values.origin(("service", "type")) == "chart defaults"


def test_set_then_set_string_then_set_file_as_helm_applies_them(tmp_path: Path) -> None:
    values, text = tmp_path / "values.yaml", tmp_path / "note.txt"
    values.write_text("podLabels:\n  a: file\n  b: file\n  c: file\n  d: file\n")
    text.write_text("from --set-file")
    # Given in the reverse order: the kind of flag decides, not the position.
    inputs = gather([str(values)], ["podLabels.a=1,podLabels.b=1,podLabels.c=1"],
                    set_files=[f"podLabels.a={text}"],
                    set_strings=["podLabels.a=2,podLabels.b=2"])
    assert inputs.values.tree["podLabels"] == {"a": "from --set-file", "b": "2", "c": 1,
                                               "d": "file"}
    assert [inputs.values.origin(("podLabels", key)) for key in "abcd"] == [
        f"--set-file {text}", "--set-string", "--set", str(values)]


def test_unknown_keys_are_collected_per_file_and_set_once_each(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("replicas: 2\n")
    second.write_text("replicas: 3\n")
    text = tmp_path / "configs.yaml"
    text.write_text("x")
    inputs = gather([str(first), str(second)], ["replica=1", "replica=2"],
                    ["replica=3"], [f"config={text}"])
    assert [(p.source, p.field) for p in inputs.unknown] == [
        (str(first), "replicas"), (str(second), "replicas"), ("--set", "replica"),
        ("--set-string", "replica"), (f"--set-file {text}", "config")]


def test_an_empty_file_adds_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert gather([str(empty)], []).values.tree == chart_defaults()


def test_every_unreadable_input_is_reported(tmp_path: Path) -> None:
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n")
    with pytest.raises(ConfigError) as err:
        gather([str(tmp_path / "missing.yaml"), str(listed)], ["novalue"], ["a[x]=1"],
               [f"configs={tmp_path / 'configs.yaml'}"])
    assert [str(p) for p in err.value.problems] == [
        f"{tmp_path / 'missing.yaml'}: file not found",
        f"{listed}: expected a mapping of values, got ['a']",
        "--set: 'novalue': key 'novalue' has no value; expected key=value, e.g. rdma.enable=false",
        "--set-string: 'a[x]=1': list index [x] is not a number in brackets such as [0]",
        f"--set-file: configs={tmp_path / 'configs.yaml'}: file not found",
    ]
