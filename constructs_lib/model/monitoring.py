"""Prometheus relabel configs, checked as the prometheus-operator's CRDs (ServiceMonitor and
PodMonitor share the schema) and the operator itself check them, so that a monitor this library
writes is never refused by the API server, or accepted and then ignored by the operator."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator

from ..errors import quoted

# monitoring.coreos.com_servicemonitors.yaml: spec.endpoints[].relabelings[].action
ACTIONS = ("replace", "Replace", "keep", "Keep", "drop", "Drop", "hashmod", "HashMod",
           "labelmap", "LabelMap", "labeldrop", "LabelDrop", "labelkeep", "LabelKeep",
           "lowercase", "Lowercase", "uppercase", "Uppercase", "keepequal", "KeepEqual",
           "dropequal", "DropEqual")
_TEXT_KEYS = ("regex", "replacement", "separator", "targetLabel")
KEYS = ("action", "modulus", "regex", "replacement", "separator", "sourceLabels", "targetLabel")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# The operator refuses these without a targetLabel (and Prometheus would not load them).
_NEED_TARGET = {"replace", "hashmod", "lowercase", "uppercase", "keepequal", "dropequal"}


def relabeling_problems(relabeling: Mapping[str, Any]) -> list[str]:
    """What is wrong with one relabel config; empty when the CRD and the operator accept it."""
    if not isinstance(relabeling, Mapping):
        return [f"expected a mapping of {', '.join(KEYS)}, got {quoted(relabeling)}"]
    problems = [f"unknown key {quoted(key)}; allowed here: {', '.join(KEYS)}"
                for key in relabeling if key not in KEYS]
    action = relabeling.get("action", "replace")
    if action not in ACTIONS:
        problems.append(f"action {quoted(action)} is not one of {', '.join(ACTIONS[::2])} "
                        "(or their capitalized forms)")
    for key in _TEXT_KEYS:
        if key in relabeling and not isinstance(relabeling[key], str):
            problems.append(f"{key} must be a string, got {quoted(relabeling[key])}")
    labels = relabeling.get("sourceLabels", [])
    if not isinstance(labels, list) or not all(
            isinstance(label, str) and _LABEL_NAME.match(label) for label in labels):
        problems.append(f"sourceLabels must be a list of label names (letters, digits and '_', "
                        f"not starting with a digit), got {quoted(labels)}")
    modulus = relabeling.get("modulus")
    if modulus is not None and (isinstance(modulus, bool) or not isinstance(modulus, int)
                                or not 0 <= modulus < 2**63):
        problems.append(f"modulus must be a whole number, got {quoted(modulus)}")
    lowered = action.lower() if isinstance(action, str) else ""
    if lowered == "hashmod" and not modulus:
        problems.append("action hashmod needs a modulus of at least 1")
    if lowered in _NEED_TARGET and not relabeling.get("targetLabel"):
        problems.append(f"action {action} needs a targetLabel")
    return problems


def _relabeling(value: dict[str, object]) -> dict[str, object]:
    problems = relabeling_problems(value)
    if problems:
        raise ValueError("; ".join(problems))
    return value


def check_relabelings(relabelings: Any) -> None:
    """Raises ValueError naming the first relabel config the CRD or the operator would refuse."""
    for index, relabeling in enumerate(relabelings):
        problems = relabeling_problems(relabeling)
        if problems:
            raise ValueError(f"relabelings[{index}]: {'; '.join(problems)}")


Relabeling = Annotated[dict[str, object], AfterValidator(_relabeling)]
"""A Prometheus relabel config of a ServiceMonitor or PodMonitor endpoint."""
