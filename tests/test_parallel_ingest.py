"""Parallel, sharded MIDI ingest: the same corpus whatever the number of workers, a hostile file
costs only itself (over the time limit, over the memory cap, its worker killed), an interrupted
build goes on from its shards, and no Melody reaches the building process."""

import errno
import importlib.util
import json
import os
import random
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from test_ingest_hostile import BOMB, cli, write_tune

import seqgan_music.corpora.building as building
from seqgan_music.cli.experiment import _ensure_music_corpus
from seqgan_music.corpora.building import IngestOptions, build_midi_corpus, encode_midi_file, ingest_midi_corpus
from seqgan_music.corpora.corpus_writer import CorpusWriter
from seqgan_music.corpora.encodings import Grid16
from seqgan_music.corpora.melody import Melody
from seqgan_music.corpora.parallel_ingest import Abandoned, IngestLimits, map_files
from seqgan_music.corpora.shards import ShardStore, build_lock, shards_folder
from seqgan_music.corpora.split import SplitPlan
from seqgan_music.errors import SeqganError
from seqgan_music.progress import SilentReporter

ENCODING = Grid16(length=16, stride=16)
PLAN = SplitPlan((0.6, 0.2, 0.2), seed=3)
SHARD_FILES = 4


def tune(seed: int) -> list[int]:
    """32 eighth notes that no other seed's tune equals, even transposed."""
    return random.Random(seed).choices(range(55, 80), k=32)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """14 tunes (two of them copies of one), the MIDI bomb, a truncated file and garbage bytes."""
    tunes = tmp_path / "tunes"
    for index in range(12):
        write_tune(tunes / f"reel{index:02d}.mid", tune(index))
    write_tune(tunes / "sub" / "copy-a.mid", tune(3))
    write_tune(tunes / "sub" / "copy-b.mid", tune(3), ticks=240)
    (tunes / "bomb.mid").write_bytes(BOMB)
    (tunes / "cut.mid").write_bytes((tunes / "reel00.mid").read_bytes()[:40])
    (tunes / "noise.mid").write_bytes(bytes(range(256)) * 4)
    return tunes


def sharded(home: Path, workers: int | None = 2, **limits) -> IngestOptions:
    return IngestOptions(home, workers=workers, limits=IngestLimits(**limits), shard_files=SHARD_FILES)


def ingest(folder: Path, home: Path, workers: int | None = 2, reporter=None, **limits) -> Path:
    """The sharded, parallel build of `folder` into `home`: the saved corpus folder."""
    return ingest_midi_corpus("c", folder, ENCODING, PLAN, reporter or SilentReporter(),
                              sharded(home, workers, **limits))


def manifest_of(target: Path) -> dict:
    return json.loads((target / "manifest.json").read_text("utf-8"))


def saved_files(target: Path) -> dict:
    """What a saved corpus folder holds, timings left out: its arrays and the text of its JSON files."""
    with np.load(target / "tokens.npz", allow_pickle=False) as arrays:
        found = {name: arrays[name].tolist() for name in arrays.files}
    manifest = manifest_of(target)
    del manifest["built"], manifest["build_seconds"]
    found.update(manifest=manifest, tunes=(target / "tunes.json").read_text("utf-8"),
                 vocab=(target / "vocab.json").read_text("utf-8"))
    return found


def test_one_and_two_workers_write_the_corpus_that_reading_in_process_builds(folder, tmp_path):
    in_process = build_midi_corpus("c", folder, ENCODING, PLAN, SilentReporter())
    expected = saved_files(in_process.save(tmp_path / "in-process"))
    one, two = ingest(folder, tmp_path / "one", 1), ingest(folder, tmp_path / "two", 2)
    assert one == tmp_path / "one" / "corpora" / "c" and two == tmp_path / "two" / "corpora" / "c"
    assert saved_files(one) == expected
    assert saved_files(two) == expected
    assert expected["manifest"]["content_hash"] == in_process.content_hash()
    assert expected["manifest"]["counts"]["tunes"] == 14 and expected["manifest"]["counts"]["duplicate_tunes"] == 2
    assert expected["manifest"]["counts"]["whole_tunes"]["tunes"] == 14
    assert [s["path"] for s in expected["manifest"]["skipped"]] == ["bomb.mid", "cut.mid", "noise.mid"]
    assert not shards_folder(tmp_path / "two", "c").exists()  # a finished build leaves no shards
    assert sorted(p.name for p in two.iterdir()) == ["manifest.json", "tokens.npz", "tunes.json", "vocab.json"]


def test_a_build_that_fails_while_writing_leaves_the_earlier_corpus_and_nothing_else(folder, tmp_path, monkeypatch):
    home = tmp_path / "home"
    earlier = saved_files(ingest(folder, home))
    add_windows, added = CorpusWriter.add_windows, []

    def disk_fills_up(writer, *args):
        added.append(args)
        if len(added) == 6:  # halfway through the tunes
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        add_windows(writer, *args)

    monkeypatch.setattr(CorpusWriter, "add_windows", disk_fills_up)
    write_tune(folder / "new.mid", tune(20))
    with pytest.raises(OSError, match="No space left"):
        ingest(folder, home)
    assert saved_files(home / "corpora" / "c") == earlier
    assert sorted(p.name for p in (home / "corpora").iterdir()) == ["c"]  # no staging folder, no shards


def test_a_second_build_of_a_name_is_refused_while_the_first_runs_and_cleans_up_after(folder, tmp_path):
    home = tmp_path / "home"
    with build_lock(home, "c"):  # as a build of "c" in another process holds it
        with pytest.raises(SeqganError, match=f"corpus 'c' is being built by process {os.getpid()}"):
            ingest(folder, home)
        assert not (home / "corpora" / "c").exists()
    assert not (home / "corpora" / ".cache").exists()  # the lock file goes with the build
    ingest(folder, home)
    assert sorted(p.name for p in (home / "corpora").iterdir()) == ["c"]


def test_a_build_whose_shards_are_removed_under_it_ends_in_one_line(folder, tmp_path, monkeypatch):
    """Shards removed while the build runs (corpora/.cache deleted by hand, or a build of the same
    name that slipped past the lock finished first): one line that says so, not a traceback."""
    home = tmp_path / "home"
    write = ShardStore.write

    def other_build_finishes(store, index, batch):
        if index == 1:
            store.remove()  # what the other build does when it is done
        write(store, index, batch)

    monkeypatch.setattr(ShardStore, "write", other_build_finishes)
    with pytest.raises(SeqganError, match="the shards of this build were removed while it ran"):
        ingest(folder, home, workers=1)
    assert not (home / "corpora" / "c").exists() and not shards_folder(home, "c").exists()


def hostile_reader(task, track, program, encoding):
    """The real reader, except for files named to misbehave in the worker as a pathological file would."""
    name = Path(task[0]).stem
    if name == "slow":
        time.sleep(60)
    elif name == "greedy":
        hoard = bytearray(4 << 30)  # far over the test's cap: refused by the capped address space
        return hoard[:1]
    elif name == "killer":
        os.kill(os.getpid(), signal.SIGKILL)
    return encode_midi_file(task, track, program, encoding)


def test_a_hostile_file_costs_only_itself(folder, tmp_path, monkeypatch):
    for name in ("slow", "greedy", "killer"):
        write_tune(folder / f"{name}.mid", tune(0))
    monkeypatch.setattr(building, "encode_midi_file", hostile_reader)
    manifest = manifest_of(ingest(folder, tmp_path, 2, seconds=5.0, memory_bytes=256 << 20))
    reasons = {s["path"]: s["reason"] for s in manifest["skipped"]}
    assert reasons.pop("slow.mid") == "over the 5 s limit"  # with room for a loaded machine
    assert reasons.pop("greedy.mid") == "over the 256 MB memory cap"
    assert reasons.pop("killer.mid") == "its parse worker died (killed by SIGKILL)"
    assert "too long" in reasons.pop("bomb.mid")
    assert sorted(reasons) == ["cut.mid", "noise.mid"], reasons
    assert manifest["counts"]["tunes"] == 14  # every file after the hostile ones was read


def test_results_come_back_in_input_order_whatever_finishes_first():
    delays = [0.4, 0.0, 0.2, 0.0, 0.3, 0.0]
    assert list(map_files(time.sleep, delays, workers=2)) == [None] * 6
    assert list(map_files(abs, [-3, 1, -2, 5, -7], workers=2, lookahead=2)) == [3, 1, 2, 5, 7]
    assert list(map_files(abs, [], workers=2)) == []
    [abandoned] = map_files(time.sleep, [30], workers=1, limits=IngestLimits(seconds=0.5))
    assert abandoned == Abandoned("over the 0.5 s limit")


def test_an_interrupted_build_goes_on_from_its_shards(folder, tmp_path, monkeypatch, recorder):
    home = tmp_path / "home"
    write_shard = ShardStore.write

    def stop_after_two(store, index, batch):
        if index == 2:
            raise KeyboardInterrupt  # what Ctrl-C does while the third shard is written
        write_shard(store, index, batch)

    monkeypatch.setattr(ShardStore, "write", stop_after_two)
    with pytest.raises(KeyboardInterrupt):
        ingest(folder, home, reporter=recorder)
    assert sorted(p.name for p in shards_folder(home, "c").glob("shard-*")) == ["shard-000000.npz", "shard-000001.npz"]
    assert ("note", "stopped: 2 of 5 shards are kept; run the same command again to go on from them") in recorder.calls

    monkeypatch.setattr(ShardStore, "write", write_shard)
    read: list[str] = []

    def recording_map(work, tasks, *args):
        read.extend(source for _, source in tasks)
        return map_files(work, tasks, *args)

    monkeypatch.setattr(building, "map_files", recording_map)
    resumed = ingest(folder, home, reporter=recorder)
    assert ("note", "resuming the interrupted build: 2 of 5 shards (8 files) already read") in recorder.calls
    assert len(read) == 17 - 2 * SHARD_FILES
    [summary] = [c[1] for c in recorder.calls if c[0] == "note" and c[1].startswith("read ")]
    assert summary.startswith("read 17/17 files, ") and summary.endswith(" files/s, 3 skipped")  # 3 in the kept shards
    assert saved_files(resumed) == saved_files(ingest(folder, tmp_path / "other"))


def test_a_changed_folder_starts_the_build_again(folder, tmp_path, monkeypatch, recorder):
    home = tmp_path / "home"
    monkeypatch.setattr(ShardStore, "write", _interrupt_at_second_shard(ShardStore.write))
    with pytest.raises(KeyboardInterrupt):
        ingest(folder, home)
    monkeypatch.undo()
    write_tune(folder / "new.mid", tune(20))
    target = ingest(folder, home, reporter=recorder)
    assert ("note", "the folder or the settings changed since the interrupted build: starting again") in recorder.calls
    assert manifest_of(target)["counts"]["tunes"] == 15


def _interrupt_at_second_shard(write):
    def interrupting(store, index, batch):
        if index == 1:
            raise KeyboardInterrupt
        write(store, index, batch)
    return interrupting


def test_no_melody_is_made_in_the_building_process(folder, tmp_path, monkeypatch):
    made: list[Melody] = []
    original = Melody.__init__

    def counting(self, *args, **kwargs):
        made.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(Melody, "__init__", counting)
    ingest(folder, tmp_path)
    assert made == []  # the workers read and encode; this process gets token ids in shards
    _ensure_music_corpus(tmp_path / "experiment", "nottingham", "grid16", folder)  # an experiment's own build
    assert made == [] and (tmp_path / "experiment" / "corpora" / "nottingham" / "manifest.json").is_file()
    build_midi_corpus("c", folder, ENCODING, PLAN, SilentReporter())
    assert len(made) >= 14  # reading in process makes one or more per tune: the count above could see them


def test_the_cli_builds_in_parallel_and_says_what_it_skipped(folder, tmp_path):
    result = cli("corpus", "build", "midi", str(folder), "--name", "par", "--workers", "2", "--time-limit", "30",
                 "--home", str(tmp_path / "home"))
    output = (result.stdout + result.stderr).decode("utf-8")
    assert result.returncode == 0, output
    assert "built corpus par (14 tunes" in output
    assert "read 17/17 files" in output and "files/s, 3 skipped" in output and "bomb.mid" in output
    counts = json.loads((tmp_path / "home" / "corpora" / "par" / "manifest.json").read_text("utf-8"))["counts"]
    again = cli("corpus", "build", "midi", str(folder), "--name", "par", "--workers", "1",
                "--home", str(tmp_path / "home"))
    output = (again.stdout + again.stderr).decode("utf-8")
    windows = "/".join(str(counts["windows"][s]) for s in ("train", "valid", "test"))
    assert (f"built corpus par (14 tunes; windows train/valid/test {windows}; vocabulary {counts['vocabulary']}) in "
            in output and "(replaced the earlier build)" in output), output


@pytest.mark.skipif(importlib.util.find_spec("ray") is not None, reason="ray is installed here")
def test_the_ray_engine_without_ray_says_how_to_install_it(folder, tmp_path):
    result = cli("corpus", "build", "midi", str(folder), "--name", "par", "--engine", "ray",
                 "--home", str(tmp_path / "home"))
    output = (result.stdout + result.stderr).decode("utf-8")
    assert result.returncode == 1
    assert output.strip() == "error: --engine ray needs ray, which is not installed: pip install ray"
