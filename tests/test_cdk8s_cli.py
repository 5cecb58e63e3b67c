"""`cdk8s synth`, the pinned CLI from package.json, writes the same dist/ as `python main.py`."""

from __future__ import annotations

import filecmp
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

CLI = ROOT / "node_modules" / ".bin" / "cdk8s"


@pytest.mark.skipif(not CLI.exists(),
                    reason="node_modules is missing: run `npm ci` (make test does)")
def test_cdk8s_synth_writes_the_committed_dist(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    result = subprocess.run(
        [str(CLI), "synth", "--check-upgrade=false", "--output", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PATH": f"{ROOT / 'node_modules' / '.bin'}:{os.environ['PATH']}"})
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "end-of-life" not in result.stderr
    comparison = filecmp.dircmp(out, ROOT / "dist")
    assert sorted(comparison.common_dirs) == sorted(p.name for p in (ROOT / "dist").iterdir()
                                                     if p.is_dir())
    for name in comparison.common_dirs:
        sub = comparison.subdirs[name]
        assert not sub.left_only and not sub.right_only, name
        _, mismatch, errors = filecmp.cmpfiles(out / name, ROOT / "dist" / name,
                                               sub.common_files, shallow=False)
        assert not mismatch and not errors, (name, mismatch)
