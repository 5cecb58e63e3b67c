"""`schema` and `docs` write the generated files; --check tells a stale file from a fresh one."""

from __future__ import annotations

from pathlib import Path

from constructs_lib.tools.cli import main
from constructs_lib.tools.reference import schema
from constructs_lib.tools.reference.command import DOCS_PATH, EXIT_STALE
from tests.conftest import ROOT


def test_schema_writes_the_generated_schema(tmp_path: Path, capsys) -> None:
    output = tmp_path / "nested" / "environment.schema.json"
    assert main(["schema", "-o", str(output)]) == 0
    assert output.read_text() == schema.render()
    assert capsys.readouterr().out.strip() == f"schema -> {output}"


def test_check_passes_a_fresh_file_and_fails_a_stale_or_missing_one(tmp_path: Path,
                                                                    capsys) -> None:
    output = tmp_path / "environment.schema.json"
    output.write_text(schema.render())
    assert main(["schema", "--check", "-o", str(output)]) == 0
    output.write_text(schema.render().replace("Helm release", "release"))
    assert main(["schema", "--check", "-o", str(output)]) == EXIT_STALE
    assert main(["schema", "--check", "-o", str(tmp_path / "missing.json")]) == EXIT_STALE
    err = capsys.readouterr().err
    assert f"{output} is stale: run `python -m constructs_lib schema`" in err
    assert output.read_text() != schema.render(), "--check must not write"


def test_the_committed_docs_pass_the_check() -> None:
    assert main(["docs", "--check", "-o", str(ROOT / DOCS_PATH)]) == 0
