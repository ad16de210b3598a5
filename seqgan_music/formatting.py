"""How numbers are written wherever people read them: tables, reports, the terminal UI."""

from __future__ import annotations

import math

from seqgan_music.phases import phase_label

# Training metrics shown live (key -> column heading); short enough that a table fits 80 columns.
METRIC_HEADINGS = {"g_loss": "G loss", "d_loss": "D loss", "d_acc_real": "D real", "d_acc_fake": "D fake",
                   "mean_reward": "reward", "nll_oracle": "NLL orc", "nll_test": "NLL test"}


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


def format_metric(value: object) -> str:
    """A live training metric: three decimals, one for large values, blank when absent."""
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return "" if value is None else str(value)


def format_clock(seconds: float) -> str:
    """Seconds as H:MM:SS (hours beyond a day keep counting)."""
    whole = max(int(seconds), 0)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def format_duration(seconds: object) -> str:
    """A run's training time: 4m05s, or 1h02m past an hour; '-' when unknown."""
    if not isinstance(seconds, (int, float)):
        return "-"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{rest:02d}s"


def format_run_progress(info: dict) -> str:
    """Where a run stands, from its run.json: "adv 12/30", or '-' before it has begun."""
    progress = info.get("progress") or {}
    if not progress:
        return "-"
    phase = progress.get("phase", "-")
    return f"{phase_label(phase, short=True)} {progress.get('unit', 0)}/{progress.get('units', 0)}"
