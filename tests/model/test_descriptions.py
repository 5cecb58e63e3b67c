"""Field descriptions are read from the models' source only when the schema or docs need them."""

from __future__ import annotations

import subprocess
import sys

from pydantic import BaseModel

from constructs_lib.model.descriptions import attribute_docstrings, describe
from tests.conftest import ROOT


class _Documented(BaseModel):
    """Not a field's description."""

    plain: int = 1
    """What plain is.

    Indented like a docstring."""
    undocumented: str = ""
    also_plain: bool = False
    'Single-quoted counts too.'


def test_the_string_under_each_field_is_its_docstring() -> None:
    assert attribute_docstrings(_Documented) == {
        "plain": "What plain is.\n\nIndented like a docstring.",
        "also_plain": "Single-quoted counts too."}


def test_loading_the_models_reads_no_source_and_describe_adds_the_descriptions() -> None:
    # In a process of its own: describe() changes the models of the process it runs in.
    script = (
        "from constructs_lib.model.environment import EtcdSettings\n"
        "from constructs_lib.model.descriptions import describe\n"
        "before = EtcdSettings.model_fields['enabled'].description\n"
        "describe(); describe()\n"
        "schema = EtcdSettings.model_json_schema()['properties']['enabled']\n"
        "print(before, '|', schema['description'])\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "None | Deploy etcd with the release. Default: true."


def test_describe_leaves_models_outside_the_package_alone() -> None:
    describe()
    assert _Documented.model_fields["plain"].description is None
