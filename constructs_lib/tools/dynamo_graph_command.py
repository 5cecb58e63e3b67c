"""`python -m constructs_lib dynamo-graph ENVIRONMENT`: print (or write) a 1.x environment as
a DynamoGraphDeployment for NVIDIA's Dynamo operator."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from ..errors import Problem

DESCRIPTION = """\
Checks a Dynamo 1.x environment file as `synth` does, then prints its DynamoGraphDeployment
(nvidia.com/v1beta1) and the NetworkPolicy of its pods as one YAML stream, for `kubectl apply
-f -` where NVIDIA's Dynamo operator runs; whatever the file's `output` says. `synth --format
dynamo-graph` writes the same objects into DIR/<environment>/.
"""


def run(args: argparse.Namespace, path: Path) -> int:
    from . import synth

    warnings: list[Problem] = []
    composed = synth.compose_files([path], warnings, output_format="dynamo-graph")
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    try:
        text = str(composed.app.synth_yaml())
    finally:
        composed.discard()
    if args.write is None:
        print(text, end="" if text.endswith("\n") else "\n")
        return 0
    Path(args.write).write_text(text)
    print(f"{path} -> {args.write}", file=sys.stderr)
    return 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser],
               resolve: Callable[[str, str], Path]) -> None:
    parser = commands.add_parser(
        "dynamo-graph", help="print a 1.x environment as a DynamoGraphDeployment",
        description=DESCRIPTION)
    parser.add_argument("environment",
                        help="a 1.x environment file, or the name of one in --environments-dir")
    parser.add_argument("--environments-dir", default="environments", metavar="FOLDER",
                        help="the folder of environment files (default: environments)")
    parser.add_argument("--write", metavar="FILE", default=None,
                        help="write the YAML here instead of printing it")
    parser.set_defaults(run=lambda args: run(args, resolve(args.environment,
                                                            args.environments_dir)))
