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
_CHART = "_dynamo_chart"
_CHART_VALIDATES = "_dynamo_chart_validates_its_subjects"
T = TypeVar("T")


@jsii.implements(IValidation)
class _Validation:
    def __init__(self, messages: Callable[[], list[str]]) -> None:
        self._messages = messages

    def validate(self) -> list[str]:
        # An exception here would reach the user as a jsii stack trace without the finding.
        try:
            return self._messages()
        except Exception as err:
            return [f"the rules could not be checked: {type(err).__name__}: {err}"]


def take_part(construct: Construct, problems: Callable[[], list[Finding]], *,
              scope: Construct | None = None, default_child: Construct | None = None) -> Locator:
    """Register `construct` with its chart's rule subjects and its `problems` (the findings
    about this construct, located with the returned Locator) as a cdk8s validation.

    `scope`, the one `construct` was created in, spares asking cdk8s for the chart;
    `default_child` is set on the construct's node, which is fetched once for both (each is a
    round trip to jsii's Node process)."""
    chart = chart_of(construct, scope)
    members: list[Construct] = chart.__dict__.setdefault(_SUBJECTS, [])
    members.append(construct)
    node = construct.node
    if default_child is not None:
        node.default_child = default_child
    if not chart.__dict__.get(_CHART_VALIDATES):
        node.add_validation(_Validation(lambda: [str(finding) for finding in problems()]))
    return Locator(lambda: construct.node.path)


def validate_subjects_in(chart: Chart) -> None:
    """Check the rules of every subject of `chart` with one cdk8s validation instead of one
    per subject: call it before the subjects are created. Each validation costs four round
    trips to jsii's Node process, and a chart composed from an environment file has six to
    nine subjects. cdk8s then prints the chart's path before each problem, so a problem of a
    construct that names its props (not the file's fields) starts with its own path."""
    chart.__dict__[_CHART_VALIDATES] = True

    def problems() -> list[str]:
        messages: dict[str, None] = {}
        for subject in subjects_of(chart, RuleSubject):
            where = ("" if subject.locator.in_file or not isinstance(subject, Construct)
                     else f"{subject.node.path}: ")
            messages.update((f"{where}{finding}", None) for finding in subject.problems())
        return list(messages)

    chart.node.add_validation(_Validation(problems))


def subjects_of(chart: Construct, kind: type[T]) -> list[T]:
    """The rule subjects of `kind` registered with `chart`, in the order they were created."""
    members: list[Any] = chart.__dict__.get(_SUBJECTS, [])
    return [m for m in members if isinstance(m, kind)]


def chart_of(construct: Construct, scope: Construct | None = None) -> Chart:
    """The chart of `construct` (created in `scope`, when given), asked of cdk8s at most once
    per construct: each `Chart.of` is a round trip to jsii's Node process, and a construct never
    changes charts."""
    chart: Chart | None = construct.__dict__.get(_CHART)
    if chart is None:
        if isinstance(construct, Chart):
            chart = construct
        elif isinstance(scope, Chart):
            chart = scope
        elif scope is not None and _CHART in scope.__dict__:
            chart = scope.__dict__[_CHART]
        else:
            chart = Chart.of(construct)
        construct.__dict__[_CHART] = chart
    assert chart is not None
    return chart


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
