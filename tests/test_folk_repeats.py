"""Written repeats of the folk collections: repeat signs and endings read from music21's measures
into `Melody.repeat_marks`, the `R:` field into `Melody.rhythm`, and the whole tune built from them;
checked on small ABC tunes written here and, played out, against music21's own `expandRepeats` on
real tunes of the collections."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqgan_music.corpora import folk
from seqgan_music.corpora.encodings import BAR, Grid16
from seqgan_music.corpora.folk import folk_files, read_folk_files
from seqgan_music.corpora.melody import Melody, monophonic
from seqgan_music.corpora.tunes import Tune, whole_tune

HEADER = "X:1\nT:Test\n{fields}M:{meter}\nL:1/8\nK:G\n"
NONE, START, END = (False, False, 0), (True, False, 0), (False, True, 0)
FIRST, FIRST_END, SECOND = (False, False, 1), (False, True, 1), (False, False, 2)


def parse(body: str, meter: str = "2/4", fields: str = "") -> Melody:
    return folk._parse_tune(HEADER.format(fields=fields, meter=meter) + body, "test.abc#1")


def tune_of(melody: Melody) -> Tune:
    tune, cut = whole_tune(melody, Grid16(transpose=False).encode(melody).symbols)
    assert cut == 0
    return tune


def pitches(bars: list[list[str]]) -> list[list[str]]:
    return [[step for step in bar if step not in ("HOLD", "REST")] for bar in bars]


def test_endings_of_two_bars_a_pickup_and_the_rhythm_field() -> None:
    """`|1 ... :|2 ...` and `[1 ... :|[2 ...`, each ending two bars long, after a one-note pickup;
    music21 brackets a first ending by its first and last bar and an open second ending by its
    first bar only: both cover their two bars here."""
    melody = parse("B|:GABc|dBGB|1 cAFA|GABc:|2 cAFA|G4||\n|:dBGB|cAFA|[1 GABc|dBGB:|[2 GABc|G4|]\n",
                   fields="R:Reel\n")
    assert melody.rhythm == "Reel"
    assert melody.bars[0] == 0.5  # the pickup comes before the first bar line, which has the first mark
    assert melody.repeat_marks == [START, NONE, FIRST, FIRST_END, SECOND, SECOND,
                                   START, NONE, FIRST, FIRST_END, SECOND, SECOND]
    tune = tune_of(melody)
    assert (tune.header.type, tune.form_letters()) == ("reel", "AABB")
    assert tune.pickup[0] == "B4"
    first, second = tune.parts
    assert pitches(first.bars) == [["G4", "A4", "B4", "C5"], ["D5", "B4", "G4", "B4"]]
    assert pitches(first.first_ending) == [["C5", "A4", "F#4", "A4"], ["G4", "A4", "B4", "C5"]]
    assert pitches(first.second_ending) == [["C5", "A4", "F#4", "A4"], ["G4"]]
    assert pitches(second.first_ending) == [["G4", "A4", "B4", "C5"], ["D5", "B4", "G4", "B4"]]
    assert pitches(second.second_ending) == [["G4", "A4", "B4", "C5"], ["G4"]]
    assert len(tune.played_bars()) == 2 * (2 + 2 + 2 + 2) and len(tune.notated_bars()) == 12


def test_a_double_repeat_written_against_the_notes_keeps_the_whole_tune() -> None:
    """`D2D::f`: music21 drops the note before such a `::` and both repeats (in a tune this short,
    everything after them too)."""
    melody = parse("|:DFA dAF|GBd gdB|AFD EFG|FDD D2D::fed cBA|gfe dcB|AFD EFG|FDD D3:|\n", meter="6/8")
    assert len(melody.bars) == 8 and melody.notes[-1].start == 22.5
    assert melody.repeat_marks == [START, NONE, NONE, END, START, NONE, NONE, END]
    tune = tune_of(melody)
    assert tune.form_letters() == "AABB" and [len(part.bars) for part in tune.parts] == [4, 4]


def test_an_ending_of_three_bars_covers_its_middle_bar() -> None:
    melody = parse("|:GABc|dBGB|1 cAFA|GABc|dBGB:|2 cAFA|GABc|G4|]\n")
    assert melody.repeat_marks == [START, NONE, FIRST, FIRST, FIRST_END, SECOND, SECOND, SECOND]
    [part] = tune_of(melody).parts
    assert (len(part.bars), len(part.first_ending), len(part.second_ending)) == (2, 3, 3)


def test_an_unclosed_second_ending_stops_at_the_first_endings_length() -> None:
    """A one-bar second ending with no double bar after it: the strain that follows stays a strain."""
    melody = parse("|:GABc|dBGB|1 cAFA:|2 G4|dBGB|cAFA|GABc|dBGB|]\n")
    assert melody.repeat_marks == [START, NONE, FIRST_END, SECOND, NONE, NONE, NONE, NONE]
    tune = tune_of(melody)
    assert tune.form_letters() == "AAB" and [len(part.bars) for part in tune.parts] == [2, 4]


def test_an_end_repeat_on_a_closing_bar_of_rests_closes_the_last_bar_with_notes() -> None:
    melody = parse("|:GABc|dBGB|cAFA|G4|z4:|\n")
    assert len(melody.bars) == 4 and melody.repeat_marks == [START, NONE, NONE, END]
    assert tune_of(melody).form_letters() == "AA"


def test_a_tune_without_repeat_signs_has_its_parts_found_as_played() -> None:
    """Written out in full (AABB of four bars, no signs): no marks, and the repeats are found."""
    a = "GABc|dBGB|cAFA|G4|"
    b = "dfed|cedc|BdcB|A4|"
    melody = parse(a + a + b + b + "]\n")
    assert melody.repeat_marks is None and melody.rhythm == ""
    tune = tune_of(melody)
    assert tune.form_letters() == "AABB" and len(tune.notated_bars()) == 8


def test_marks_and_rhythm_survive_the_cache(tmp_path: Path) -> None:
    path = tmp_path / "mine" / "tune.abc"
    path.parent.mkdir()
    path.write_text(HEADER.format(fields="R:jig\n", meter="6/8") + "|:DFA dAF|GBd gdB|AFD EFG|FDD D3:|\n")
    parsed = list(read_folk_files([path], cache_dir=tmp_path / "cache"))
    cached = list(read_folk_files([path], cache_dir=tmp_path / "cache"))
    assert cached == parsed
    assert (cached[0].rhythm, cached[0].repeat_marks) == ("jig", [START, NONE, NONE, END])


def test_an_ending_number_on_the_next_line_is_still_an_ending() -> None:
    """`:|` at the end of a line and `2` opening the next (Ryan's "Eviction"), and `|` then `\\`
    with `1` on the next line (Ryan's "Brookside Hornpipe")."""
    melody = parse("|:GABc|dBGB|\\\n1 cAFA|GABc:|\n2cAFA|G4||\n|:dBGB|cAFA|GABc|dBGB:|\n")
    assert melody.repeat_marks == [START, NONE, FIRST, FIRST_END, SECOND, SECOND, START, NONE, NONE, END]
    assert tune_of(melody).form_letters() == "AABB"


def test_an_end_repeat_after_an_overfull_bar_closes_the_strain() -> None:
    """music21 splits the overfull bar `GABc dBGB:|` in two and puts the end repeat on the left of
    the second half, the bar that closes the strain."""
    melody = parse("|:GABc|dBGB|cAFA|GABc dBGB:|\n|:dBGB|cAFA|GABc|G4:|\n")
    assert melody.repeat_marks == [START, NONE, NONE, NONE, END, START, NONE, NONE, END]
    tune = tune_of(melody)
    assert tune.form_letters() == "AABB" and [len(part.bars) for part in tune.parts] == [5, 4]


# Real tunes whose repeats music21's `expandRepeats` plays as the folk reading does (see
# `expanded_as_written`): the first of them in collection order, O'Neill's among the tunes with
# first and second endings (one of each tune transcribed twice), Ryan's among all.
ONEILLS_WITH_ENDINGS = {"0732-0758_bs.abc": (736, 745, 755), "1116-1135_mh.abc": (1126, 1133),
                        "1176-1275.abc": (1224, 1231), "1276-1375.abc": (1317, 1345, 1365, 1370),
                        "1376-1475.abc": (1385, 1407), "1476-1555.abc": (1523,)}
RYANS = ("AfterTheHareReel", "AllyCroakersFavoriteReel", "AmericanRifleTeamHornpipe", "AndrewCareysSlipjig",
         "AroundTheWorldReel", "BallAndPinHornpipe", "BanksOfEnvernessReel", "BarneyBrallagansJig",
         "BellesOfTipperaryReel", "BlackberryBlossomReel", "BlackwaterReel", "BlindNorrysReel")


def real_tunes() -> list[tuple[str, str]]:
    """(source, ABC text) of the tunes above, read from music21's corpus folder."""
    oneills, ryans = folk_files(["oneills1850"]), folk_files(["ryansMammoth"])
    if not oneills or not ryans:
        pytest.skip("music21's corpus folder is absent")
    found = []
    for path in oneills:
        header, *tunes = folk._TUNE_START.split(folk._decode(path.read_bytes()))
        for text in tunes:
            number = int(text.splitlines()[0][2:].strip())
            if number in ONEILLS_WITH_ENDINGS.get(path.name, ()):
                found.append((f"{path.name}#{number}", header + text))
    by_name = {path.stem: path for path in ryans}
    found += [(name, folk._decode(by_name[name].read_bytes())) for name in RYANS]
    return found


def expanded_as_written(melody: Melody, last_is_rest: bool) -> bool:
    """Whether music21's `expandRepeats` and the folk reading of the signs play the tune alike:
    - every repeated strain opens with a start repeat, or is the first one with no pickup before
      it (without `|:`, music21 goes back to the start of the tune, replaying the pickup, where
      the folk reading goes back to the end of the strain before);
    - every note on the sixteenth grid (grid16 rounds an off-grid note by where it falls, which
      differs between the played-out and the notated tune);
    - the tune does not end on a rest (the encoding ends a tune at its last note)."""
    opened = melody.notes[0].start >= melody.bars[0]
    previous = 0
    for starts, ends, ending in melody.repeat_marks or []:
        opened = (opened and not (ending == 0 and previous == 2)) or starts
        if ends and not opened:
            return False
        opened = opened and not (ends and ending == 0)
        previous = ending
    return bool(melody.repeat_marks) and not Grid16().encode(melody).off_grid_notes and not last_is_rest


def test_played_out_real_tunes_are_music21s_expansion_of_their_repeats_note_for_note() -> None:
    from music21 import converter

    grid = Grid16(transpose=False)
    tunes = real_tunes()
    assert len(tunes) == 26
    differing = []
    for source, abc in tunes:
        score = converter.parseData(folk._readable(abc), format="abc")
        melody = folk._melody_of_score(score, abc, source)
        part = score.parts[0]
        assert expanded_as_written(melody, part.flatten().notesAndRests[-1].isRest), source
        symbols = grid.encode(melody).symbols
        assert symbols.count(BAR) == len(melody.repeat_marks), source  # one mark per bar line
        tune, cut = whole_tune(melody, symbols)
        expanded = monophonic(folk._notes(part.expandRepeats()))
        reference = grid.decode(grid.encode(Melody(expanded)).symbols).notes  # on the grid, as the tune
        if cut or tune.melody(played=True).notes != reference:
            differing.append(source)
    assert differing == []
