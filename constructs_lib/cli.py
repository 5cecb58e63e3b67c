"""`python -m constructs_lib`: synthesize environments, and the other commands."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from . import _run_local_command
from .errors import ConfigError

EXIT_INPUT_ERROR = 2


def _synth(args: argparse.Namespace) -> int:
    from . import summary, synth

    paths = [Path(p) for p in args.environments] or synth.discover(Path(args.environments_dir))
    environments = synth.load_all(paths)
    results = synth.synthesize(environments, Path(args.output))
    for result in results:
        folder = Path(args.output) / result.name
        print("\n".join(summary.summarize(result.name, result.environment, folder,
                                            result.files).lines()))
    return 0


class _HelpFormatter(argparse.HelpFormatter):
    """Keeps each command's one-line help on the command's own line: argparse measures command
    names without the indent it then gives them, so the longest help would wrap below it."""

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        if isinstance(action, argparse._SubParsersAction):
            longest = max(map(len, action.choices), default=0)
            indented = self._current_indent + 2 * self._indent_increment + longest
            self._action_max_length = max(self._action_max_length, indented)


def _version() -> str:
    try:
        return metadata.version("dynamo-cdk8s")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def resolve_environment(name_or_path: str) -> Path:
    """An environment given by file, or by name in environments/."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    return Path("environments") / f"{name_or_path}.yaml"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m constructs_lib",
        description="Typed cdk8s constructs for NVIDIA Dynamo disaggregated inference.",
        epilog="`python -m constructs_lib COMMAND --help` describes a command's options.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    synth = commands.add_parser("synth", help="synthesize environments into DIR/<environment>/")
    synth.add_argument("environments", nargs="*",
                       help="environment files (default: every file in --environments-dir)")
    synth.add_argument("--environments-dir", default="environments")
    synth.add_argument("--output", "-o", default=os.environ.get("CDK8S_OUTDIR", "dist"),
                       help="output folder (default: $CDK8S_OUTDIR or dist)")
    synth.set_defaults(run=_synth)
    from .helm import command as from_helm_values
    from .reference import command as reference

    from_helm_values.register(commands)
    _run_local_command.add_parser(commands, resolve_environment)
    reference.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except ConfigError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return EXIT_INPUT_ERROR
