"""Arithmetic on Kubernetes quantities, for sizes derived from a pod's GPU count."""

from __future__ import annotations

import re
from fractions import Fraction

from ..model.base import quantity_value

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_SPLIT = re.compile(r"^([0-9.]+)([A-Za-z]*)$")

Quantity = int | float | str


def scale(quantity: Quantity, factor: int) -> Quantity:
    """`quantity` times `factor`, in the same unit: 2Gi x 8 = 16Gi, 500m x 3 = 1500m."""
    if isinstance(quantity, (int, float)):
        return _number(Fraction(str(quantity)) * factor)
    match = _SPLIT.match(quantity)
    if not match:
        raise ValueError(f"cannot scale the quantity {quantity!r}")
    number, unit = match.groups()
    scaled = _number(Fraction(number) * factor)
    return f"{scaled}{unit}" if unit else scaled


def add_bytes(*quantities: Quantity) -> str:
    """The sum of byte quantities, in the largest binary unit that keeps it whole."""
    total = int(sum(Fraction(quantity_value(q)).limit_denominator() for q in quantities))
    for unit in ("Ti", "Gi", "Mi", "Ki"):
        if total % _BINARY[unit] == 0:
            return f"{total // _BINARY[unit]}{unit}"
    return str(total)


def at_least(quantity: Quantity, floor: Quantity) -> Quantity:
    """`quantity`, or `floor` when that is larger (a limit must not be below its request)."""
    return floor if quantity_value(floor) > quantity_value(quantity) else quantity


def _number(value: Fraction) -> int | str:
    if value.denominator == 1:
        return int(value)
    return format(float(value), "g")
