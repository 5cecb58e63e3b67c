"""checkov on every shipped environment's output, against the accepted list in checkov-skips.yaml.

checkov takes about four seconds to import, so one process per session scans every environment
(and, when ../shared is present, the seed chart's renders of the same examples), each on its own
(tests/support/checkov_scan.py).
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, SHARED, SHIPPED, Synthesized

SKIPS = yaml.safe_load((ROOT / "checkov-skips.yaml").read_text())


@dataclass(frozen=True)
class Failure:
    check: str
    kind: str
    name: str
    environment: str

    @property
    def resource(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class Scan:
    version: str
    scanned: dict[str, dict[str, Any]]
    """Per environment: checkov's summary of our output."""
    ours: list[Failure]
    seed_failed: dict[str, int]


def _checkov_installed() -> bool:
    try:
        import checkov  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="session")
def scan(synthesized: dict[str, Synthesized], tmp_path_factory: pytest.TempPathFactory) -> Scan:
    if not _checkov_installed():
        pytest.skip("checkov is not installed (it is in the test extras: pip install -e '.[test]')")
    root = tmp_path_factory.mktemp("checkov")
    folders = {}
    for name, result in synthesized.items():
        folder = folders[("ours", name)] = root / "ours" / name
        folder.mkdir(parents=True)
        for file in result.folder.glob("*.k8s.yaml"):
            shutil.copy(file, folder / file.name)
    for name in {e["seed"] for e in SKIPS["environments"].values() if "seed" in e}:
        reference = SHARED / "reference" / f"{name}.yaml"
        if reference.exists():
            folder = folders[("seed", name)] = root / "seed" / name
            folder.mkdir(parents=True)
            shutil.copy(reference, folder / reference.name)
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.checkov_scan", *map(str, folders.values())],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    ours, seed, scanned, versions = [], {}, {}, set()
    for (side, name), folder in folders.items():
        result = report[str(folder)]
        versions.add(result["summary"]["checkov_version"])
        if side == "seed":
            seed[name] = len(result["failed"])
            continue
        scanned[name] = result["summary"]
        for failed in result["failed"]:
            kind, _, resource_name = failed["resource"].split(".", 2)
            ours.append(Failure(failed["check_id"], kind, resource_name, name))
    [version] = versions
    return Scan(version, scanned, ours, seed)


def _skip_for(failure: Failure) -> dict[str, Any] | None:
    for skip in SKIPS["skips"]:
        if skip["check"] == failure.check and any(
                fnmatch.fnmatchcase(failure.resource, pattern) for pattern in skip["resources"]):
            return skip
    return None


def test_checkov_is_the_version_the_skip_list_was_written_for(scan: Scan) -> None:
    assert scan.version == SKIPS["checkov_version"]


@pytest.mark.parametrize("name", SHIPPED)
def test_checkov_read_every_manifest(name: str, scan: Scan,
                                     synthesized: dict[str, Synthesized]) -> None:
    # An unparseable file is skipped without an error: make sure every document was scanned.
    summary = scan.scanned[name]
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] >= len(synthesized[name].documents)


def test_every_failed_check_is_accepted_with_a_reason(scan: Scan) -> None:
    unexplained = sorted({f"{f.check} {f.resource} ({f.environment})"
                          for f in scan.ours if _skip_for(f) is None})
    assert unexplained == [], "checks failing without an entry in checkov-skips.yaml"


def test_every_accepted_check_still_fails(scan: Scan) -> None:
    stale = [f"{skip['check']} {pattern}"
             for skip in SKIPS["skips"] for pattern in skip["resources"]
             if not any(f.check == skip["check"] and fnmatch.fnmatchcase(f.resource, pattern)
                        for f in scan.ours)]
    assert stale == [], "checkov-skips.yaml accepts failures that no longer occur: remove them"


def test_every_shipped_environment_has_a_budget() -> None:
    assert sorted(SKIPS["environments"]) == sorted(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_failures_stay_within_the_budget(name: str, scan: Scan) -> None:
    budget = SKIPS["environments"][name]
    failed = sum(1 for f in scan.ours if f.environment == name)
    assert failed <= budget["max_failed"], f"{name}: {failed} failed checks"
    if "seed" in budget and budget["max_failed"] * 4 > budget["seed_failed"]:
        assert budget.get("over_quarter"), (
            f"{name}: budget {budget['max_failed']} exceeds a quarter of the seed's "
            f"{budget['seed_failed']} without a stated reason")


@pytest.mark.parametrize("seed", sorted({e["seed"] for e in SKIPS["environments"].values()
                                         if "seed" in e}))
def test_the_seed_counts_are_what_checkov_reports(seed: str, scan: Scan) -> None:
    if not scan.seed_failed:
        pytest.skip(f"{SHARED / 'reference'} is missing: the seed's renders live in ../shared")
    recorded = {e["seed_failed"] for e in SKIPS["environments"].values() if e.get("seed") == seed}
    assert recorded == {scan.seed_failed[seed]}
