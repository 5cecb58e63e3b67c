"""`python -m constructs_lib`: synthesize environments, and the other commands."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

from . import _run_local_command
from .errors import ConfigError

EXIT_INPUT_ERROR = 2


def _synth(args: argparse.Namespace) -> int:
    from . import synth

    paths = [Path(p) for p in args.environments] or synth.discover(Path(args.environments_dir))
    environments = synth.load_all(paths)
    results = synth.synthesize(environments, Path(args.output))
    for result in results:
        print(f"{result.name}: {len(result.files)} resources -> {Path(args.output) / result.name}")
    return 0


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
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    synth = commands.add_parser("synth", help="synthesize environments into DIR/<environment>/")
    synth.add_argument("environments", nargs="*",
                       help="environment files (default: every file in --environments-dir)")
    synth.add_argument("--environments-dir", default="environments")
    synth.add_argument("--output", "-o", default=os.environ.get("CDK8S_OUTDIR", "dist"),
                       help="output folder (default: $CDK8S_OUTDIR or dist)")
    synth.set_defaults(run=_synth)
    from .helm import command as from_helm_values

    from_helm_values.register(commands)
    _run_local_command.add_parser(commands, resolve_environment)
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
