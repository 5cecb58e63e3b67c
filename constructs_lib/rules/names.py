"""Every object a construct emits has a name valid for its kind.

The names are read from the emitted objects, and each is blamed on the prop that decides it
(`full_name` for the Dynamo objects, `release` for etcd's and NATS's), so one line per such
prop lists everything it makes invalid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..errors import show
from ..model.base import is_dns_1035_label, is_dns_label, is_dns_subdomain
from . import Finding, Locator, Stage

# A StatefulSet stamps its pods with `controller-revision-hash: <name>-<hash>`, a label value
# of at most 63 characters; the hash takes up to 11, so longer names leave pods uncreatable.
_STATEFULSET_LIMIT = 52
# A LeaderWorkerSet names its headless Service after itself (so its name is a DNS-1035 label)
# and each group's StatefulSet `<name>-<group>`: with up to 1000 groups, 4 characters less.
_LEADER_WORKER_SET_LIMIT = _STATEFULSET_LIMIT - 4
_LABEL_CHARACTERS = set("abcdefghijklmnopqrstuvwxyz0123456789-")
_SUBDOMAIN = "DNS-1123 subdomains of at most 253 lower-case letters, digits, '-' and '.'"

KIND_RULES: dict[str, tuple[Callable[[str], bool], int, str]] = {
    "Service": (is_dns_1035_label, 63,
                "DNS-1035 labels of at most 63 lower-case letters, digits and '-', starting "
                "with a letter"),
    "StatefulSet": (lambda n: is_dns_label(n, _STATEFULSET_LIMIT), _STATEFULSET_LIMIT,
                    f"DNS-1123 labels of at most {_STATEFULSET_LIMIT} characters (their pods' "
                    "controller-revision-hash label appends 11 more)"),
    "Deployment": (is_dns_subdomain, 253, _SUBDOMAIN),
    "LeaderWorkerSet": (lambda n: is_dns_1035_label(n, _LEADER_WORKER_SET_LIMIT),
                        _LEADER_WORKER_SET_LIMIT,
                        f"DNS-1035 labels of at most {_LEADER_WORKER_SET_LIMIT} characters, "
                        "starting with a letter (its headless Service takes the name, and each "
                        "group's StatefulSet <name>-<group> must stay a StatefulSet name)"),
    "ConfigMap": (is_dns_subdomain, 253, _SUBDOMAIN),
    "ServiceMonitor": (is_dns_subdomain, 253, _SUBDOMAIN),
    "PodMonitor": (is_dns_subdomain, 253, _SUBDOMAIN),
    "NetworkPolicy": (is_dns_subdomain, 253, _SUBDOMAIN),
    "PodDisruptionBudget": (is_dns_subdomain, 253, _SUBDOMAIN),
    "ServiceAccount": (is_dns_subdomain, 253, _SUBDOMAIN),
    "HorizontalPodAutoscaler": (is_dns_subdomain, 253, _SUBDOMAIN),
    # KEDA labels the HPA it creates with `scaledobject.keda.sh/name: <name>`.
    "ScaledObject": (is_dns_label, 63,
                     "DNS-1123 labels of at most 63 characters (KEDA puts the name in a label "
                     "of the HPA it creates)"),
}
"""What each kind's name must be, how long it may be, and how to say so."""
_LABEL_KINDS = ("Service", "StatefulSet", "LeaderWorkerSet", "ScaledObject")
"""Kinds whose names are DNS labels: no '.'."""


@dataclass(frozen=True)
class NamedObject:
    """An emitted object's name and the prop it comes from."""

    kind: str
    name: str
    prop: str
    """The prop that decides the name, e.g. `full_name` or `release`."""
    value: str
    """That prop's value."""
    locator: Locator
    """Where the prop was written."""
    dependency: bool = False
    """etcd's and NATS's names follow the release alone; no override changes them."""


def valid_name(kind: str, name: str) -> bool:
    rule = KIND_RULES.get(kind)
    return rule is None or rule[0](name)


def generated_names_are_valid(objects: Iterable[NamedObject]) -> list[Finding]:
    """Every generated name is valid for its kind; one line per setting that decides names."""
    wrong: dict[str, list[NamedObject]] = {}
    for named in objects:
        if not valid_name(named.kind, named.name):
            wrong.setdefault(named.locator.field(named.prop), []).append(named)
    findings = []
    for field, names in wrong.items():
        reasons, too_long = [], False
        for kind in KIND_RULES:
            listed = []
            for n in (n for n in names if n.kind == kind):
                over = len(n.name) > KIND_RULES[kind][1]
                too_long |= over
                listed.append(f"{n.name} ({len(n.name)} characters)" if over else n.name)
            if listed:
                what = f"{kind} names" if len(listed) > 1 else f"a {kind} name"
                reasons.append(f"{', '.join(listed)} cannot be {what}: {kind} names are "
                               f"{KIND_RULES[kind][2]}")
        first = names[0]
        remedies = []
        if too_long:
            # A chart composed from a file names the Dynamo objects after `release` unless
            # `fullname_override` says otherwise; etcd's and NATS's only after the release.
            overridable = (first.locator.in_file and field == "release"
                           and not any(n.dependency for n in names))
            remedies.append("shorten it or set fullname_override" if overridable
                            else "shorten it")
        if any(not n.name[:1].isalpha() for n in names):
            remedies.append("start it with a letter")
        if any(not set(n.name) <= (_LABEL_CHARACTERS if n.kind in _LABEL_KINDS
                                   else _LABEL_CHARACTERS | {"."}) for n in names):
            # Only a hand-composed construct gets here: the file's names are checked on load.
            remedies.append("write it in lower-case letters, digits and '-'")
        value = first.locator.value(first.prop, first.value)
        findings.append(Finding(field, f"{show(value)}: {'; '.join(reasons)}; "
                                       f"{' and '.join(remedies)}",
                                rule="generated_names_are_valid", stage=Stage.SETTING))
    return findings
