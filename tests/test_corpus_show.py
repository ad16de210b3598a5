"""`corpus show` on whole tunes: counts, lengths, types, modes, forms and tunes drawn part by part."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seqgan_music.cli import app
from seqgan_music.cli.render import compact_steps
from seqgan_music.corpora.encodings import Grid16, PaperEncoding
from seqgan_music.corpora.melody import Key, Melody, Note
from seqgan_music.corpora.music import build_music_corpus
from seqgan_music.corpora.split import SplitPlan

runner = CliRunner()
START, END, NONE = (True, False, 0), (False, True, 0), (False, False, 0)
FIRST_END, SECOND = (False, True, 1), (False, False, 2)


def written(name: str, bars: list[list[int]], marks: list[tuple[bool, bool, int]] | None, rhythm: str = "") -> Melody:
    """A 4/4 tune of quarter notes, one list of four pitches per bar, with its written repeat marks."""
    notes = [Note(pitch, 4.0 * index + beat, 4.0 * index + beat + 1)
             for index, bar in enumerate(bars) for beat, pitch in enumerate(bar)]
    return Melody(notes, [4.0 * index for index in range(len(bars))], "4/4", Key(0), title=name,
                  source=f"set/{name}.abc#1", rhythm=rhythm, repeat_marks=marks)


A, B, C, D = [60, 62, 64, 65], [67, 65, 64, 62], [60, 64, 67, 72], [72, 71, 72, 60]
TUNES = [
    written("endings", [A, B, C, [60, 60, 60, 60], C, B, A, D], [START, NONE, FIRST_END, SECOND, START, NONE, NONE, END],
            rhythm="reel"),
    # no marks: AABB played out, strains of four bars, found as in a MIDI file
    written("plain", [A, B, C, D] * 2 + [B, A, D, C] * 2, None, rhythm="hornpipe"),
    written("long", [A, B] * 35 + [A, D], [START] + [NONE] * 70 + [END]),
]


@pytest.fixture
def home(tmp_path: Path) -> str:
    plan = SplitPlan(assigned={"set/endings.abc": "train", "set/plain.abc": "train", "set/long.abc": "valid"})
    build_music_corpus("tiny", TUNES, Grid16(length=34, stride=34), plan, {"kind": "test"}).save(tmp_path)
    build_music_corpus("sampled", TUNES, PaperEncoding(length=8, stride=8), plan, {"kind": "test"}).save(tmp_path)
    return str(tmp_path)


def show(*args: str) -> str:
    result = runner.invoke(app, ["corpus", "show", *args], catch_exceptions=False, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_show_reports_the_whole_tunes(home: str) -> None:
    output = show("tiny", "--home", home, "--tunes", "0")
    assert re.search(r"tunes +3 \(train/valid/test 2 / 1 / 0\)", output)
    # endings: 8 bars; plain, found as played: 8; long: 72 bars in one strain, cut to 64
    assert "min 8, median 8, max 64; 1 cut at 64 bars" in output
    histogram = dict(re.findall(r"(\d+-\d+) +█* *(\d+)", output))
    assert histogram == {"1-8": "2", "9-16": "0", "17-24": "0", "25-32": "0", "33-40": "0", "41-48": "0",
                         "49-56": "0", "57-64": "1"}
    assert "reel 1, hornpipe 1, unknown 1" in output
    assert "modes" in output and "major 3" in output
    assert re.search(r"forms +AABB 2, A 1 +│", output)
    assert "whole_tunes" not in output and "whole tunes (first" not in output


def test_show_draws_the_first_tunes_part_by_part_with_their_repeat_signs(home: str) -> None:
    output = show("tiny", "--home", home, "--tunes", "2", "--examples", "0")
    assert "whole tunes (first 2)" in output
    assert "endings  [4/4, C major, reel, AABB, 8 bars]" in output
    assert "meter=4/4 mode=major type=reel" in output
    assert "|: C4--- D4--- E4--- F4--- | G4--- F4--- E4--- D4--- |1 C4--- E4--- G4--- C5--- :|2 C4--- C4--- C4--- C4--- |" in output
    assert "|: C4--- E4--- G4--- C5--- | G4--- F4--- E4--- D4--- | C4--- D4--- E4--- F4--- | C5--- B4--- C5--- C4--- :|" in output
    assert "plain  [4/4, C major, hornpipe" in output and "long" not in output


def test_show_says_why_a_corpus_has_no_whole_tunes(home: str) -> None:
    output = show("sampled", "--home", home, "--tunes", "3")
    assert "none: only grid16 corpora keep whole tunes, this one is paper" in output
    assert "whole tunes (first" not in output


@pytest.mark.parametrize(("steps", "shown"), [
    (["D5", "HOLD", "E5", "HOLD", "F#5", "HOLD", "HOLD", "HOLD"], "D5- E5- F#5---"),
    (["HOLD", "HOLD", "REST", "REST", "A4", "REST"], "-- .. A4 ."),
])
def test_steps_are_drawn_short(steps: list[str], shown: str) -> None:
    assert compact_steps(steps) == shown
