"""Curves drawn with characters: one marker per series, points joined in order, labelled axes.

Used for the temperature sweep (quality against diversity) and the experiments' reports, where a
plain-text figure must read well in a terminal, a log and a Markdown code block alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

MARKERS = "●▲■◆★✚▼"
_JOIN = "·"


def line_plot(series: Mapping[str, Sequence[tuple[float, float]]], x_label: str, y_label: str,
              width: int = 60, height: int = 16) -> str:
    """The series as a character plot (width x height cells of plotting area) with a legend."""
    points = [(x, y) for values in series.values() for x, y in values if math.isfinite(x) and math.isfinite(y)]
    if not points:
        return "(nothing to plot: no finite values)"
    x_low, x_high = _span([x for x, _ in points], pad=False)  # the axis is labelled with the data's own ends
    y_low, y_high = _span([y for _, y in points])
    grid = [[" "] * width for _ in range(height)]

    def cell(x: float, y: float) -> tuple[int, int]:
        column = round((x - x_low) / (x_high - x_low) * (width - 1))
        row = height - 1 - round((y - y_low) / (y_high - y_low) * (height - 1))
        return row, column

    for values in series.values():
        finite = [(x, y) for x, y in values if math.isfinite(x) and math.isfinite(y)]
        for (x0, y0), (x1, y1) in zip(finite, finite[1:]):
            steps = max(abs(a - b) for a, b in zip(cell(x0, y0), cell(x1, y1)))
            for step in range(1, steps):
                row, column = cell(x0 + (x1 - x0) * step / steps, y0 + (y1 - y0) * step / steps)
                if grid[row][column] == " ":
                    grid[row][column] = _JOIN
    for index, values in enumerate(series.values()):
        for x, y in values:
            if math.isfinite(x) and math.isfinite(y):
                row, column = cell(x, y)
                grid[row][column] = MARKERS[index % len(MARKERS)]
    top, bottom = _label(y_high), _label(y_low)
    margin = max(len(top), len(bottom))
    lines = [f"{y_label}"]
    for row, cells in enumerate(grid):
        tick = top if row == 0 else bottom if row == height - 1 else ""
        lines.append(f"{tick:>{margin}} │{''.join(cells)}")
    lines.append(f"{'':>{margin}} └{'─' * width}")
    left, right = _label(x_low), _label(x_high)
    lines.append(f"{'':>{margin}}  {left}{right:>{width - len(left)}}")
    lines.append(f"{'':>{margin}}  {x_label:^{width}}")
    legend = "   ".join(f"{MARKERS[i % len(MARKERS)]} {name}" for i, name in enumerate(series))
    lines.append(f"{'':>{margin}}  {legend}")
    return "\n".join(lines)


def _span(values: Sequence[float], pad: bool = True) -> tuple[float, float]:
    """The range of the values, never empty; with `pad`, widened a little so that no point sits
    on the frame."""
    low, high = min(values), max(values)
    if high > low and not pad:
        return low, high
    margin = (high - low) * 0.05 or max(abs(high) * 0.05, 1e-6)
    return low - margin, high + margin


def _label(value: float) -> str:
    return f"{value:.3g}"
