"""The cdk8s app: synthesizes every file in environments/ into dist/<environment>/.

`python main.py` writes dist/, all or nothing (a failed synth leaves it as it was). The cdk8s CLI
(`npm run synth`, through scripts/cdk8s-app) runs it with CDK8S_OUTDIR set to the folder it has
just deleted: when that is cdk8s.yaml's `output`, a copy for the CLI, dist/ is replaced the same
way and then copied there; any other folder (`cdk8s synth --output DIR`) is written directly.
"""

import contextlib
import os
import shutil
import sys
from pathlib import Path

import yaml

from constructs_lib.tools.cli import main

ROOT = Path(__file__).resolve().parent
DIST = ROOT / "dist"


def _cli_copy() -> Path:
    """cdk8s.yaml's `output`: the folder the CLI deletes before each run."""
    config = yaml.safe_load((ROOT / "cdk8s.yaml").read_text(encoding="utf-8"))
    return (ROOT / config["output"]).resolve()


def run(argv: list[str]) -> int:
    outdir = os.environ.get("CDK8S_OUTDIR")
    if not outdir or Path(outdir).resolve() != _cli_copy():
        return main(["synth", *argv])
    # The CLI discards the app's stdout: the summary of what went to dist/ goes to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        code = main(["synth", "--output", os.path.relpath(DIST), *argv])
    if code == 0:
        shutil.rmtree(outdir, ignore_errors=True)
        shutil.copytree(DIST, outdir)
    return code


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
