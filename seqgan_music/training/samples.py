"""Write generated token windows in the corpus's own form: MIDI (and a token listing) for music,
one line per sequence for text, oracle and grammar corpora."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from seqgan_music.atomic import move_set_into_place, set_staging_folder, write_text_atomic
from seqgan_music.corpora.corpus import Corpus
from seqgan_music.corpora.encodings import MusicEncoding
from seqgan_music.corpora.melody import Melody, Note, bar_lines, meter_length_in_beats
from seqgan_music.corpora.tunes import parse_tune_symbols
from seqgan_music.errors import SeqganError
from seqgan_music.export.midi import write_midi


def write_samples(corpus: Corpus, samples: np.ndarray, prefix: Path, metadata: dict | None = None,
                  tunes: bool = False) -> list[Path]:
    """Write `samples` (N, T) next to `prefix`: `<prefix>.txt` always, `<prefix>-NN.mid` for music.

    Music samples take `metadata` (meter, key, tempo) when given, else the corpus's most common meter.
    With `tunes` (a whole-tune model), each is read as a whole tune (its header's meter, its repeats
    played out); the listing keeps its tune tokens.
    """
    prefix.parent.mkdir(parents=True, exist_ok=True)
    listing = prefix.with_name(prefix.name + ".txt")
    if not corpus.is_music:
        write_text_atomic(listing, "".join(f"{corpus.decode(row)}\n" for row in samples))
        return [listing]
    with set_staging_folder(prefix.parent) as staging:  # the listing and every MIDI file appear as one set
        staged = staging / listing.name
        staged.write_text("".join(" ".join(corpus.symbols(row)) + "\n" for row in samples), encoding="utf-8")
        moves = [(staged, listing)]
        context = metadata or {"meter": common_meter(corpus), "tempo": 120.0}
        assert isinstance(corpus.encoding, MusicEncoding)
        for index, row in enumerate(samples, start=1):
            symbols = corpus.symbols(row)
            melody = (parse_tune_symbols(symbols, context.get("meter", "4/4")).melody(played=True, metadata=context)
                      if tunes else sampled_melody(corpus.encoding, symbols, context))
            name = f"{prefix.name}-{index:02d}.mid"
            moves.append((write_midi(melody, staging / name), prefix.with_name(name)))
        move_set_into_place(staging, moves)
    return [target for _, target in moves]


def sampled_melody(encoding: MusicEncoding, symbols: Sequence[str], metadata: dict | None = None) -> Melody:
    """A freely sampled token sequence as a melody in bars of one meter: metadata's meter, else the
    one its bar tokens imply most often.

    A model sampled without constraints puts its bar tokens where it likes (a 5/8 bar, then a 2/8
    one), which would make bars that do not add up to the meter and MIDI files full of meter changes.
    So the bar lines are laid out by the meter from the start instead (as `compose` forces them),
    and the last note is held to the end of its bar, so that every bar is full.
    """
    melody = encoding.decode(symbols, metadata)
    if not melody.notes:
        return melody
    try:
        bar = meter_length_in_beats(melody.meter)
    except ValueError as error:
        raise SeqganError(str(error)) from None
    last = melody.notes[-1]
    end = math.ceil(last.end / bar - 1e-9) * bar
    return replace(melody, notes=[*melody.notes[:-1], Note(last.pitch, last.start, end)],
                   bars=bar_lines([(0.0, melody.meter)], end))


def common_meter(corpus: Corpus) -> str:
    """The corpus's most common meter (4/4 when it records none): what its samples are laid out in."""
    meters = corpus.manifest.get("counts", {}).get("meters") or {"4/4": 1}
    return max(meters, key=meters.get)
