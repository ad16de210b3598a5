"""How numbers are written wherever people read them: tables, reports, the terminal UI."""

from __future__ import annotations

import math


def format_number(value: float | None) -> str:
    """Four decimals for metric values, one for large ones; '-' when there is none."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.4f}" if abs(value) < 100 else f"{value:.1f}"


def format_p(value: float | None) -> str:
    """A p-value: three decimals, scientific below 0.001, '<1e-300' where it underflows to 0."""
    if value is None or not math.isfinite(value):
        return "-"
    if value == 0:
        return "<1e-300"
    return f"{value:.1e}" if value < 0.001 else f"{value:.3f}"


def describe_value(value: object) -> str:
    """A manifest value (source, encoding, split settings) on one line: key=value pairs, lists joined with /."""
    if isinstance(value, dict):
        return ", ".join(f"{k}={describe_value(v)}" for k, v in value.items() if v is not None and v != {})
    if isinstance(value, list):
        return "/".join(describe_value(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
