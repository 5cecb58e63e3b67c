"""How constructs take part in the rules: each registers with its chart and with cdk8s.

A construct that owns rules registers a cdk8s validation, so `app.synth()` refuses the app
before writing anything, and joins the list of rule subjects of its chart, where rules that
span constructs (a decode and a prefill pool of one deployment, a node pool and the pods it
must hold) find the others whatever order they were created in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import jsii
from cdk8s import Chart
from constructs import Construct, IValidation

from . import Finding, Locator, staged
from .names import NamedObject, generated_names_are_valid

_SUBJECTS = "_dynamo_rule_subjects"
T = TypeVar("T")


@jsii.implements(IValidation)
class _Validation:
    def __init__(self, problems: Callable[[], list[Finding]]) -> None:
        self._problems = problems

    def validate(self) -> list[str]:
        # An exception here would reach the user as a jsii stack trace without the finding.
        try:
            return [str(finding) for finding in self._problems()]
        except Exception as err:
            return [f"the rules could not be checked: {type(err).__name__}: {err}"]


def take_part(construct: Construct, problems: Callable[[], list[Finding]]) -> Locator:
    """Register `construct` with its chart's rule subjects and its `problems` (the findings
    about this construct, located with the returned Locator) as a cdk8s validation."""
    chart = Chart.of(construct)
    members: list[Construct] = chart.__dict__.setdefault(_SUBJECTS, [])
    members.append(construct)
    construct.node.add_validation(_Validation(problems))
    return Locator(lambda: construct.node.path)


def subjects_of(chart: Construct, kind: type[T]) -> list[T]:
    """The rule subjects of `kind` registered with `chart`, in the order they were created."""
    members: list[Any] = chart.__dict__.get(_SUBJECTS, [])
    return [m for m in members if isinstance(m, kind)]


def chart_of(construct: Construct) -> Chart:
    return Chart.of(construct)


class RuleSubject:
    """A construct that owns rules: the objects it names and what it finds wrong."""

    locator: Locator
    """How findings about this construct name its props (set by `take_part`; a chart composed
    from an environment file names the file's fields instead)."""

    def named_objects(self) -> list[NamedObject]:
        """The objects this construct emits, with the prop that decides each name."""
        return []

    def findings(self) -> list[Finding]:
        """What is wrong with this construct, at every stage, names aside."""
        return []

    def problems(self) -> list[Finding]:
        """What makes this construct impossible to deploy as written: the findings of the
        earliest stage that has any (the validation `app.synth()` runs)."""
        return staged([*generated_names_are_valid(self.named_objects()), *self.findings()])
