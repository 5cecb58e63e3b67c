"""Each dist/<environment>/ builds with kubectl's kustomize, in the order kustomization.yaml
lists, without a warning, as the README's GitOps section says to apply it."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import ROOT, SHIPPED

KUBECTL = shutil.which("kubectl")


def _kustomize_major() -> int | None:
    if KUBECTL is None:
        return None
    printed = subprocess.run([KUBECTL, "version", "--client"], capture_output=True, text=True,
                             timeout=60).stdout
    found = re.search(r"Kustomize Version: v(\d+)\.", printed)
    return int(found.group(1)) if found else None


# sortOptions needs kustomize 5.0.0 (kubectl 1.27 embeds v5.0.1); older ones refuse the field.
pytestmark = pytest.mark.skipif((_kustomize_major() or 0) < 5,
                                reason="needs a kubectl whose kustomize is 5 or later")


@pytest.mark.parametrize("name", SHIPPED)
def test_kubectl_kustomize_builds_in_the_listed_order_and_warns_of_nothing(name: str) -> None:
    assert KUBECTL is not None
    folder = ROOT / "dist" / name
    result = subprocess.run([KUBECTL, "kustomize", str(folder)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    # `kubectl apply -k` would add the warning that sortOptions and --reorder are both set.
    assert result.stderr == ""
    built = [(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(result.stdout) if d]
    listed = []
    for file in yaml.safe_load((folder / "kustomization.yaml").read_text())["resources"]:
        listed += [(d["kind"], d["metadata"]["name"])
                   for d in yaml.safe_load_all((folder / file).read_text()) if d]
    assert built == listed
