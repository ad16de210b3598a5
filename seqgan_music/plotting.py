"""Curves drawn with characters: one marker per series, points joined in order, labelled axes.

Used for the temperature sweep (quality against diversity) and the experiments' reports, where a
plain-text figure must read well in a terminal, a log and a Markdown code block alike. A level (a
horizontal line at a known value, such as the oracle's own entropy under NLL_oracle) is drawn across
the whole plot, labelled on its row, ticked with its value and named in the legend.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

MARKERS = "●▲■◆★✚▼○△□◇☆✖▽◉✱◐◑"  # one per series: every method of an experiment gets its own
LEVEL = "┈"
_JOIN = "·"


def line_plot(series: Mapping[str, Sequence[tuple[float, float]]], x_label: str, y_label: str,
              width: int = 60, height: int = 16, levels: Mapping[str, float] | None = None) -> str:
    """The series as a character plot (width x height cells of plotting area) with a legend;
    `levels` (label -> y) are horizontal lines across the plot, within its y range."""
    points = [(x, y) for values in series.values() for x, y in values if math.isfinite(x) and math.isfinite(y)]
    if not points:
        return "(nothing to plot: no finite values)"
    levels = {label: y for label, y in (levels or {}).items() if math.isfinite(y)}
    x_low, x_high = _span([x for x, _ in points], pad=False)  # the axis is labelled with the data's own ends
    y_low, y_high = _span([y for _, y in points] + list(levels.values()))
    grid = [[" "] * width for _ in range(height)]

    def cell(x: float, y: float) -> tuple[int, int]:
        column = round((x - x_low) / (x_high - x_low) * (width - 1))
        row = height - 1 - round((y - y_low) / (y_high - y_low) * (height - 1))
        return row, column

    ticks = {}
    for label, y in levels.items():  # under the curves: a point on the line stays visible
        row, _ = cell(x_low, y)
        text = f"{LEVEL * 2} {label} "
        grid[row] = list((text + LEVEL * width)[:width])
        ticks[row] = _label(y)
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
    ticks = {0: _label(y_high), height - 1: _label(y_low), **ticks}
    margin = max(len(tick) for tick in ticks.values())
    lines = [f"{y_label}"]
    for row, cells in enumerate(grid):
        lines.append(f"{ticks.get(row, ''):>{margin}} │{''.join(cells)}")
    lines.append(f"{'':>{margin}} └{'─' * width}")
    left, right = _label(x_low), _label(x_high)
    lines.append(f"{'':>{margin}}  {left}{right:>{width - len(left)}}")
    lines.append(f"{'':>{margin}}  {x_label:^{width}}")
    entries = [f"{MARKERS[i % len(MARKERS)]} {name}" for i, name in enumerate(series)]
    entries += [f"{LEVEL * 2} {label} {_label(y)}" for label, y in levels.items()]
    lines += [f"{'':>{margin}}  {legend}" for legend in _wrapped(entries, width)]
    return "\n".join(lines)


def _wrapped(entries: Sequence[str], width: int, gap: str = "   ") -> list[str]:
    """The legend's entries on as few lines of `width` as they fit (one entry per line at worst)."""
    lines: list[str] = []
    for entry in entries:
        if lines and len(lines[-1]) + len(gap) + len(entry) <= width:
            lines[-1] += gap + entry
        else:
            lines.append(entry)
    return lines


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
