"""The cdk8s app: synthesizes every file in environments/ into dist/<environment>/.

`cdk8s synth` runs this with CDK8S_OUTDIR set; `python main.py` works the same on its own.
"""

import os
import sys

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from constructs_lib.tools.cli import main

if __name__ == "__main__":
    sys.exit(main(["synth", *sys.argv[1:]]))
