from __future__ import annotations

import pytest

from constructs_lib.model.naming import chart_name, full_name


@pytest.mark.parametrize("release, name_override, fullname_override, expected", [
    ("deepseek-r1-llama-70b", None, None, "deepseek-r1-llama-70b-dynamo"),
    ("dynamo-canary", None, None, "dynamo-canary"),
    ("dynamo-canary", "llm", None, "dynamo-canary-llm"),
    ("r1", None, "r1-serving", "r1-serving"),
    ("a" * 60, None, None, "a" * 60 + "-dy"),
    ("a" * 62, None, None, "a" * 62),  # cut at 63, then the trailing '-' trimmed
])
def test_full_name_follows_the_chart(release, name_override, fullname_override, expected) -> None:
    assert full_name(release, name_override, fullname_override) == expected


def test_chart_name_is_the_name_label() -> None:
    assert chart_name(None) == "dynamo"
    assert chart_name("llm") == "llm"
