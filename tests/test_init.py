"""The package's public names load on first use, so the model and the CLI start without jsii."""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys

import pytest
from constructs import Construct

import constructs_lib
from tests.conftest import ROOT


def test_every_public_name_resolves_to_the_object_of_its_module() -> None:
    for name in constructs_lib.__all__:
        value = getattr(constructs_lib, name)
        assert value.__name__ == name
        assert value.__module__ == f"constructs_lib.{constructs_lib._EXPORTS[name]}"


def test_the_type_checking_imports_declare_the_same_names_as_the_runtime_table() -> None:
    tree = ast.parse(inspect.getsource(constructs_lib))
    block = next(node for node in tree.body
                 if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING")
    declared = {alias.name: node.module for node in block.body
                if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert declared == {name: module for name, module in constructs_lib._EXPORTS.items()}
    assert sorted(constructs_lib.__all__) == sorted(constructs_lib._EXPORTS)


def test_every_public_construct_is_exported() -> None:
    """A construct added to the library is importable from the package (and so documented)."""
    defined = set()
    for path in sorted((ROOT / "constructs_lib").glob("[!_]*.py")):
        module = importlib.import_module(f"constructs_lib.{path.stem}")
        defined |= {name for name, value in vars(module).items()
                    if inspect.isclass(value) and issubclass(value, Construct)
                    and value.__module__ == module.__name__}
    assert defined
    assert defined <= set(constructs_lib.__all__)


def test_an_unknown_name_is_an_attribute_error_and_submodules_still_import() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'Frontend'"):
        constructs_lib.Frontend  # noqa: B018
    from constructs_lib.tools import synth

    assert synth.__name__ == "constructs_lib.tools.synth"
    assert "FrontendDeployment" in dir(constructs_lib)
    assert issubclass(constructs_lib.FrontendDeployment, Construct)


def test_the_model_and_the_cli_help_do_not_start_the_jsii_runtime() -> None:
    script = (
        "import sys, contextlib, io\n"
        "import constructs_lib.model.loader\n"
        "from constructs_lib.tools.cli import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--help'])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('jsii', 'cdk8s')))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
