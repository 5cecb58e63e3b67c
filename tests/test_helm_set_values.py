"""Helm's --set syntax and typing."""

from __future__ import annotations

from pathlib import Path

import pytest

from constructs_lib.errors import ConfigError
from constructs_lib.tools.helm.merge import Values
from constructs_lib.tools.helm.set_values import (
    FILE_SOURCE,
    STRING_SOURCE,
    apply_arguments,
    dotted,
    parse,
    typed,
)


@pytest.mark.parametrize("text, value", [
    ("true", True), ("FALSE", False), ("True", True), ("null", None), ("Null", None),
    ("0", 0), ("42", 42), ("-5", -5), ("+7", 7), ("9223372036854775807", 9223372036854775807),
    # Helm 3 keeps these as strings: leading zeros, floats, overflowing integers, words.
    ("007", "007"), ("1.5", "1.5"), ("1e3", "1e3"), ("9223372036854775808", "9223372036854775808"),
    ("yes", "yes"), ("", ""), ("15s", "15s"), ("٣", "٣"),
])
def test_values_are_typed_as_helm_3_types_them(text: str, value: object) -> None:
    assert typed(text) == value and type(typed(text)) is type(value)


def test_dotted_paths_and_comma_separated_assignments() -> None:
    assignments = parse("rdma.enable=false,multinode.prefill.replicas=3")
    assert [(a.path, a.value) for a in assignments] == [
        (("rdma", "enable"), False), (("multinode", "prefill", "replicas"), 3)]


def test_escaped_dots_stay_in_the_key_and_escaped_commas_in_the_value() -> None:
    [assignment] = parse(r"graphs.single\.py=a\,b")
    assert assignment.path == ("graphs", "single.py")
    assert assignment.value == "a,b"


def test_list_indices_and_nested_lists() -> None:
    assert [a.path for a in parse("imagePullSecrets[0].name=x,a[1][2]=y")] == [
        ("imagePullSecrets", 0, "name"), ("a", 1, 2)]


def test_list_values_in_braces() -> None:
    [assignment] = parse("a={x,2,true}")
    assert assignment.value == ["x", 2, True]
    assert parse("a={}")[0].value == []


def test_a_value_may_hold_equals_signs() -> None:
    assert parse("natsServerOverride=nats://h:4222?a=b")[0].value == "nats://h:4222?a=b"


@pytest.mark.parametrize("argument, message", [
    ("rdma.enable", "--set: 'rdma.enable': key 'rdma.enable' has no value; expected key=value, "
                    "e.g. rdma.enable=false"),
    ("a=1,b", "--set: 'a=1,b': key 'b' has no value; expected key=value, e.g. rdma.enable=false"),
    ("a[x]=1", "--set: 'a[x]=1': list index [x] is not a number in brackets such as [0]"),
    ("a[-1]=1", "--set: 'a[-1]=1': list index [-1] is not a number in brackets such as [0]"),
    ("a[0]b=1", "--set: 'a[0]b=1': expected '.', '[' or '=' after a list index, found 'b'"),
    ("a[70000]=1", "--set: 'a[70000]=1': list index 70000 is larger than Helm allows (65536)"),
    ("a.=1", "--set: 'a.=1': empty key after 'a'; expected key=value, e.g. rdma.enable=false"),
    ("=1", "--set: '=1': empty key after 'the start'; expected key=value, e.g. rdma.enable=false"),
    ("a={b", "--set: 'a={b': a list value {a,b} is missing its closing '}'"),
    ("", "--set: '': empty; expected key=value, e.g. rdma.enable=false"),
])
def test_malformed_arguments_are_refused(argument: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(argument)
    assert [str(p) for p in err.value.problems] == [message]


def test_apply_edits_the_users_values_in_place() -> None:
    values = Values()
    values.merge_file({"imagePullSecrets": [{"name": "a"}, {"name": "b"}], "rdma": True}, "f.yaml")
    apply_arguments(values, ["imagePullSecrets[1].name=c", "rdma.enable=false", "pad[2]=x"])
    assert values.tree == {
        "imagePullSecrets": [{"name": "a"}, {"name": "c"}],
        # A path through a scalar replaces it with a map, as Helm does.
        "rdma": {"enable": False},
        # An index past the end pads the list with nulls.
        "pad": [None, None, "x"],
    }
    assert values.origin(("imagePullSecrets", 1, "name")) == "--set"
    assert values.origin(("imagePullSecrets", 0, "name")) == "f.yaml"


def test_later_assignments_win() -> None:
    values = Values()
    apply_arguments(values, ["service.port=81,service.port=82", "service.port=83"])
    assert values.tree == {"service": {"port": 83}}


def test_every_malformed_argument_is_reported() -> None:
    with pytest.raises(ConfigError) as err:
        apply_arguments(Values(), ["a", "b=1", "c[x]=2"])
    assert len(err.value.problems) == 2


def test_dotted_paths_read_as_written() -> None:
    assert dotted(("imagePullSecrets", 0, "name")) == "imagePullSecrets[0].name"
    assert dotted(("a", 1, 2)) == "a[1][2]"


def test_set_string_keeps_every_value_a_string() -> None:
    assignments = parse("podLabels.canary=true,podLabels.shard=8,a=null,b={1,x}", STRING_SOURCE)
    assert [(a.path, a.value, a.source) for a in assignments] == [
        (("podLabels", "canary"), "true", "--set-string"),
        (("podLabels", "shard"), "8", "--set-string"),
        # Not a null: it deletes nothing from the chart's defaults.
        (("a",), "null", "--set-string"),
        (("b",), ["1", "x"], "--set-string"),
    ]


def test_set_string_errors_name_the_flag() -> None:
    with pytest.raises(ConfigError) as err:
        parse("podLabels.canary", STRING_SOURCE)
    assert [str(p) for p in err.value.problems] == [
        "--set-string: 'podLabels.canary': key 'podLabels.canary' has no value; expected "
        "key=value, e.g. rdma.enable=false"]


def test_set_file_values_are_the_files_text_named_by_the_file(tmp_path: Path) -> None:
    configs, graph = tmp_path / "my-configs.yaml", tmp_path / "single,py"
    configs.write_text("Frontend:\n  port: 8000\n")
    graph.write_text("true\n")
    values = Values()
    values.merge_file({"configs": "old", "service": {"port": 81}}, "f.yaml")
    # A comma in a file's name is escaped as in a value.
    escaped = str(graph).replace(",", "\\,")
    applied = apply_arguments(values, [f"configs={configs}", f"graphs.single\\.py={escaped}"],
                              FILE_SOURCE)
    # The text is kept as it is: neither typed (`true`) nor parsed as YAML.
    assert values.tree == {"configs": "Frontend:\n  port: 8000\n",
                           "graphs": {"single.py": "true\n"}, "service": {"port": 81}}
    assert [a.source for a in applied] == [f"--set-file {configs}", f"--set-file {graph}"]
    assert values.origin(("configs",)) == f"--set-file {configs}"
    assert values.origin(("service", "port")) == "f.yaml"


def test_unreadable_set_files_are_all_reported_and_nothing_is_applied(tmp_path: Path) -> None:
    binary = tmp_path / "binary.bin"
    binary.write_bytes(b"ok\xff")
    values = Values()
    with pytest.raises(ConfigError) as err:
        apply_arguments(values, [f"configs={tmp_path / 'missing.yaml'},a={tmp_path}",
                                 f"b={binary}", "c=", "d"], FILE_SOURCE)
    assert [str(p) for p in err.value.problems] == [
        f"--set-file: configs={tmp_path / 'missing.yaml'}: file not found",
        f"--set-file: a={tmp_path}: cannot be read (Is a directory)",
        f"--set-file: b={binary}: is not UTF-8 text (byte 2)",
        "--set-file: 'c=': key 'c' names no file; expected key=path, e.g. "
        "configs=my-configs.yaml",
        "--set-file: 'd': key 'd' has no value; expected key=path, e.g. configs=my-configs.yaml",
    ]
    assert values.tree == {}
