"""The parts of composing: key and primer parsing, bar layouts, constrained continuation, titles."""

import pytest
import torch

from seqgan_music.composing.continuation import Constraints, HoldLimit, bar_layout, continue_prefix
from seqgan_music.composing.keys import mode_match, parse_key, shift_between, tune_key
from seqgan_music.composing.meters import meter_shares, meter_warning
from seqgan_music.composing.primer import Primer, parse_primer_notes
from seqgan_music.composing.titles import file_stem, tune_title
from seqgan_music.composing.writing import parse_formats
from seqgan_music.corpora.melody import Key, Melody, Note
from seqgan_music.errors import SeqganError
from seqgan_music.models.generator import Generator


@pytest.mark.parametrize("text, name, fifths", [
    ("D", "D major", 2), ("Em", "E minor", 1), ("F# minor", "F# minor", 3), ("Bb", "Bb major", -2),
    ("A dorian", "A dorian", 1), ("G mix", "G mixolydian", 0), ("c", "C major", 0), ("Ebmaj", "Eb major", -3),
])
def test_keys_are_read_as_musicians_write_them(text, name, fifths):
    key = parse_key(text)
    assert (key.name, key.fifths) == (name, fifths)


@pytest.mark.parametrize("text", ["H", "D flat", "Dm7", "", "#D"])
def test_unreadable_keys_are_refused(text):
    with pytest.raises(SeqganError, match="invalid key"):
        parse_key(text)


def test_a_generated_tune_on_a_plain_signature_is_named_by_its_mode():
    d_dorian = [Note(p, i, i + 1) for i, p in enumerate([62, 65, 69, 72, 71, 69, 67, 65, 64, 62, 62, 62])]
    assert tune_key(Melody(d_dorian, bars=[0.0, 8.0]), plain_signature=True).name == "D dorian"
    # dwelling on E and G, but closing on a long C: C major, not E minor or phrygian
    c_major = [Note(p, i, i + 1) for i, p in enumerate([64, 67, 64, 71, 67, 64, 62, 64])] + [Note(60, 8, 11), Note(67, 11, 12)]
    assert tune_key(Melody(c_major, bars=[0.0, 8.0]), plain_signature=True).name == "C major"
    assert mode_match(Key(0, "dorian"), parse_key("Em")) == 1 and mode_match(Key(0, "major"), parse_key("Em")) == 0
    assert shift_between(0, 7) == -5 and shift_between(9, 2) == 5 and shift_between(4, 4) == 0


def test_primer_notes_have_lengths_and_rests_and_take_the_tunes_meter():
    primer = parse_primer_notes("D4 F#4:4 R:8 Bb3:8. C#5:16 E4:2")
    assert [(n.pitch, n.start, n.end) for n in primer.melody.notes] == [
        (62, 0.0, 0.5), (66, 0.5, 1.5), (58, 2.0, 2.75), (73, 2.75, 3.0), (64, 3.0, 5.0)]
    assert not primer.has_meter and primer.options == ["--primer-notes", "D4 F#4:4 R:8 Bb3:8. C#5:16 E4:2"]
    melody, bars = primer.opening("3/4", 4)
    assert melody.bars == [0.0, 3.0] and melody.meter == "3/4" and bars == 2
    assert primer.opening("2/4", 4)[0].bars == [0.0, 2.0, 4.0]
    for bad in ("D4:3", "X4", "R:4", ""):
        with pytest.raises(SeqganError):
            parse_primer_notes(bad)


def test_a_primer_opening_keeps_its_first_bars_after_a_pickup_and_cuts_the_note_across_the_cut():
    # a pickup of one eighth at the end of a padded first bar, then three bars of 2/4, the last note tied over
    notes = [Note(67, 1.5, 2.0), Note(72, 2.0, 3.0), Note(74, 3.0, 4.0), Note(76, 4.0, 7.0), Note(77, 7.0, 8.0)]
    primer = Primer(Melody(notes, bars=[0.0, 2.0, 4.0, 6.0], meter="2/4"), "file", "/tunes/pickup.mid")
    melody, bars = primer.opening("6/8", 2)  # a file keeps its own meter
    assert bars == 3 and melody.meter == "2/4" and melody.bars == [0.0, 2.0, 4.0]
    assert [(n.pitch, n.start, n.end) for n in melody.notes] == [(67, 1.5, 2.0), (72, 2.0, 3.0), (74, 3.0, 4.0),
                                                                  (76, 4.0, 6.0)]
    assert primer.opening("2/4", 3) == (primer.melody, 3)
    assert primer.description == "file: pickup.mid" and primer.options == ["--primer", "/tunes/pickup.mid"]


def test_bar_layout_forces_a_bar_line_every_bar_and_completes_a_partial_one():
    assert bar_layout([], 4, bars=2, steps=None) == [True, False, False, False, False, True, False, False, False, False]
    # a primer of one bar line and two steps: two more steps finish its bar, then one more bar
    assert bar_layout([True, False, False], 4, bars=2, steps=None) == [False, False, True, False, False, False, False]
    assert bar_layout([], 4, bars=None, steps=6) == [True, False, False, False, False, True, False, False]
    # a primer bar longer than the meter's ends at once
    assert bar_layout([True] + [False] * 6, 4, bars=2, steps=None)[:1] == [True]


def test_continuation_keeps_the_prefix_obeys_the_layout_and_is_seeded():
    torch.manual_seed(0)
    generator = Generator(6, 8, 8).eval()
    layout = [None, 5, None, None, 5, None]
    draw = lambda seed: continue_prefix(generator, [1, 2], Constraints(layout, banned=[0, 5]), rows=32,  # noqa: E731
                                        noise_source=torch.Generator().manual_seed(seed))
    tokens = draw(3)
    assert tokens.shape == (32, 8) and (tokens[:, :2] == torch.tensor([1, 2])).all()
    assert (tokens[:, [3, 6]] == 5).all()
    free = tokens[:, [2, 4, 5, 7]]
    assert not ((free == 0) | (free == 5)).any() and len(free.unique()) > 1
    assert torch.equal(draw(3), tokens) and not torch.equal(draw(4), tokens)


def longest_sounding(row: list[int], hold: int, starts: set[int], timeless: set[int]) -> int:
    """The most steps one pitch sounds in a row in a token row, held or struck again."""
    longest = run = 0
    pitch = None
    for token in row:
        if token in timeless:
            continue
        if token in starts:
            run, pitch = (run + 1 if token == pitch else 1), token
        elif token == hold and pitch is not None:
            run += 1
        else:
            run, pitch = 0, None
        longest = max(longest, run)
    return longest


def test_the_hold_limit_ends_a_pitch_after_its_steps_across_bar_lines_and_the_prefix():
    torch.manual_seed(0)
    generator = Generator(6, 8, 8).eval()  # 0 pad, 1 bar line, 2 hold, 3 rest, 4 and 5 pitches
    with torch.no_grad():
        generator.output.bias[:] = torch.tensor([0.0, 0.0, 4.0, 0.0, 1.0, 1.0])  # mostly holds
    limit = HoldLimit(hold=2, steps=3, starts=torch.tensor([False, False, False, False, True, True]),
                      timeless=torch.arange(6) == 1)
    layout = [None, None, 1, *[None] * 6, 1, *[None] * 6]

    def rows(hold_limit):
        return continue_prefix(generator, [4, 2], Constraints(layout, [0, 1], hold_limit), rows=64,
                               noise_source=torch.Generator().manual_seed(1)).tolist()

    free = [longest_sounding(row, 2, {4, 5}, {1}) for row in rows(None)]
    assert max(free) > 3  # without the limit the notes last longer
    limited = rows(limit)
    assert max(longest_sounding(row, 2, {4, 5}, {1}) for row in limited) == 3
    held_on = [row for row in limited if row[2] == 2]  # the prefix's note (two steps) held a third
    assert held_on and all(row[3] not in (2, 4) for row in held_on)  # then neither held nor struck again
    assert all(row[4] == 1 and row[11] == 1 for row in limited)  # the bar lines still as laid out


def test_meters_the_model_never_saw_are_refused_and_rare_ones_warned_of_by_bar_length():
    meters = {"6/8": 600, "2/2": 390, "3/8": 9, "5/4": 1}
    assert meter_shares(meters) == "6/8 60%, 2/2 39%, 3/8 0.9%, 5/4 0.1%"
    assert meter_warning(meters, "6/8", "--meter 6/8") is None
    assert meter_warning(meters, "3/4", "--meter 3/4") is None  # bars of 12 sixteenths, as 6/8's
    assert meter_warning(meters, "4/4", "--meter 4/4") is None  # as 2/2's
    warning = meter_warning(meters, "5/4", "--meter 5/4")
    assert warning is not None and "--meter 5/4 is rare" in warning and "1 of 1000" in warning and "6/8 60%" in warning
    with pytest.raises(SeqganError, match="never saw bars of 14 sixteenths.*it knows 6/8 60%, 2/2 39%"):
        meter_warning(meters, "7/8", "--meter 7/8")
    assert meter_warning({}, "7/8", "--meter 7/8") is None  # a model that does not say what it saw


def test_titles_and_formats():
    assert tune_title(7) == tune_title(7) and len({tune_title(s) for s in range(50)}) > 40
    assert file_stem(3, 44, "The Windy Harbour") == "03-s44-the-windy-harbour"
    assert parse_formats("MID, abc,xml,mid") == ("mid", "abc", "musicxml")
    with pytest.raises(SeqganError, match="unknown format ogg"):
        parse_formats("ogg")
