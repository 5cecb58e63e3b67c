"""constructs_lib/model/data/vllm_engine_args.json: the flags `python3 -m dynamo.vllm` accepts in
the pinned image, as scripts/gen-vllm-engine-args.py reads them off the real parser."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.runtime_parsers import missing_reason, parsers_python, requirement_marks

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "constructs_lib/model/data/vllm_engine_args.json"
SCRIPT = ROOT / "scripts/gen-vllm-engine-args.py"
TYPES = {"bool", "BooleanOptionalAction", "int", "float", "str", "json", "list"}
SOURCES = {"vllm", "dynamo-runtime", "dynamo-vllm", "dynamo-router"}


def test_every_flag_has_a_known_type_and_source() -> None:
    flags = json.loads(DATA.read_text())["flags"]
    assert len(flags) > 300
    for flag, entry in flags.items():
        assert flag.startswith("--"), flag
        assert entry["type"] in TYPES, (flag, entry)
        assert entry["source"] in SOURCES, (flag, entry)
        assert entry["takes_value"] is (entry["type"] not in ("bool", "BooleanOptionalAction")) \
            or entry["takes_value"] == "optional", (flag, entry)
        if entry["type"] == "list":
            assert entry["item_type"] in TYPES - {"list"}, (flag, entry)


@pytest.mark.skipif(missing_reason() is not None and os.environ.get("DYNAMO_E2E_REQUIRED") != "1",
                    reason=str(missing_reason()))
def test_the_file_is_what_the_pinned_parser_says() -> None:
    requirement_marks()  # raises, as in CI, when the venv is missing
    derived = subprocess.run(
        [str(parsers_python()), str(SCRIPT), "--stdout"], capture_output=True, text=True,
        check=True, timeout=300, env={k: v for k, v in os.environ.items()
                                      if k in ("PATH", "HOME", "LANG", "TMPDIR")},
    ).stdout
    assert derived == DATA.read_text(), \
        f"{DATA.name} is stale: run {parsers_python()} {SCRIPT.relative_to(ROOT)}"
