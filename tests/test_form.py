"""Form of a tune (corpora.form) and the form metrics (evaluation.form), on hand-made tunes and on
real Nottingham files."""

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from seqgan_music.corpora.form import (
    FREE,
    bar_contents,
    detect_form,
    first_full_bar,
    folk_key,
    mode_of,
    tune_form,
    tune_type_from_name,
    tune_type_from_rhythm,
)
from seqgan_music.corpora.melody import Key, Melody, Note
from seqgan_music.corpora.midi import read_midi_melody
from seqgan_music.evaluation.form import (
    PER_TUNE_METRICS,
    bar_repeat_rate,
    ends_on_tonic,
    form_stats,
    phrase_repeat_rate,
)

# --- hand-made tunes: a bar id is four quarter notes, the first of pitch 40 + id -------------


def _bar(bar_id: int) -> tuple:
    """The contents of hand-made bar `bar_id`: distinct ids give distinct bars."""
    return ((0, 40 + bar_id), (4, 62), (8, 64), (12, 65))


def _tune(bar_ids: list[int], pickup: bool = False, **fields) -> Melody:
    """A 4/4 tune of hand-made bars, with a one-beat pickup bar (a full bar, as Nottingham writes it)."""
    notes, bars = [], []
    offset = 4.0 if pickup else 0.0
    if pickup:
        notes.append(Note(67, 3.0, 4.0))
        bars.append(0.0)
    for index, bar_id in enumerate(bar_ids):
        start = offset + 4 * index
        bars.append(start)
        notes += [Note(pitch, start + onset / 4, start + onset / 4 + 1) for onset, pitch in _bar(bar_id)]
    return Melody(notes=notes, bars=bars, **fields)


def _strain(first: int) -> list[int]:
    return list(range(first, first + 8))


A, B, C = _strain(0), _strain(10), _strain(20)
A_SECOND = A[:7] + [8]  # the repeat of A with a second-ending bar
B_SECOND = B[:7] + [18]


def test_bar_contents_are_onset_and_pitch_of_the_notes_starting_in_each_bar():
    melody = Melody(notes=[Note(60, 0.0, 1.5), Note(62, 1.5, 2.0), Note(64, 2.0, 5.0), Note(65, 6.5, 7.0)],
                    bars=[0.0, 4.0], meter="4/4")
    assert bar_contents(melody) == [((0, 60), (6, 62), (8, 64)), ((10, 65),)]


def test_bar_contents_without_bar_lines_follow_the_meter_from_beat_zero():
    melody = Melody(notes=[Note(60, 0.0, 1.0), Note(62, 2.5, 3.0), Note(64, 3.0, 4.0), Note(65, 9.0, 10.0)],
                    meter="6/8")
    assert bar_contents(melody) == [((0, 60), (10, 62)), ((0, 64),), (), ((0, 65),)]


def test_a_pickup_reads_the_same_however_the_source_writes_it():
    full_bar = Melody(notes=[Note(67, 3.0, 4.0), Note(60, 4.0, 8.0)], bars=[0.0, 4.0])  # Nottingham's MIDI
    before_first_line = Melody(notes=[Note(67, 0.0, 1.0), Note(60, 1.0, 5.0)], bars=[1.0])  # folk ABC
    short_measure = Melody(notes=[Note(67, 0.0, 1.0), Note(60, 1.0, 5.0)], bars=[0.0, 1.0])
    expected = [((12, 67),), ((0, 60),)]
    for melody in (full_bar, before_first_line, short_measure):
        assert bar_contents(melody) == expected
        assert first_full_bar(bar_contents(melody)) == 1
    assert first_full_bar(bar_contents(Melody(notes=[Note(60, 0.0, 4.0)], bars=[0.0]))) == 0
    assert bar_contents(Melody(notes=[])) == []


def test_aabb_with_first_and_second_endings_is_found_with_8_bar_parts():
    form = tune_form(_tune(A + A_SECOND + B + B_SECOND, pickup=True))
    assert form.form == "AABB" and form.passes == 1 and form.pickup
    assert [(p.label, p.start, p.end, p.repeat_of) for p in form.parts] == [
        ("A", 1, 9, None), ("A", 9, 17, 0), ("B", 17, 25, None), ("B", 25, 33, 2)]
    assert form.part_lengths == {"A": 8, "B": 8}
    assert form.parts[1].differing == (7,) and form.parts[1].second_ending == 1
    # One pass as written: pickup, A with its first ending, A's second ending, B, B's second ending.
    assert form.notated_bars == (0, *range(1, 9), 16, *range(17, 25), 32)


def test_a_repeat_may_differ_in_its_last_two_bars_but_not_in_three_here_and_there():
    two = tune_form(_tune(A + A[:6] + [8, 9] + B + B))
    assert two.form == "AABB" and two.parts[1].second_ending == 2
    three = detect_form([_bar(i) for i in A + [0, 30, 2, 3, 4, 5, 31, 32] + B + B])
    assert three.form != "AABB" and three.parts[1].label != "A"


def test_a_strain_played_again_with_a_4_bar_second_ending_is_still_a_repeat():
    a, b, c = [0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]
    d, e, f = [20, 21, 22, 23], [24, 25, 26, 27], [28, 29, 30, 31]
    form = detect_form([_bar(i) for i in a + b + a + c + d + e + d + f])
    assert form.form == "AABB" and form.part_lengths == {"A": 8, "B": 8}
    assert form.parts[1].second_ending == 4


def test_a_b_strain_that_opens_like_a_stays_b():
    b_opening_like_a = A[:4] + [30, 31, 32, 33]
    form = detect_form([_bar(i) for i in A + A + b_opening_like_a + b_opening_like_a])
    assert form.form == "AABB"


def test_a_through_composed_tune_is_free():
    form = tune_form(_tune(list(range(32)), pickup=True))
    assert form.form == FREE and form.passes == 1 and form.part_lengths == {}
    assert [(p.start, p.end) for p in form.parts] == [(1, 33)]
    assert form.notated_bars == tuple(range(33))


def test_silence_is_not_a_repeat():
    held = Melody(notes=[Note(60, 0.0, 4.0 * 32)], bars=[4.0 * i for i in range(32)])
    assert tune_form(held).form == FREE


def test_a_tune_played_twice_through_is_one_pass_of_its_form():
    form = tune_form(_tune(A + A_SECOND + B + B_SECOND + A + A_SECOND + B + B_SECOND))
    assert form.form == "AABB" and form.passes == 2 and len(form.parts) == 8
    assert form.notated_bars == (*range(0, 8), 15, *range(16, 24), 31)


def test_parts_of_8_and_16_bars_read_aabb():
    long_b = list(range(30, 46))
    form = tune_form(_tune(A + A + long_b + long_b))
    assert form.form == "AABB" and form.part_lengths == {"A": 8, "B": 16}


def test_aaba_writes_the_returning_part_out_in_the_notated_pass():
    form = tune_form(_tune(A + A_SECOND + B + A))
    assert form.form == "AABA" and form.part_lengths == {"A": 8, "B": 8}
    assert form.parts[3].repeat_of == 0
    assert form.notated_bars == (*range(0, 8), 15, *range(16, 24), *range(24, 32))


def test_to_dict_is_json_ready():
    data = json.loads(json.dumps(tune_form(_tune(A + A + B + B)).to_dict()))
    assert data["form"] == "AABB" and data["parts"][1]["repeat_of"] == 0


# --- tune type and mode ----------------------------------------------------------------------


@pytest.mark.parametrize("name, kind", [
    ("jigs12.mid", "jig"), ("/data/nottingham/MIDI/reelsa-c7.mid", "reel"), ("reelsu-z30.mid", "reel"),
    ("hpps3.mid", "hornpipe"), ("slip4.mid", "slip-jig"), ("waltzes20.mid", "waltz"), ("morris9.mid", "morris"),
    ("xmas2.mid", "carol"), ("playford5.mid", "country-dance"), ("ashover3.mid", "unknown"),
    ("The Kesh Jig", "jig"), ("St. Anne's Reel", "reel"), ("The Butterfly (slip jig)", "slip-jig"),
    ("Harvest Home Hornpipe", "hornpipe"), ("Marching Through Georgia", "unknown"),
    ("The Fairy Dance", "unknown"), ("reels/silver-spear.abc", "reel"), ("Atholl Highlanders, march", "march"),
    ("01-s1-the-merry-harvest.mid", "unknown"),
])
def test_tune_type_from_name(name, kind):
    assert tune_type_from_name(name) == kind


@pytest.mark.parametrize("rhythm, kind", [
    ("reel", "reel"), ("Reel", "reel"), (" REEL", "reel"), ("double jig", "jig"), ("Jig", "jig"),
    ("slipjig", "slip-jig"), ("slip jig", "slip-jig"), ("Hornpipe", "hornpipe"), ("clog", "hornpipe"),
    ("highland fling", "strathspey"), ("strathspey", "strathspey"), ("polka", "polka"), ("waltz", "waltz"),
    ("air", "air"), ("slide", "slide"), ("march", "march"), ("walkaround", "unknown"), ("", "unknown"),
])
def test_tune_type_from_rhythm_field(rhythm, kind):
    assert tune_type_from_rhythm(rhythm) == kind


def _scale_tune(pitches: list[int], key: Key | None) -> Melody:
    """One note per beat, each pitch held 1 beat, the last one 4 beats (a final)."""
    notes = [Note(p, float(i), float(i + 1)) for i, p in enumerate(pitches[:-1])]
    notes.append(Note(pitches[-1], float(len(pitches) - 1), float(len(pitches) + 3)))
    return Melody(notes=notes, key=key)


D_MIXOLYDIAN = [62, 66, 69, 72, 74, 72, 69, 67, 66, 64, 62, 69, 66, 62]  # C natural, ends on D
A_DORIAN = [69, 72, 76, 74, 72, 71, 69, 67, 66, 69, 72, 71, 67, 69]  # F sharp, C natural, ends on A
C_MAJOR = [60, 64, 67, 72, 71, 69, 67, 65, 64, 62, 67, 65, 64, 62, 60]
A_MINOR = [69, 72, 76, 74, 72, 71, 69, 67, 65, 64, 72, 71, 68, 69]


def test_mode_keeps_a_stored_folk_mode_and_a_major_key_the_tune_ends_in():
    assert mode_of(_scale_tune(C_MAJOR, Key(-2, "dorian"))) == "dorian"  # stored on purpose: kept
    assert mode_of(_scale_tune(C_MAJOR, Key(0, "major"))) == "major"
    assert folk_key(_scale_tune(C_MAJOR, Key(0, "major"))).source == "stored"


def test_mode_of_a_major_signature_that_the_tune_does_not_end_on_is_estimated():
    # A MIDI key signature can only say major: D mixolydian is stored as G major, A dorian too.
    mixolydian = folk_key(_scale_tune(D_MIXOLYDIAN, Key(1, "major")))
    assert (mixolydian.name, mixolydian.source) == ("D mixolydian", "estimated")
    assert folk_key(_scale_tune(A_DORIAN, Key(1, "major"))).name == "A dorian"


def test_mode_without_a_stored_key_comes_from_the_notes():
    assert folk_key(_scale_tune(C_MAJOR, None)).name == "C major"
    assert folk_key(_scale_tune(A_MINOR, None)).name == "A minor"
    assert mode_of(Melody(notes=[])) == "major"


# --- metrics ---------------------------------------------------------------------------------


def test_bar_repeat_rate_counts_non_empty_bars_after_the_first():
    x, y, z = _bar(1), _bar(2), _bar(3)
    assert bar_repeat_rate([x, y, x, (), y, z]) == pytest.approx(2 / 4)
    assert bar_repeat_rate([(), x, x]) == pytest.approx(1 / 2)
    assert math.isnan(bar_repeat_rate([x, (), ()]))


def test_phrase_repeat_rate_needs_3_of_4_bars_equal():
    bars = [_bar(i) for i in [1, 2, 3, 4, 1, 2, 3, 9, 1, 2, 8, 10, 5, 6, 7, 8, 1]]  # last phrase incomplete
    # Phrase 2 repeats phrase 1 (3 of 4 bars equal); phrase 3 shares only 2 bars; phrase 4 none.
    assert phrase_repeat_rate(bars) == pytest.approx(1 / 3)
    assert phrase_repeat_rate([(), *bars[:8]], start=1) == pytest.approx(1.0)
    empty = [(), (), (), ()]
    assert phrase_repeat_rate(empty + empty) == 0.0
    assert math.isnan(phrase_repeat_rate(bars[:7]))


def test_ends_on_tonic_ignores_the_stored_key():
    assert ends_on_tonic(_scale_tune(C_MAJOR, Key(2, "major"))) == 1.0
    assert ends_on_tonic(_scale_tune(C_MAJOR[:-1], Key(0, "major"))) == 0.0
    assert math.isnan(ends_on_tonic(Melody(notes=[])))


def test_form_stats_on_a_set_with_known_answers():
    aabb = _tune(A + A_SECOND + B + B_SECOND, pickup=True)
    free = _tune(list(range(16)))
    stats = form_stats([aabb, free])
    # AABB: 32 bars after the pickup, 14 repeat (7 in each repeat); phrases 1..8: 2, 4, 6, 8 repeat
    # (3 of 4 bars of the phrase 4 bars earlier). Free: nothing repeats.
    assert stats.tune_values("bar_repeat") == pytest.approx([14 / 32, 0.0])
    assert stats.tune_values("phrase_repeat") == pytest.approx([4 / 7, 0.0])
    assert stats.bar_repeat == pytest.approx((14 / 32) / 2)
    # Notated AABB: pickup, A, the second ending bar, B, its second ending: all bars different.
    assert stats.tune_values("notated_bar_repeat") == pytest.approx([0.0, 0.0])
    assert stats.tune_values("notated_bars") == pytest.approx([19, 16])
    assert stats.tune_values("tune_bars") == pytest.approx([32, 16])
    assert stats.form_counts == {"AABB": 1, FREE: 1}
    assert stats.part_length_counts == {8: 2} and stats.part_bars == 8.0
    assert stats.tune_length_counts == {32: 1, 16: 1}
    assert set(stats.per_tune) == set(PER_TUNE_METRICS)
    with pytest.raises(KeyError, match="unknown form metric"):
        stats.tune_values("bleu")


def test_the_notated_figures_read_the_tune_as_written_where_it_is_given():
    """Played twice with three bars changed here and there, a strain is no repeat to detection, so its
    notated pass keeps both (5 of the 15 later bars repeat an earlier one); given as written once (as
    a source with repeat signs and variations between them would be read), its 7 later bars are new.
    The played figures do not change."""
    varied = A[:1] + [97] + A[2:3] + [98] + A[4:5] + [99] + A[6:]
    played = _tune(A + varied)
    written = _tune(A)
    detected, as_written = form_stats([played]), form_stats([played], [written])
    assert detected.tune_values("notated_bar_repeat") == pytest.approx([5 / 15])
    assert as_written.tune_values("notated_bar_repeat") == pytest.approx([0.0])
    assert as_written.tune_values("notated_bars") == pytest.approx([8])
    assert as_written.bar_repeat == detected.bar_repeat and as_written.form_counts == detected.form_counts
    with pytest.raises(ValueError, match="1 melodies but 2 written"):
        form_stats([played], [written, written])


def test_form_stats_of_nothing_are_nan_and_json_ready():
    stats = form_stats([Melody(notes=[])])
    assert math.isnan(stats.bar_repeat) and math.isnan(stats.ends_on_tonic)
    data = json.loads(json.dumps(stats.to_dict(), allow_nan=False))
    assert data["bar_repeat"] is None and data["tunes"] == 1 and data["form_counts"] == {FREE: 1}


# --- real data -------------------------------------------------------------------------------

JIGS_AND_REELS = ("jigs1.mid", "jigs10.mid", "jigs100.mid", "jigs12.mid", "jigs13.mid", "reelsa-c10.mid",
                  "reelsd-g1.mid", "reelsh-l1.mid", "reelsm-q1.mid", "reelsr-t1.mid")


@pytest.fixture(scope="module")
def nottingham_sample(shared_data):
    folder = shared_data / "nottingham" / "MIDI"
    return [read_midi_melody(folder / name, name) for name in JIGS_AND_REELS]


def test_nottingham_jigs_and_reels_have_repeated_8_bar_strains(nottingham_sample):
    forms = [tune_form(melody) for melody in nottingham_sample]
    with_strains = [form for form in forms if form.form != FREE and 8 in form.part_lengths.values()]
    assert len(with_strains) >= 8, [form.form for form in forms]
    assert tune_form(nottingham_sample[0]).form == "AABB"  # jigs1
    assert {tune_type_from_name(melody.source) for melody in nottingham_sample} == {"jig", "reel"}


def test_nottingham_sample_repeats_and_ends_like_folk_tunes(nottingham_sample):
    stats = form_stats(nottingham_sample)
    assert stats.bar_repeat > 0.4 and stats.phrase_repeat > 0.4
    assert stats.tune_values("ends_on_tonic")[:2].tolist() == [0.0, 1.0]  # jigs1 ends on D in A major; jigs10 on E
    assert stats.notated_bar_repeat < stats.bar_repeat
    assert all(mode_of(melody) in ("major", "minor", "dorian", "mixolydian") for melody in nottingham_sample)


def test_form_baseline_script_prints_and_writes_the_metrics(shared_data, tmp_path):
    folder = tmp_path / "tunes"
    folder.mkdir()
    for name in JIGS_AND_REELS[:3]:
        shutil.copy(shared_data / "nottingham" / "MIDI" / name, folder / name)
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "form_baseline.py"
    result = subprocess.run([sys.executable, str(script), str(folder), "--json", str(tmp_path / "form.json")],
                            capture_output=True, text=True, check=True)
    assert "bar-repeat rate (as played)" in result.stdout and "forms: AABB" in result.stdout
    written = json.loads((tmp_path / "form.json").read_text())
    assert written["tunes"]["tunes"] == 3 and len(written["tunes"]["per_tune"]["bar_repeat"]) == 3
