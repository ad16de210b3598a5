"""A run's samples as they reach the user: `export RUN` takes the newest listing, and samples that
were sampled freely (training, `generate`, exported listings) are laid out in bars of one meter."""

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seqgan_music.cli import app
from seqgan_music.config import apply_overrides, preset
from seqgan_music.corpora.encodings import Grid16
from seqgan_music.corpora.melody import Key, Melody, Note, bar_lines
from seqgan_music.corpora.music import build_music_corpus
from seqgan_music.corpora.split import SplitPlan
from seqgan_music.training.launch import start_run
from training_helpers import TINY

runner = CliRunner()


@pytest.fixture(scope="module")
def music_run(tmp_path_factory) -> Path:
    """A tiny SeqGAN run on 4/4 tunes (windows of three bars): samples after MLE epochs 1-2 and
    adversarial round 1, then the final ones."""
    home = tmp_path_factory.mktemp("home")
    melodies = [Melody([Note(60 + (i + j) % 8, j * 0.5, j * 0.5 + 0.5) for j in range(64)],
                       bar_lines([(0.0, "4/4")], 32.0), "4/4", Key(0), source=f"t{i}.mid") for i in range(40)]
    build_music_corpus("tunes", melodies, Grid16(length=52, stride=52), SplitPlan(), {"kind": "midi"}).save(home)
    config = apply_overrides(preset("quick"), [*TINY, "mle.epochs=2", "mle.eval_every=1", "adversarial.eval_every=1",
                                               "run.samples=8", "run.method=seqgan",
                                               "adversarial.batch_size=4", "adversarial.rollouts=1", "run.threads=1"])
    assert start_run(home, "tunes", config, "first").run() == "finished"
    return home


def export(home: Path, *args: str):
    return runner.invoke(app, ["export", *args, "--home", str(home)])


def test_export_of_a_run_takes_its_final_samples_and_names_them(music_run, tmp_path):
    samples = music_run / "checkpoints" / "first" / "samples"
    assert {p.name for p in samples.glob("*.txt")} == {"mle-0001.txt", "mle-0002.txt", "adversarial-0001.txt",
                                                     "final.txt"}
    result = export(music_run, "first", "--format", "abc", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "from run first's newest samples (samples/final.txt)" in " ".join(result.output.split())
    names = [p.name for p in (tmp_path / "out").glob("*.abc")]
    assert names and all(name.startswith("first-final-") for name in names), names  # a line without notes is skipped


def test_export_of_an_unfinished_run_takes_its_last_evaluation_in_training_order(music_run, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(music_run, home)
    (home / "checkpoints" / "first" / "samples" / "final.txt").unlink()  # as if stopped before the end
    result = export(home, "first", "--format", "mid", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "(samples/adversarial-0001.txt)" in result.output  # after MLE's epoch 2, though it sorts before it
    assert {p.name.rsplit("-", 1)[0] for p in (tmp_path / "out").glob("*.mid")} == {"first-adversarial-0001"}


def bar_gaps(listing: Path) -> set[int]:
    """The lengths in sixteenth steps of the bars the model's own BAR tokens make in a listing."""
    gaps = set()
    for line in listing.read_text().splitlines():
        steps = 0
        for token in line.split():
            if token == "BAR":
                gaps.add(steps)
                steps = 0
            elif token not in ("<end>", "<pad>"):
                steps += 1
    return gaps - {0}


def time_signatures(midi: Path) -> list[tuple[int, int]]:
    import pretty_midi

    return [(t.numerator, t.denominator) for t in pretty_midi.PrettyMIDI(str(midi)).time_signature_changes]


def measure_lengths(abc: Path) -> tuple[list[float], float]:
    """The quarter notes in every measure as music21 reads the ABC, and in a bar of its meter.

    music21 makes measures only of tunes with two regular bar lines or more; a shorter tune comes
    back as one list entry, its whole length."""
    from music21 import converter, meter, stream

    part = converter.parse(str(abc), format="abc").parts[0]
    measures = list(part.getElementsByClass(stream.Measure)) or [part]
    signature = part.recurse().getElementsByClass(meter.TimeSignature)[0]
    return [float(m.duration.quarterLength) for m in measures], float(signature.barDuration.quarterLength)


def test_generated_and_training_samples_are_laid_out_in_bars_of_the_corpus_meter(music_run, tmp_path):
    result = runner.invoke(app, ["generate", "first", "--n", "12", "--seed", "3", "--out", str(tmp_path / "gen"),
                                 "--home", str(music_run)])
    assert result.exit_code == 0, result.output
    (listing,) = (tmp_path / "gen").glob("*.txt")
    assert bar_gaps(listing) - {16}, "the tiny model's own bar tokens should be irregular"
    samples = music_run / "checkpoints" / "first" / "samples"
    midis = [*(tmp_path / "gen").glob("*.mid"), *samples.glob("*.mid")]
    assert len(midis) == 12 + 3 * 8 + 8  # generate's; 8 at each of the three evaluations; the final ones
    for midi in midis:
        assert time_signatures(midi) == [(4, 4)], midi.name

    measured = {}
    for source, meter, bar in ((str(listing), ["--meter", "6/8"], 3.0), ("first", [], 4.0)):
        out = tmp_path / f"abc-{bar}"
        result = export(music_run, source, "--format", "abc", *meter, "--out", str(out))
        assert result.exit_code == 0, result.output
        measured.update({abc: (measure_lengths(abc), bar) for abc in out.glob("*.abc")})
    assert any(len(lengths) >= 3 for (lengths, _), _ in measured.values())  # long enough for music21's measures
    for abc, ((lengths, asked), bar) in measured.items():
        assert asked == bar, abc.name
        if len(lengths) == 1:  # one or two bars
            assert lengths[0] in (bar, 2 * bar), (abc.name, lengths)
        else:
            assert lengths == [bar] * len(lengths), (abc.name, lengths)


def test_an_impossible_meter_for_a_listing_is_one_line(music_run, tmp_path):
    listing = music_run / "checkpoints" / "first" / "samples" / "final.txt"
    result = export(music_run, str(listing), "--meter", "7/3", "--out", str(tmp_path / "out"))
    assert result.exit_code == 1 and "invalid meter '7/3'" in result.output, result.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
