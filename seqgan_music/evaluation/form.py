"""Form metrics of whole tunes: do they repeat bars and phrases and end on the tonic, as folk tunes do?

BLEU cannot see form (real held-out windows score 0.96 BLEU-4 against the training windows);
these figures can. A bar is what `corpora.form.bar_contents` gives: the notes that start in it,
as (onset in sixteenths from the bar line, pitch); two bars are equal when those are equal.

Per tune (NaN where a tune has nothing to count):
- `bar_repeat`: of the tune's bars after its first one that hold a note, the share equal to an
  earlier bar of the same tune. Played as the file plays it (repeats played out).
- `notated_bar_repeat`: the same over one notated pass through the tune: the motifs a tune
  repeats beyond its repeat signs. Read from the tune as written where that is known (a whole
  tune's repeat signs, as its source or the composer wrote them); otherwise from one pass through
  the form detected in the played tune (`TuneForm.notated_bars`: each part once, second endings).
  Detection misses forms that the source writes: in 214 of the folk corpus's 285 test tunes it
  finds none (mostly AABB tunes whose pickup shifts the played bars), so its pass reads 0.41 where
  the tunes as written read 0.27.
- `phrase_repeat`: the bars from the first full bar (after a pickup) cut into 4-bar phrases,
  a last phrase of fewer than 4 bars dropped; of the phrases after the first, the share with at
  least 3 of their 4 bars equal, position by position, to an earlier phrase's (an empty bar is
  never equal: silence is not a repeat).
- `ends_on_tonic`: 1 when the pitch class of the last note is the tonic of `estimate_key` of
  the notes (Krumhansl-Kessler major or minor), else 0. The stored key is ignored on purpose,
  so generated and real tunes are measured the same way; `corpora.form.folk_key` (which uses
  the final note) would make this circular.
- `tune_bars`: bars from the first full bar (the played length, pickup not counted);
  `notated_bars`: bars of one notated pass (pickup counted, as written).
A set's figure for each is the mean over its tunes that have a value, so every tune weighs the
same. Besides those: the distribution of tune lengths, the lengths of the distinct parts of
every tune with a form (`TuneForm.part_lengths`), and how many tunes have each detected form.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from seqgan_music.corpora.form import Bar, bar_contents, detect_form, first_full_bar
from seqgan_music.corpora.keys import estimate_key
from seqgan_music.corpora.melody import Melody

PHRASE_BARS = 4
PHRASE_MATCH = 3  # bars of a phrase that must equal an earlier phrase's for it to count as a repeat
PER_TUNE_METRICS = ("bar_repeat", "notated_bar_repeat", "phrase_repeat", "ends_on_tonic", "tune_bars",
                    "notated_bars")


def bar_repeat_rate(bars: Sequence[Bar]) -> float:
    """Share of the non-empty bars after the first that equal an earlier bar; NaN when there are none."""
    seen = set(bars[:1])
    counted = repeated = 0
    for bar in bars[1:]:
        if bar:
            counted += 1
            repeated += bar in seen
        seen.add(bar)
    return repeated / counted if counted else math.nan


def phrase_repeat_rate(bars: Sequence[Bar], start: int = 0) -> float:
    """Share of the 4-bar phrases from `start` (after the first) with 3 of 4 bars equal to an
    earlier phrase's; NaN with fewer than two whole phrases."""
    phrases = [bars[i:i + PHRASE_BARS] for i in range(start, len(bars) - PHRASE_BARS + 1, PHRASE_BARS)]
    if len(phrases) < 2:
        return math.nan
    repeated = sum(any(_equal_bars(phrase, earlier) >= PHRASE_MATCH for earlier in phrases[:index])
                   for index, phrase in enumerate(phrases) if index > 0)
    return repeated / (len(phrases) - 1)


def _equal_bars(phrase: Sequence[Bar], other: Sequence[Bar]) -> int:
    return sum(1 for bar, bar_there in zip(phrase, other) if bar and bar == bar_there)


def ends_on_tonic(melody: Melody) -> float:
    """1.0 when the last note is the tonic of the key estimated from the notes, 0.0 if not, NaN without notes."""
    if not melody.notes:
        return math.nan
    last = max(melody.notes, key=lambda note: note.start)
    return float(last.pitch % 12 == estimate_key(melody.notes).tonic_pitch_class)


@dataclass(frozen=True)
class FormStats:
    """The form metrics of a set of tunes (see the module docstring), with every tune's values.

    The headline figures are means over the tunes that have a value (NaN when none has);
    `per_tune[metric]` keeps one value per tune, in the order given, for significance tests.
    """

    tunes: int
    bar_repeat: float
    notated_bar_repeat: float
    phrase_repeat: float
    ends_on_tonic: float
    tune_bars: float
    notated_bars: float
    part_bars: float  # mean length of the distinct parts of the tunes that have a form
    tune_length_counts: dict[int, int]  # tune_bars -> tunes
    part_length_counts: dict[int, int]  # bars -> distinct parts
    form_counts: dict[str, int]  # "AABB", "free", ... -> tunes, most common first
    per_tune: dict[str, list[float]]

    def tune_values(self, metric: str) -> np.ndarray:
        """Per-tune values of `metric` (one of `PER_TUNE_METRICS`), NaN where a tune has none."""
        if metric not in self.per_tune:
            raise KeyError(f"unknown form metric {metric!r}: choose from {', '.join(PER_TUNE_METRICS)}")
        return np.asarray(self.per_tune[metric], dtype=np.float64)

    def to_dict(self) -> dict:
        """Plain JSON-ready values; NaN becomes None, per-tune values are rounded to 6 places."""
        data = {name: _plain(getattr(self, name)) for name in
                ("tunes", "bar_repeat", "notated_bar_repeat", "phrase_repeat", "ends_on_tonic", "tune_bars",
                 "notated_bars", "part_bars")}
        data.update(tune_length_counts={str(k): v for k, v in sorted(self.tune_length_counts.items())},
                    part_length_counts={str(k): v for k, v in sorted(self.part_length_counts.items())},
                    form_counts=dict(self.form_counts),
                    per_tune={name: [_plain(v) for v in values] for name, values in self.per_tune.items()})
        return data


def form_stats(melodies: Sequence[Melody], written: Sequence[Melody] | None = None) -> FormStats:
    """The form metrics of `melodies`, each read as a played-out tune (`corpora.form.detect_form`);
    `written`, where given, holds the same tunes as notated (one each), which the notated figures read."""
    if written is not None and len(written) != len(melodies):
        raise ValueError(f"form_stats got {len(melodies)} melodies but {len(written)} written tunes")
    per_tune: dict[str, list[float]] = {name: [] for name in PER_TUNE_METRICS}
    forms: Counter[str] = Counter()
    part_lengths: Counter[int] = Counter()
    for index, melody in enumerate(melodies):
        bars = bar_contents(melody)
        form = detect_form(bars)
        start = first_full_bar(bars)
        notated = (bar_contents(written[index]) if written is not None
                   else [bars[number] for number in form.notated_bars])
        per_tune["bar_repeat"].append(bar_repeat_rate(bars))
        per_tune["notated_bar_repeat"].append(bar_repeat_rate(notated))
        per_tune["phrase_repeat"].append(phrase_repeat_rate(bars, start))
        per_tune["ends_on_tonic"].append(ends_on_tonic(melody))
        per_tune["tune_bars"].append(float(len(bars) - start))
        per_tune["notated_bars"].append(float(len(notated)))
        forms[form.form] += 1
        part_lengths.update(form.part_lengths.values())
    means = {name: _mean(values) for name, values in per_tune.items()}
    return FormStats(
        tunes=len(melodies), **means,
        part_bars=_mean([float(length) for length in part_lengths.elements()]),
        tune_length_counts=dict(Counter(int(bars) for bars in per_tune["tune_bars"])),
        part_length_counts=dict(part_lengths), form_counts=dict(forms.most_common()), per_tune=per_tune)


def _mean(values: Sequence[float]) -> float:
    kept = [value for value in values if not math.isnan(value)]
    return sum(kept) / len(kept) if kept else math.nan


def _plain(value: float | int) -> float | int | None:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 6)
    return value
