"""Building a MIDI corpus from a hostile folder: a MIDI bomb, names that are not UTF-8 or hold
escape sequences, symlink loops, unreadable folders and copies of one tune. The build goes on,
lists what it left out with the reason, and prints nothing a terminal would act on."""

import json
import os
import random
import resource
import struct
import subprocess
import sys
from pathlib import Path

import mido
import pytest

from seqgan_music.corpora.building import build_midi_corpus
from seqgan_music.corpora.corpus import Skipped
from seqgan_music.corpora.encodings import Grid16
from seqgan_music.corpora.melody import Melody, Note
from seqgan_music.corpora.midi import read_midi_folder
from seqgan_music.corpora.music import build_music_corpus
from seqgan_music.corpora.split import SplitPlan
from seqgan_music.progress import SilentReporter

ALL_TRAIN = SplitPlan((1.0, 0.0, 0.0))
# ticks_per_beat 1 and one note held for 0x0FFFFFFF ticks: 268 million beats from 37 bytes.
BOMB_TRACK = b"\x00\x90\x3c\x40" + b"\xff\xff\xff\x7f\x80\x3c\x40" + b"\x00\xff\x2f\x00"
BOMB = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 1) + b"MTrk" + struct.pack(">I", len(BOMB_TRACK)) + BOMB_TRACK
GiB = 1 << 30


def write_tune(path: Path, pitches: list[int], title: str = "", ticks: int = 480) -> Path:
    """Eighth notes of `pitches` in 4/4, on one track named `title`."""
    track = mido.MidiTrack([mido.MetaMessage("track_name", name=title)] if title else [])
    track.append(mido.MetaMessage("time_signature", numerator=4, denominator=4))
    for pitch in pitches:
        track.append(mido.Message("note_on", note=pitch, velocity=90, time=0))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=ticks // 2))
    midi = mido.MidiFile(type=0, ticks_per_beat=ticks)
    midi.tracks.append(track)
    path.parent.mkdir(parents=True, exist_ok=True)
    midi.save(path)
    return path


def tune(index: int) -> list[int]:
    return [60 + (index * 5 + step * 3) % 12 for step in range(32)]


def skipped_by_path(results) -> dict[str, str]:
    return {r.path: r.reason for r in results if isinstance(r, Skipped)}


def cli(*args: str) -> subprocess.CompletedProcess:
    """The real command line in a child process, its output a pipe as when redirected to a file."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "PYTHONIOENCODING")}
    env.update(NO_COLOR="1", COLUMNS="200", LC_ALL="C.UTF-8")
    return subprocess.run([sys.executable, "-m", "seqgan_music", *args], capture_output=True, env=env,
                          timeout=120, check=False, preexec_fn=limit_memory)


def limit_memory() -> None:
    """At most 2 GiB of address space, so that a regression fails at once instead of taking the machine."""
    resource.setrlimit(resource.RLIMIT_AS, (2 * GiB, 2 * GiB))


BOMB_BUILD = """
import json, resource, sys, tracemalloc
from pathlib import Path
from seqgan_music.corpora.building import build_midi_corpus
from seqgan_music.corpora.encodings import Grid16
from seqgan_music.corpora.split import SplitPlan
from seqgan_music.progress import SilentReporter
tracemalloc.start()
corpus = build_midi_corpus("c", Path(sys.argv[1]), Grid16(length=16, stride=16), SplitPlan((1.0, 0.0, 0.0)),
                           SilentReporter())
# This process's own peak: VmHWM belongs to the memory map exec made, where ru_maxrss would keep the
# peak of the (large) test process it was forked from.
status = Path("/proc/self/status")
rss = (int(next(line.split()[1] for line in status.read_text().splitlines() if line.startswith("VmHWM:"))) * 1024
       if status.exists() else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
print(json.dumps({"skipped": corpus.manifest["skipped"], "tunes": corpus.manifest["counts"]["tunes"],
                  "peak": tracemalloc.get_traced_memory()[1], "rss": rss}))
"""


def test_a_midi_bomb_is_skipped_with_its_reason_in_little_memory(tmp_path):
    folder = tmp_path / "tunes"
    write_tune(folder / "a.mid", tune(0))
    write_tune(folder / "c.mid", tune(1))
    (folder / "bomb.mid").write_bytes(BOMB)
    child = subprocess.run([sys.executable, "-c", BOMB_BUILD, str(folder)], capture_output=True, text=True,
                           timeout=60, check=False, preexec_fn=limit_memory)
    assert child.returncode == 0, child.stderr[-2000:]
    built = json.loads(child.stdout)
    assert built["tunes"] == 2
    [skipped] = built["skipped"]
    assert skipped["path"] == "bomb.mid" and "too long" in skipped["reason"], skipped
    assert "268435455 beats" in skipped["reason"]
    assert built["peak"] < GiB and built["rss"] < GiB


def test_a_tune_longer_than_the_cap_is_skipped_whatever_read_it():
    notes = [Note(60, 0.0, 4.0), Note(62, 4.0, 4_000_000.0)]
    short = Melody([Note(60 + i % 5, i * 0.5, i * 0.5 + 0.5) for i in range(64)], source="short")
    corpus = build_music_corpus("c", [Melody(notes, source="long"), short], Grid16(length=16, stride=16),
                                ALL_TRAIN, {"kind": "test"})
    assert corpus.manifest["counts"]["tunes"] == 1
    assert [(s["path"], "too long" in s["reason"]) for s in corpus.manifest["skipped"]] == [("long", True)]


def test_a_tempo_of_zero_is_skipped_with_its_reason(tmp_path):
    write_tune(tmp_path / "a.mid", tune(0))
    stalled = mido.MidiFile(write_tune(tmp_path / "stalled.mid", tune(1)))
    stalled.tracks[0].insert(0, mido.MetaMessage("set_tempo", tempo=0))
    stalled.save(tmp_path / "stalled.mid")
    results = list(read_midi_folder(tmp_path))
    assert [r.source for r in results if isinstance(r, Melody)] == ["a.mid"]
    assert skipped_by_path(results) == {"stalled.mid": "a tempo of 0 microseconds per beat"}


def test_a_file_too_large_to_be_a_melody_is_skipped_unread(tmp_path):
    write_tune(tmp_path / "a.mid", tune(0))
    with open(tmp_path / "huge.mid", "wb") as huge:
        huge.write(b"MThd")
        huge.truncate(64 << 20)  # sparse: takes no disk space
    reasons = skipped_by_path(read_midi_folder(tmp_path))
    assert list(reasons) == ["huge.mid"] and "larger than" in reasons["huge.mid"]


def non_utf8_path(folder: Path) -> Path:
    path = folder / os.fsdecode(b"reel-\xff\xfe.mid")
    try:
        write_tune(path, tune(2))
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system refuses file names that are not UTF-8")
    return path


def test_a_name_that_is_not_utf8_is_read_and_stored_escaped(tmp_path):
    non_utf8_path(tmp_path)
    (tmp_path / os.fsdecode(b"bad-\xff.mid")).write_bytes(b"not midi")
    results = list(read_midi_folder(tmp_path))
    [melody] = [r for r in results if isinstance(r, Melody)]
    assert melody.source == "reel-\\xff\\xfe.mid" and melody.title == "reel-\\xff\\xfe"
    assert list(skipped_by_path(results)) == ["bad-\\xff.mid"]
    corpus = build_music_corpus("c", results, Grid16(length=16, stride=16), ALL_TRAIN, {"kind": "test"})
    json.dumps(corpus.manifest, ensure_ascii=False).encode("utf-8")  # what saving it does
    json.dumps(corpus.tunes, ensure_ascii=False).encode("utf-8")


def test_escape_sequences_in_names_and_titles_are_stored_escaped(tmp_path):
    write_tune(tmp_path / "\x1b[2Jclear.mid", tune(0), title="\x1b]0;pwned\x07 \x9b31m")
    (tmp_path / "\x1b[31mred.mid").write_bytes(b"not midi")
    results = list(read_midi_folder(tmp_path))
    [melody] = [r for r in results if isinstance(r, Melody)]
    assert melody.source == "\\x1b[2Jclear.mid"
    assert melody.title == "\\x1b]0;pwned\\x07 \\x9b31m"
    assert list(skipped_by_path(results)) == ["\\x1b[31mred.mid"]


def test_the_cli_builds_a_hostile_folder_and_prints_it_escaped(tmp_path):
    folder = tmp_path / "tunes"
    for index in range(4):
        write_tune(folder / f"tune{index}.mid", tune(index))
    non_utf8_path(folder)
    (folder / "\x1b[31mred.mid").write_bytes(b"not midi")
    (folder / "bomb.mid").write_bytes(BOMB)
    (folder / "loop").symlink_to(folder)
    result = cli("corpus", "build", "midi", str(folder), "--name", "hostile", "--length", "16",
                 "--split", "100/0/0", "--home", str(tmp_path / "home"))
    output = (result.stdout + result.stderr).decode("utf-8")
    assert result.returncode == 0, output
    assert "Traceback" not in output and "\x1b" not in output and "\x9b" not in output
    assert "built corpus hostile (5 tunes" in output
    for escaped in ("\\x1b[31mred.mid", "bomb.mid", "loop"):
        assert escaped in output
    manifest = json.loads((tmp_path / "home" / "corpora" / "hostile" / "manifest.json").read_text("utf-8"))
    assert sorted(s["path"] for s in manifest["skipped"]) == ["\\x1b[31mred.mid", "bomb.mid", "loop"]


def test_a_symlink_loop_is_listed_in_skipped_and_its_tunes_read_once(tmp_path):
    write_tune(tmp_path / "a.mid", tune(0))
    write_tune(tmp_path / "sub" / "b.mid", tune(1))
    (tmp_path / "sub" / "back").symlink_to(tmp_path)
    (tmp_path / "self").symlink_to(tmp_path / "self")
    (tmp_path / "elsewhere").symlink_to(tmp_path / "sub")
    results = list(read_midi_folder(tmp_path))
    assert sorted(r.source for r in results if isinstance(r, Melody)) == ["a.mid", "sub/b.mid"]
    reasons = skipped_by_path(results)
    assert sorted(reasons) == ["elsewhere", "self", "sub/back"]
    assert "symbolic link loop" in reasons["sub/back"] and "symbolic link loop" in reasons["self"]
    assert "same folder as sub" in reasons["elsewhere"]  # a folder reached by two paths is read once


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder, so none can be made unreadable")
def test_an_unreadable_folder_is_listed_in_skipped(tmp_path):
    write_tune(tmp_path / "a.mid", tune(0))
    locked = tmp_path / "locked"
    write_tune(locked / "b.mid", tune(1))
    locked.chmod(0)
    try:
        results = list(read_midi_folder(tmp_path))
    finally:
        locked.chmod(0o755)
    assert [r.source for r in results if isinstance(r, Melody)] == ["a.mid"]
    reasons = skipped_by_path(results)
    assert list(reasons) == ["locked"] and "cannot read the folder" in reasons["locked"]


def test_copies_of_a_tune_land_in_one_split_and_are_counted(tmp_path):
    copies = [f"copy{index}.mid" for index in range(12)]
    plan = SplitPlan()
    assert len({plan.split_of(name) for name in copies}) > 1  # by name alone they would spread out
    for index, name in enumerate(copies):
        write_tune(tmp_path / name, tune(0), ticks=240 if index % 2 else 480)  # same notes, other files
    for index in range(11):
        write_tune(tmp_path / f"other{index}.mid", random.Random(index).choices(range(55, 80), k=32))
    corpus = build_midi_corpus("c", tmp_path, Grid16(length=16, stride=16), plan, SilentReporter())
    splits = {t["source"]: t["split"] for t in corpus.tunes}
    assert len(splits) == 23
    assert {splits[name] for name in copies} == {plan.split_of(copies[0])}
    assert corpus.manifest["counts"]["duplicate_tunes"] == 11
