"""The parts of composing: key and primer parsing, bar layouts, constrained continuation, titles."""

import pytest
import torch

from seqgan_music.composing.continuation import bar_layout, continue_prefix
from seqgan_music.composing.keys import mode_match, parse_key, shift_between, tune_key
from seqgan_music.composing.primer import parse_primer_notes
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


def test_primer_notes_have_lengths_rests_and_bar_lines():
    primer = parse_primer_notes("D4 F#4:4 R:8 Bb3:8. C#5:16 E4:2", "3/4")
    assert [(n.pitch, n.start, n.end) for n in primer.melody.notes] == [
        (62, 0.0, 0.5), (66, 0.5, 1.5), (58, 2.0, 2.75), (73, 2.75, 3.0), (64, 3.0, 5.0)]
    assert primer.melody.bars == [0.0, 3.0] and primer.melody.meter == "3/4"
    for bad in ("D4:3", "X4", "R:4", ""):
        with pytest.raises(SeqganError):
            parse_primer_notes(bad, "4/4")


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
    draw = lambda seed: continue_prefix(generator, [1, 2], layout, banned=[0, 5], rows=32,  # noqa: E731
                                        noise_source=torch.Generator().manual_seed(seed))
    tokens = draw(3)
    assert tokens.shape == (32, 8) and (tokens[:, :2] == torch.tensor([1, 2])).all()
    assert (tokens[:, [3, 6]] == 5).all()
    free = tokens[:, [2, 4, 5, 7]]
    assert not ((free == 0) | (free == 5)).any() and len(free.unique()) > 1
    assert torch.equal(draw(3), tokens) and not torch.equal(draw(4), tokens)


def test_titles_and_formats():
    assert tune_title(7) == tune_title(7) and len({tune_title(s) for s in range(50)}) > 40
    assert file_stem(3, 44, "The Windy Harbour") == "03-s44-the-windy-harbour"
    assert parse_formats("MID, abc,xml,mid") == ("mid", "abc", "musicxml")
    with pytest.raises(SeqganError, match="unknown format ogg"):
        parse_formats("ogg")
