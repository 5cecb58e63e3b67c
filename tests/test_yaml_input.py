"""The YAML reader of user files (constructs_lib/model/yaml_input.py): what it reads, the YAML
1.2 way, and how fast it refuses what it does not."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from constructs_lib.model import yaml_input
from tests.conftest import ENVIRONMENTS
from tests.support.hostile import alias_bomb


@pytest.mark.parametrize("path", sorted(ENVIRONMENTS.glob("*.yaml")), ids=lambda p: p.stem)
def test_the_shipped_files_read_as_pyyaml_reads_them(path: Path) -> None:
    assert yaml_input.parse(path.read_text()) == yaml.safe_load(path.read_text())


@pytest.mark.parametrize("text, value", [
    ("1", 1), ("-7", -7), ("+3", 3), ("0", 0), ("0x1F", 31), ("1.5", 1.5), (".5", 0.5),
    ("1e3", 1000.0), ("2.5E-1", 0.25), ("true", True), ("False", False), ("~", None),
    ("null", None), ("", None), ("'yes'", "yes"), ('"1:00"', "1:00"), ("!!str 012", "012"),
    ("! 8", "8"), ("!!int '42'", 42), ("!!float 1", 1.0), ("=", "="), ("1.2.3", "1.2.3"),
    ("v1.0", "v1.0"), ("9223372036854775807", 2**63 - 1), ("-9223372036854775808", -2**63),
])
def test_scalars_resolve_by_the_yaml_1_2_core_schema(text: str, value: Any) -> None:
    parsed = yaml_input.parse(f"k: {text}\n")["k"]
    assert parsed == value and type(parsed) is type(value)


def test_merge_keys_work_as_in_helm_and_explicit_keys_win() -> None:
    text = ("base: &b {a: 1, b: 2}\nmore: &m {b: 3, c: 4}\n"
            "x:\n  <<: [*b, *m]\n  c: 5\n  d: 6\n")
    assert yaml_input.parse(text)["x"] == {"a": 1, "b": 2, "c": 5, "d": 6}


def test_aliases_share_the_value_and_count_once_per_use() -> None:
    parsed = yaml_input.parse("a: &x [1, 2]\nb: *x\n")
    assert parsed == {"a": [1, 2], "b": [1, 2]}


def test_every_ambiguous_value_of_a_file_is_reported_with_its_key_and_line() -> None:
    with pytest.raises(yaml_input.YamlError) as refused:
        yaml_input.parse("a: yes\nb:\n  c: [1, 010]\n  d: 2020-02-02\n")
    assert [(p.field, p.message.split(":")[0]) for p in refused.value.problems] == [
        ("a", "line 1, column 4"), ("b.c[1]", "line 3, column 10"), ("b.d", "line 4, column 6")]


# Generous bounds: each takes milliseconds (the machine is shared, and may be loaded), and what
# they guard against took minutes.
@pytest.mark.parametrize("text", [
    alias_bomb(9, 10),  # 10^9 values once expanded
    "[" * 100_000 + "]" * 100_000,
    "k: " + "7" * 500_000,
], ids=["alias-bomb", "nesting", "long-integer"])
def test_hostile_documents_are_refused_at_once(text: str) -> None:
    start = time.monotonic()
    with pytest.raises(yaml_input.YamlError):
        yaml_input.parse(text)
    assert time.monotonic() - start < 5


def test_the_file_reader_refuses_what_is_not_a_regular_file_before_reading(
        tmp_path: Path) -> None:
    fifo = tmp_path / "f.yaml"
    os.mkfifo(fifo)
    start = time.monotonic()
    with pytest.raises(yaml_input.FileError, match="named pipe"):
        yaml_input.read_text(fifo)
    with pytest.raises(yaml_input.FileError, match="character device"):
        yaml_input.read_text(Path("/dev/zero"))
    assert time.monotonic() - start < 5
