"""Cut one encoded tune or line into fixed-length training windows."""

from __future__ import annotations

from collections.abc import Sequence


def cut_windows(
    ids: Sequence[int],
    length: int,
    stride: int,
    allowed_starts: Sequence[int] | None = None,
    end_id: int | None = None,
    pad_id: int | None = None,
) -> list[list[int]]:
    """Windows of `length` ids, one starting every `stride` ids or more.

    With `allowed_starts` (e.g. the bar lines) a window starts only there: at the first allowed
    position at least `stride` after the previous start. With `end_id` and `pad_id` the sequence
    gets an end token and its tail becomes a padded window, kept when it holds at least half a
    window of music (or when it is the only window); without them a short tail is dropped.
    """
    if length < 1 or stride < 1:
        raise ValueError("window length and stride must be at least 1")
    padded = end_id is not None and pad_id is not None
    sequence = list(ids) + ([end_id] if padded else [])
    candidates = sorted(set(allowed_starts)) if allowed_starts is not None else range(len(ids))
    windows: list[list[int]] = []
    next_allowed = 0
    for start in candidates:
        if start < next_allowed or start >= len(ids):
            continue
        window = sequence[start : start + length]
        if len(window) < length:
            if not padded or (windows and len(ids) - start < length // 2):
                break
            window = window + [pad_id] * (length - len(window))
        windows.append(window)
        next_allowed = start + stride
        if start + length >= len(sequence):
            break
    return windows
