"""The corpus of bad environment files: each holds one mistake and the exact lines it must
produce (`# expected:` at its top); `# rule:` names the rule or field check it exercises."""

from __future__ import annotations

from pathlib import Path

import pytest

from constructs_lib.errors import ConfigError
from constructs_lib.rules import catalog
from constructs_lib.tools import cli, synth

CORPUS = sorted((Path(__file__).parent / "bad_environments").glob("*.yaml"))
FIELD_CHECKS = {"unknown-key", "type", "enum", "port", "quantity", "workers", "replicas",
                "image", "name", "graph", "duration", "autoscaling"}


def header(path: Path, key: str) -> list[str]:
    prefix = f"# {key}: "
    return [line.removeprefix(prefix) for line in path.read_text().splitlines()
            if line.startswith(prefix)]


def test_the_corpus_has_at_least_25_mistakes() -> None:
    assert len(CORPUS) >= 25


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_each_mistake_is_reported_exactly(path: Path) -> None:
    expected = header(path, "expected")
    assert expected, f"{path.name} states no expected line"
    with pytest.raises(ConfigError) as caught:
        synth.load_all([path])
    assert [str(p) for p in caught.value.problems] == [f"{path}: {line}" for line in expected]


def test_every_rule_has_a_bad_environment() -> None:
    covered = {rule for path in CORPUS for rule in header(path, "rule")}
    assert set(catalog.PROBLEM_RULES) - catalog.ONLY_WHEN_COMPOSED_BY_HAND <= covered
    assert {r.removeprefix("field:") for r in covered if r.startswith("field:")} >= FIELD_CHECKS


def test_the_command_reports_every_file_at_once(capsys: pytest.CaptureFixture[str],
                                                tmp_path: Path) -> None:
    out = tmp_path / "dist"
    code = cli.main(["synth", *map(str, CORPUS), "--output", str(out)])
    assert code == cli.EXIT_INPUT_ERROR
    reported = capsys.readouterr().err.splitlines()
    assert reported == [f"{path}: {line}" for path in CORPUS for line in header(path, "expected")]
    assert not out.exists()
