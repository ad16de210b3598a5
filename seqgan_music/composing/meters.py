"""Which meters a model knows. A grid16 model sees a meter only as the distance between the bar lines
it was trained with, so a meter is as familiar as the share of training tunes whose bars are as long.

A meter the model never saw (7/8 for a folk model) makes tunes that wander; composing refuses it
and names the meters the model knows. A rare one (under 1% of tunes) is allowed with a warning.
"""

from __future__ import annotations

from seqgan_music.corpora.encodings import Grid16
from seqgan_music.corpora.melody import meter_length_in_beats
from seqgan_music.errors import SeqganError

RARE_SHARE = 0.01  # of the training tunes: bars of a length rarer than this make a rare meter


def bar_steps(meter: str) -> int | None:
    """Sixteenth steps in one bar of `meter`; None for a bar that is not a whole number of them."""
    try:
        steps = meter_length_in_beats(meter) * Grid16.steps_per_beat
    except ValueError:
        return None
    return int(steps) if steps % 1 == 0 else None


def usable_meters(meters: dict[str, int]) -> dict[str, int]:
    """The corpus's meters (meter -> tunes) that a grid16 bar can hold."""
    return {meter: count for meter, count in meters.items() if bar_steps(meter) is not None}


def meter_shares(meters: dict[str, int]) -> str:
    """'6/8 28%, 2/2 28%, 2/4 22%, ...': the corpus's meters by their share of its tunes."""
    total = sum(meters.values()) or 1
    ordered = sorted(meters.items(), key=lambda item: -item[1])
    return ", ".join(f"{meter} {100 * count / total:.2g}%" for meter, count in ordered)


def meter_warning(meters: dict[str, int], meter: str, whose: str) -> str | None:
    """A warning when the corpus (meter -> tunes) had few tunes with bars as long as `meter`'s, None when
    it had enough or is unknown; a one-line error when it had none. `whose` names the meter's origin
    for the messages ("--meter 7/8", "the primer's meter 7/8")."""
    total = sum(meters.values())
    steps = bar_steps(meter)
    if not total or steps is None:
        return None
    alike = sum(count for other, count in meters.items() if bar_steps(other) == steps)
    known = meter_shares(meters)
    if not alike:
        raise SeqganError(f"{whose}: the model never saw bars of {steps} sixteenths, so its tunes would wander; "
                          f"it knows {known}: give --meter with one of these")
    if alike / total < RARE_SHARE:
        return (f"{whose} is rare for this model ({alike} of {total} training tunes have bars of {steps} "
                f"sixteenths), so expect tunes that wander; it was trained on {known}")
    return None
