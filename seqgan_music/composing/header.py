"""The header a whole tune is composed under: its meter, mode and tune type, asked for or drawn.

A whole-tune model reads `meter=6/8 mode=dorian type=jig` before the first note and writes in
that meter, mode and rhythm. What the user does not ask for is drawn from the training tunes'
own headers, among those that agree with what was asked (a jig is drawn in 6/8, a tune in 9/8 is
a slip jig), so the model is only ever asked for combinations it has learned; a combination the
corpus never has is still honoured when asked for, with a warning.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from seqgan_music.corpora.tunes import HEADER_FIELDS, UNKNOWN_TYPE, TuneHeader
from seqgan_music.errors import SeqganError

FIELD_OPTIONS = {"meter": "--meter", "mode": "--key", "type": "--type"}


def header_key(header: TuneHeader) -> str:
    """'6/8 dorian jig': how header counts are stored (model.json)."""
    return f"{header.meter} {header.mode} {header.type}"


def header_counts(headers: Iterable[TuneHeader]) -> dict[str, int]:
    """Training tunes per header, most common first."""
    return dict(Counter(header_key(header) for header in headers).most_common())


def read_header_key(text: str) -> TuneHeader:
    meter, mode, kind = text.split(" ")
    return TuneHeader(meter, mode, kind)


@dataclass(frozen=True)
class HeaderChoice:
    """The header, how each field was decided, and a warning when the corpus never has it."""

    header: TuneHeader
    how: dict[str, str]
    warning: str | None = None


def known_values(counts: dict[str, int]) -> dict[str, set[str]]:
    """Each field's values among the training tunes' headers."""
    headers = [read_header_key(key) for key in counts]
    return {name: {getattr(header, name) for header in headers} for name in HEADER_FIELDS}


def choose_header(counts: dict[str, int], asked: dict[str, str | None], chooser: random.Random) -> HeaderChoice:
    """The header for one tune: the asked fields (refused in one line when the model never saw the
    value), the others drawn from the training headers that agree with them, a named tune type
    preferred over `unknown` when the user names no type."""
    if not counts:
        raise SeqganError("this whole-tune model records no training headers: pack it again")
    known = known_values(counts)
    for name, value in asked.items():
        if value is not None and value not in known[name]:
            raise SeqganError(f"{FIELD_OPTIONS[name]}: the model never saw a tune with {name} {value}; it knows "
                              f"{', '.join(sorted(known[name]))}")
    headers = [(read_header_key(key), count) for key, count in counts.items()]
    matching = [(header, count) for header, count in headers if _agrees(header, asked)]
    if asked.get("type") is None:
        named = [(header, count) for header, count in matching if header.type != UNKNOWN_TYPE]
        matching = named or matching
    how = {name: "requested" for name, value in asked.items() if value is not None}
    if matching:
        header = _draw(matching, chooser)
        for name in HEADER_FIELDS:
            how.setdefault(name, _drawn_how(asked))
        return HeaderChoice(header, how)
    fields = {name: value for name, value in asked.items() if value is not None}
    for name in HEADER_FIELDS:
        if name not in fields:
            fields[name] = _draw_field(headers, name, chooser, exclude_unknown=name == "type")
            how[name] = "drawn from the training tunes"
    asked_text = ", ".join(f"{name} {value}" for name, value in asked.items() if value is not None)
    warning = f"no training tune has {asked_text} together: the model is conditioned on it anyway"
    return HeaderChoice(TuneHeader(fields["meter"], fields["mode"], fields["type"]), how, warning)


def _agrees(header: TuneHeader, asked: dict[str, str | None]) -> bool:
    return all(value is None or getattr(header, name) == value for name, value in asked.items())


def _drawn_how(asked: dict[str, str | None]) -> str:
    given = [FIELD_OPTIONS[name] for name, value in asked.items() if value is not None]
    return "drawn from the training tunes" + (f" that agree with {' and '.join(given)}" if given else "")


def _draw(weighted: Sequence[tuple[TuneHeader, int]], chooser: random.Random) -> TuneHeader:
    return chooser.choices([header for header, _ in weighted], weights=[count for _, count in weighted])[0]


def _draw_field(headers: Sequence[tuple[TuneHeader, int]], name: str, chooser: random.Random,
                exclude_unknown: bool) -> str:
    totals: Counter[str] = Counter()
    for header, count in headers:
        totals[getattr(header, name)] += count
    if exclude_unknown and len(totals) > 1:
        totals.pop(UNKNOWN_TYPE, None)
    return chooser.choices(list(totals), weights=list(totals.values()))[0]
