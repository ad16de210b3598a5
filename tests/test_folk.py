"""The folk reader on a few real files of music21's corpus and on tiny ABC files written here."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from seqgan_music.corpora import folk
from seqgan_music.corpora.corpus import Skipped
from seqgan_music.corpora.encodings import Grid16
from seqgan_music.corpora.folk import DEFAULT_COLLECTIONS, FOLK_COLLECTIONS, folk_files, read_folk_files
from seqgan_music.corpora.melody import Key, Melody, Note
from seqgan_music.errors import SeqganError

# Small single-tune files: a reel with a pickup, a dorian jig without one, a jig with a `Q:` field.
RYANS = ("PaddyMilesFricasseeReel.abc", "RockyRoadToDublinJig.abc", "WinnicksFavoriteJig.abc")
ONEILLS = "0001-0050.abc"  # 50 tunes


def _collection_file(collection: str, name: str) -> Path:
    return next(path for path in folk_files([collection]) if path.name == name)


@pytest.fixture(scope="module")
def ryans_files() -> list[Path]:
    return [_collection_file("ryansMammoth", name) for name in RYANS]


@pytest.fixture(scope="module")
def ryans(ryans_files: list[Path]) -> list[Melody | Skipped]:
    return list(read_folk_files(ryans_files, workers=1))


@pytest.fixture(scope="module")
def oneills() -> dict[str, Melody]:
    tunes = list(read_folk_files([_collection_file("oneills1850", ONEILLS)]))
    assert all(isinstance(t, Melody) for t in tunes)
    return {t.source: t for t in tunes}  # type: ignore[union-attr]


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / "mine" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_collections_are_found_sorted_and_unknown_names_are_refused() -> None:
    assert set(DEFAULT_COLLECTIONS) <= set(FOLK_COLLECTIONS)
    oneills = folk_files(["oneills1850"])
    assert len(oneills) == 39 and oneills == sorted(oneills)
    assert all(p.suffix == ".abc" and p.parent.name == "oneills1850" for p in oneills)
    assert len(folk_files(DEFAULT_COLLECTIONS)) == 39 + 1059
    with pytest.raises(SeqganError, match="oneills1850, ryansMammoth, essenFolksong"):
        folk_files(["oneills1850", "nottingham"])


def test_sources_and_titles_name_each_tune(ryans: list[Melody | Skipped], oneills: dict[str, Melody]) -> None:
    assert [(t.source, t.title) for t in ryans] == [  # type: ignore[union-attr]
        ("ryansMammoth/PaddyMilesFricasseeReel.abc#7", "PADDY MILES' FRICASSEE -- REEL."),
        ("ryansMammoth/RockyRoadToDublinJig.abc#28", "ROCKY ROAD TO DUBLIN -- JIG."),
        ("ryansMammoth/WinnicksFavoriteJig.abc#1", "WINNICK'S FAVORITE -- JIG."),
    ]
    assert list(oneills)[:2] == ["oneills1850/0001-0050.abc#1", "oneills1850/0001-0050.abc#2"]
    assert len(oneills) == 50
    assert oneills["oneills1850/0001-0050.abc#2"].title == "Fare You Well"


def test_meter_key_and_tempo_come_from_the_stored_fields(ryans: list[Melody], oneills: dict[str, Melody]) -> None:
    first = oneills["oneills1850/0001-0050.abc#1"]
    assert (first.meter, first.key, first.tempo) == ("2/4", Key(-2, "minor", "stored"), 120.0)
    assert first.key.name == "G minor"
    assert oneills["oneills1850/0001-0050.abc#3"].meter == "4/4"  # written M:C
    assert ryans[0].meter == "2/2"  # written M:C|
    assert (ryans[1].meter, ryans[1].key) == ("9/8", Key(2, "dorian", "stored"))  # K:EDor
    assert ryans[2].tempo == 50.0  # Q:1/4 =50


def test_bar_lines_follow_the_measures_and_a_pickup_comes_before_the_first(
        ryans: list[Melody], oneills: dict[str, Melody]) -> None:
    assert oneills["oneills1850/0001-0050.abc#1"].bars[:3] == [0.0, 2.0, 4.0]  # no pickup
    pickup = oneills["oneills1850/0001-0050.abc#2"]  # starts `f-g |`: two sixteenths
    assert pickup.notes[0].start == 0.0 and pickup.bars[:3] == [0.5, 2.5, 4.5]
    assert ryans[0].bars[:2] == [1.0, 5.0]  # a reel in 2/2 with a quarter-note pickup
    for tune in [*ryans, *oneills.values()]:
        assert tune.bars == sorted(set(tune.bars)) and tune.bars[-1] < tune.end


def test_slurs_between_pitches_stay_separate_and_ties_of_one_pitch_merge(oneills: dict[str, Melody]) -> None:
    # #1 opens `G3-A`: O'Neill's slur, which music21 marks as a tie; G and A stay two notes.
    assert oneills["oneills1850/0001-0050.abc#1"].notes[:2] == [Note(67, 0.0, 0.75), Note(69, 0.75, 1.0)]
    # #2 has the bar `g4 g3-g`: the tied g3-g is one quarter note.
    bar = [n for n in oneills["oneills1850/0001-0050.abc#2"].notes if 22.5 <= n.start < 24.5]
    assert bar == [Note(79, 22.5, 23.5), Note(79, 23.5, 24.5)]


def test_chords_grace_notes_ties_and_rests_on_a_tiny_file(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    path = _write(tmp_path, "tiny.abc", "X:7\nT:Tiny\nM:2/4\nL:1/8\nK:C\nC2-D2 | E2-E2 | {g}[CEG]2 z2 | c4 |]\n")
    [tune] = read_folk_files([path])
    assert isinstance(tune, Melody)
    assert (tune.source, tune.title, tune.bars) == ("mine/tiny.abc#7", "Tiny", [0.0, 2.0, 4.0, 6.0])
    assert tune.notes == [Note(60, 0, 1), Note(62, 1, 2), Note(64, 2, 4), Note(67, 4, 5), Note(72, 6, 8)]
    assert capfd.readouterr() == ("", "")


def test_broken_files_and_tunes_are_skipped_with_a_reason(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    no_tunes = _write(tmp_path, "prose.abc", "This is not ABC at all.\n")
    mixed = _write(tmp_path, "mixed.abc", "X:1\nT:Good\nM:4/4\nL:1/8\nK:G\nGABc d4|GABc d4|g8|]\n\n"
                   "X:2\nT:Zero length\nM:4/4\nL:1/0\nK:G\nGABc|GABc|]\n\n"
                   "X:3\nT:Empty\nM:4/4\nK:G\n\n"
                   "X:4\nT:One bar\nM:4/4\nL:1/8\nK:G\nGABc d4|]\n")
    tunes = list(read_folk_files([no_tunes, tmp_path / "mine" / "gone.abc", mixed]))
    assert [t.path if isinstance(t, Skipped) else t.source for t in tunes] == [
        "mine/prose.abc", "mine/gone.abc", "mine/mixed.abc#1", "mine/mixed.abc#2", "mine/mixed.abc#3",
        "mine/mixed.abc#4"]
    assert tunes[0].reason == "no tunes (no X: field)"
    assert tunes[1].reason.startswith("cannot read the file")
    assert isinstance(tunes[2], Melody)
    assert tunes[3].reason.startswith("music21 cannot parse it")
    assert tunes[4].reason == "no notes"
    assert tunes[5].reason.startswith("no measures")
    assert capfd.readouterr() == ("", "")  # music21 prints nothing, even on broken tunes


def test_parallel_parsing_keeps_file_order_and_reports_progress(
        ryans_files: list[Path], ryans: list[Melody], recorder) -> None:
    assert list(read_folk_files(ryans_files, recorder, workers=2)) == ryans
    assert recorder.calls == [("begin", "Parsing folk tunes", 3), *[("advance", 1)] * 3, ("end",)]


_REAL_PARSE = folk._parse_file
_SET_IN_THE_TEST_PROCESS: dict[str, str] = {}


def _what_the_worker_inherited(path: str) -> list[dict]:
    """A parse that tells what its worker sees of the test process's memory: all of it when forked."""
    return [folk._skipped_entry(Path(path).name, f"sees {sorted(_SET_IN_THE_TEST_PROCESS)}")]


def _parse_or_misbehave(path: str) -> list[dict]:
    """The real parse, except for files named to misbehave in the worker: `dies` kills it, `slow`
    notes its worker's pid and takes a minute."""
    name = Path(path).stem
    if name == "dies":
        os.kill(os.getpid(), signal.SIGKILL)
    elif name == "slow":
        Path(path).with_suffix(".pid").write_text(str(os.getpid()))
        time.sleep(60)
    return _REAL_PARSE(path)


TINY_TUNE = "X:1\nT:Kept\nM:2/4\nL:1/8\nK:D\nDEFG|FEDE|D4|]\n"


def test_parse_workers_start_fresh_never_forked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A forked worker would inherit this process's memory (and any lock its threads held)."""
    paths = [_write(tmp_path, f"{name}.abc", TINY_TUNE) for name in ("a", "b")]
    monkeypatch.setitem(_SET_IN_THE_TEST_PROCESS, "only here", "")
    monkeypatch.setattr(folk, "_parse_file", _what_the_worker_inherited)
    assert [(t.path, t.reason) for t in read_folk_files(paths, workers=2)] == [  # type: ignore[union-attr]
        ("a.abc", "sees []"), ("b.abc", "sees []")]


def test_a_file_whose_worker_dies_is_one_skipped_and_not_cached(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = [_write(tmp_path, name, TINY_TUNE) for name in ("before.abc", "dies.abc", "after.abc")]
    cache = tmp_path / "cache"
    monkeypatch.setattr(folk, "_parse_file", _parse_or_misbehave)
    tunes = list(read_folk_files(paths, cache_dir=cache, workers=2))
    assert [(t.source, t.title) if isinstance(t, Melody) else (t.path, t.reason) for t in tunes] == [
        ("mine/before.abc#1", "Kept"), ("mine/dies.abc", "its parse worker died (killed by SIGKILL)"),
        ("mine/after.abc#1", "Kept")]
    assert sorted(p.name for p in cache.rglob("*.json")) == ["after.abc.json", "before.abc.json"]
    monkeypatch.setattr(folk, "_parse_file", _REAL_PARSE)
    assert [t.title for t in read_folk_files(paths, cache_dir=cache, workers=1)] == ["Kept"] * 3  # tried again


def test_closing_the_reader_early_stops_its_workers_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recorder) -> None:
    paths = [_write(tmp_path, name, TINY_TUNE) for name in ("first.abc", "slow.abc")]
    monkeypatch.setattr(folk, "_parse_file", _parse_or_misbehave)
    tunes = read_folk_files(paths, recorder, workers=2)
    assert next(tunes).title == "Kept"  # type: ignore[union-attr]
    pid_file = tmp_path / "mine" / "slow.pid"
    deadline = time.monotonic() + 120
    while not pid_file.exists():
        assert time.monotonic() < deadline, "no worker took the slow file"
        time.sleep(0.05)
    closing = time.monotonic()
    tunes.close()
    assert time.monotonic() - closing < 30  # not the minute the slow file takes
    assert not _is_running(int(pid_file.read_text()))
    assert recorder.calls[-2:] == [("note", folk.STOPPING), ("end",)]


def test_a_cache_hit_does_not_parse_again(
        tmp_path: Path, ryans_files: list[Path], ryans: list[Melody], monkeypatch: pytest.MonkeyPatch) -> None:
    assert list(read_folk_files(ryans_files, cache_dir=tmp_path, workers=1)) == ryans
    cached = sorted(tmp_path.rglob("*.json"))
    assert [p.relative_to(tmp_path).as_posix() for p in cached] == sorted(f"ryansMammoth/{n}.json" for n in RYANS)
    assert json.loads(cached[0].read_text())["key"]["format"] == folk.CACHE_FORMAT

    def refuse(path: str) -> list[dict]:
        raise AssertionError(f"parsed {path} again")

    monkeypatch.setattr(folk, "_parse_file", refuse)
    assert list(read_folk_files(ryans_files, cache_dir=tmp_path, workers=2)) == ryans


@pytest.mark.parametrize("damage", ["{not json", '{"key": 1}', "[]"])
def test_a_corrupt_cache_entry_is_parsed_again(
        tmp_path: Path, ryans_files: list[Path], ryans: list[Melody], monkeypatch: pytest.MonkeyPatch,
        damage: str) -> None:
    list(read_folk_files(ryans_files, cache_dir=tmp_path, workers=1))
    (tmp_path / "ryansMammoth" / f"{RYANS[1]}.json").write_text(damage)
    parsed: list[str] = []
    parse = folk._parse_file

    def counting(path: str) -> list[dict]:
        parsed.append(Path(path).name)
        return parse(path)

    monkeypatch.setattr(folk, "_parse_file", counting)
    assert list(read_folk_files(ryans_files, cache_dir=tmp_path, workers=1)) == ryans
    assert parsed == [RYANS[1]]
    assert list(read_folk_files(ryans_files, cache_dir=tmp_path, workers=1)) == ryans
    assert parsed == [RYANS[1]]  # the re-parsed entry was written back


def test_a_changed_file_is_parsed_again(tmp_path: Path) -> None:
    path = _write(tmp_path, "tune.abc", "X:1\nT:Before\nM:2/4\nL:1/8\nK:D\nDEFG|FEDE|D4|]\n")
    cache = tmp_path / "cache"
    assert [t.title for t in read_folk_files([path], cache_dir=cache)] == ["Before"]
    path.write_text("X:1\nT:After\nM:2/4\nL:1/8\nK:D\nDEFG|FEDE|D4|]\n")
    assert [t.title for t in read_folk_files([path], cache_dir=cache)] == ["After"]


def test_grid16_round_trips_the_parsed_tunes(ryans: list[Melody], oneills: dict[str, Melody]) -> None:
    grid = Grid16()
    for tune in [*ryans, *oneills.values()]:
        symbols = grid.encode(tune).symbols
        assert grid.encode(grid.decode(symbols, tune.metadata())).symbols == symbols, tune.source


def test_ctrl_c_during_a_folk_build_stops_the_workers_at_once(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) mid-parse: a line at once,
    exit 130 within seconds, the workers gone, the existing corpus intact and no staging folder."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from seqgan_music.corpora.grammar import build_grammar_corpus

    if not folk_files(["oneills1850"]):
        pytest.skip("music21's corpus folder is absent")
    existing = build_grammar_corpus("folk", 3, count=40, seed=1).save(tmp_path)
    before = {p.name: p.read_bytes() for p in existing.iterdir()}
    log = tmp_path / "stderr.txt"
    command = [sys.executable, "-m", "seqgan_music", "corpus", "build", "folk", "--collections", "oneills1850",
               "--workers", "2", "--home", str(tmp_path)]
    with log.open("w") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
    try:
        cache = tmp_path / "corpora" / ".cache" / "folk" / "oneills1850"
        deadline = time.monotonic() + 180
        while not (cache.is_dir() and any(cache.glob("*.json"))):  # a file parsed: the pool is at work
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        workers = _children(process.pid)
        assert workers, "the parse runs in worker processes"
        os.killpg(process.pid, signal.SIGINT)
        interrupted = time.monotonic()
        while "stopping: cancelling the parse workers" not in log.read_text():
            assert time.monotonic() - interrupted < 10, log.read_text()  # seconds, not the minutes the parse takes
            time.sleep(0.02)
        assert process.wait(timeout=10) == 130, log.read_text()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert "Traceback" not in log.read_text()
    assert not any(_is_running(pid) for pid in workers)
    assert sorted(p.name for p in (tmp_path / "corpora").iterdir()) == [".cache", "folk"]
    assert {p.name: p.read_bytes() for p in existing.iterdir()} == before


def _children(pid: int) -> list[int]:
    """The child processes of `pid` (Linux's /proc)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def _is_running(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_repeat_marks_are_one_per_bar_token_and_the_rhythm_is_the_r_field(
        ryans: list[Melody], oneills: dict[str, Melody]) -> None:
    grid = Grid16()
    tunes = [*ryans, *oneills.values()]
    for tune in tunes:
        if tune.repeat_marks is not None:
            assert grid.encode(tune).symbols.count("BAR") == len(tune.repeat_marks) == len(tune.bars), tune.source
    assert sum(tune.repeat_marks is not None for tune in tunes) == 9  # the others are written without signs
    strain = [(True, False, 0), (False, False, 0), (False, False, 0), (False, True, 0)]
    assert ryans[0].repeat_marks == strain * 2  # `vgf|:eA ... BAAf:|` twice, four bars of 2/2 each
    assert [tune.rhythm for tune in ryans] == ["reel", "jig", ""]
