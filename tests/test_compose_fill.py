"""`compose --fill FIRST-LAST --from TUNE`: bars written again, every other bar, the meter and the key
kept note for note in the written MIDI and ABC, read back and compared bar by bar; with the shipped
default model (a whole-tune model), a window model and a MaskGAN in-filling generator."""

import hashlib
import json
import shlex
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from seqgan_music.cli import app
from seqgan_music.composing.fill import MASKGAN, FillSettings, _tokens_of, fill_tune, right_context_scores
from seqgan_music.composing.model import load_model
from seqgan_music.composing.source_tune import read_source_tune
from seqgan_music.corpora.melody import PICKUP, Key, Melody, Note, played_bar_order
from seqgan_music.corpora.midi import read_midi_melody
from seqgan_music.export.midi import write_midi

runner = CliRunner()
NOTTINGHAM_TUNE = "ashover14.mid"  # 6/8 in A major, 24 bars, every note on the sixteenth grid


def invoke(*args: str):
    return runner.invoke(app, ["compose", *args])


def by_bar(notes: list[Note], lines: list[float]) -> list[list[tuple[int, float, float]]]:
    """The notes sounding in each bar, cut at its bar lines: index 0 the pickup, i bar i."""
    edges = [float("-inf"), *lines, float("inf")]
    return [sorted((n.pitch, round(max(n.start, low), 3), round(min(n.end, high), 3)) for n in notes
                   if n.start < high - 1e-6 and n.end > low + 1e-6) for low, high in zip(edges, edges[1:])]


def assert_kept(written: Melody, source: Melody, span: tuple[int, int]) -> list[int]:
    """Every bar outside `span` (from 1; the pickup is bar 0) holds the source's notes; the filled bars' numbers
    whose notes differ from the source's."""
    assert written.bars == pytest.approx(source.bars)
    mine, theirs = by_bar(written.notes, source.bars), by_bar(source.notes, source.bars)
    first, last = span
    for bar, (new, old) in enumerate(zip(mine, theirs)):
        if not first <= bar <= last:
            assert new == old, f"bar {bar} changed"
    return [bar for bar in range(first, last + 1) if mine[bar] != theirs[bar]]


def on_grid(melody: Melody) -> bool:
    return all(abs(t * 4 - round(t * 4)) < 1e-6 for n in melody.notes for t in (n.start, n.end))


@pytest.fixture(scope="module")
def composed(tmp_path_factory) -> Path:
    """A tune composed by the shipped default model (an AABB jig with repeat signs), its MIDI, ABC and sidecar."""
    out = tmp_path_factory.mktemp("composed")
    result = invoke("--n", "1", "--seed", "3", "--type", "jig", "--format", "mid,abc", "--out", str(out))
    assert result.exit_code == 0, result.output
    return next(out.glob("*.json"))


def test_a_nottingham_tune_keeps_every_other_bar_its_meter_and_key_in_the_midi_and_abc(shared_data, tmp_path):
    path = shared_data / "nottingham" / "MIDI" / NOTTINGHAM_TUNE
    if not path.is_file():
        pytest.skip(f"{path} not found")
    source = read_source_tune(path).melody
    assert on_grid(source)  # so the ABC writer (sixteenth grid) writes the kept bars exactly
    result = invoke("--fill", "5-8", "--from", str(path), "--n", "3", "--seed", "1", "--candidates", "4",
                    "--format", "mid,abc", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    changed = []
    for midi in sorted(tmp_path.glob("*.mid")):
        written = read_midi_melody(midi, midi.name)
        assert (written.meter, written.key.name) == (source.meter, source.key.name)
        changed += assert_kept(written, source, (5, 8))
        abc = read_source_tune(midi.with_suffix(".abc")).melody
        assert (abc.meter, abc.key.name) == (source.meter, source.key.name)
        assert_kept(abc, source, (5, 8))
        sidecar = json.loads(midi.with_suffix(".json").read_text())
        assert sidecar["fill"]["bars"] == [5, 8]
        assert sidecar["fill"]["source"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert sidecar["fill"]["how"] == "left context, best of 4 by the following bars' likelihood"
    assert changed, "no version wrote bars 5-8 differently from the source"


def test_a_composed_tunes_sidecar_is_filled_as_notated_and_recomposes_exactly(composed, tmp_path):
    source = read_source_tune(composed).melody
    assert source.repeat_marks is not None and source.bars[0] == 0  # strains with repeat signs, no pickup
    result = invoke("--fill", "5-8", "--from", str(composed), "--n", "2", "--seed", "4", "--candidates", "4",
                    "--format", "mid,abc", "--out", str(tmp_path / "filled"))
    assert result.exit_code == 0, result.output
    source_midi = read_midi_melody(composed.with_suffix(".mid"), "source")
    notated = [bar for bar in played_bar_order(source) if bar != PICKUP]  # each played bar's notated bar (0-based)
    changed = []
    for abc in sorted((tmp_path / "filled").glob("*.abc")):
        written = read_source_tune(abc).melody
        assert written.repeat_marks == source.repeat_marks
        changed += assert_kept(written, source, (5, 8))
        played = read_midi_melody(abc.with_suffix(".mid"), "filled")  # repeats played out
        assert played.bars == pytest.approx(source_midi.bars)
        mine, theirs = by_bar(played.notes, source_midi.bars), by_bar(source_midi.notes, source_midi.bars)
        kept = [k for k, bar in enumerate(notated, start=1) if not 5 <= bar + 1 <= 8]
        assert len(kept) == len(notated) - 8  # bars 5-8 are played twice
        assert [mine[k] for k in kept] == [theirs[k] for k in kept]
        sidecar = json.loads(abc.with_suffix(".json").read_text())
        assert (sidecar["key"]["written"], sidecar["meter"]["written"]) == (source.key.name, source.meter)
        again = runner.invoke(app, [*shlex.split(sidecar["command"])[1:], "--format", "mid", "--out", str(tmp_path / "again")])
        assert again.exit_code == 0, again.output
        assert next((tmp_path / "again").glob("*.mid")).read_bytes() == abc.with_suffix(".mid").read_bytes()
        next((tmp_path / "again").glob("*.mid")).unlink()
    assert changed


def test_a_filled_tunes_sidecar_holds_its_notes_exactly(composed, tmp_path):
    settings = FillSettings(count=1, seed=2, candidates=2)
    tune = fill_tune(load_model(tmp_path), read_source_tune(composed), 9, 10, settings)
    result = invoke("--fill", "9-10", "--from", str(composed), "--n", "1", "--seed", "2", "--candidates", "2",
                    "--format", "abc", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    again = read_source_tune(next(tmp_path.glob("*.json"))).melody
    assert again.notes == tune.melody.notes and again.repeat_marks == tune.melody.repeat_marks


def test_an_abc_tune_keeps_its_pickup_and_repeat_signs(tmp_path):
    from seqgan_music.corpora.folk import folk_files

    abc = folk_files(["oneills1850"])[0]
    source = read_source_tune(f"{abc}#5").melody  # a jig opening with a pickup
    assert source.notes[0].start < source.bars[0] and on_grid(source)
    result = invoke("--fill", "1-2", "--from", f"{abc}#5", "--n", "2", "--seed", "0", "--candidates", "2",
                    "--format", "abc", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    for written in sorted(tmp_path.glob("*.abc")):
        melody = read_source_tune(written).melody
        assert (melody.meter, melody.key.name) == (source.meter, source.key.name)
        assert_kept(melody, source, (1, 2))  # the pickup (bar 0) included
        assert json.loads(written.with_suffix(".json").read_text())["fill"]["source"]["tune"] == "5"


def test_notes_held_across_the_gaps_edges_are_cut_at_its_bar_lines(tmp_path):
    """A note held from bar 2 into the gap (bars 3-4) and one held from the gap into bar 5: the kept bars still
    sound as they did, the first note ends at bar 3's line (or goes on with the new bars' holds)."""
    notes = [Note(67, 0, 2), Note(69, 2, 4), Note(71, 4, 6), Note(72, 6, 10), Note(74, 10, 12), Note(72, 12, 14.5),
             Note(71, 14.5, 17), Note(69, 17, 20), Note(67, 20, 24)]
    path = tmp_path / "held.mid"
    write_midi(Melody(notes, [0, 4, 8, 12, 16, 20], "4/4"), path)
    source = read_source_tune(path)
    model = load_model(tmp_path)
    for seed in range(3):
        tune = fill_tune(model, source, 3, 4, FillSettings(count=1, seed=seed, candidates=2))
        assert_kept(tune.melody, source.melody, (3, 4))
        into = [n for n in tune.melody.notes if n.start == 6]
        assert len(into) == 1 and into[0].pitch == 72 and 8 <= into[0].end <= 16
        assert any(n.start == 16 and n.pitch == 71 for n in tune.melody.notes)  # struck again at bar 5's line


def test_export_writes_a_composed_whole_tune_and_a_filled_tune_as_their_sidecars_hold_them(composed, tmp_path):
    result = invoke("--fill", "5-8", "--from", str(composed), "--n", "1", "--seed", "4", "--candidates", "2",
                    "--format", "abc", "--out", str(tmp_path / "filled"))
    assert result.exit_code == 0, result.output
    filled = next((tmp_path / "filled").glob("*.json"))
    for sidecar, written in ((composed, composed.with_suffix(".abc")), (filled, filled.with_suffix(".abc"))):
        out = tmp_path / f"export-{sidecar.stem}"
        exported = runner.invoke(app, ["export", str(sidecar), "--format", "abc", "--out", str(out)])
        assert exported.exit_code == 0, exported.output
        again, notated = read_source_tune(next(out.glob("*.abc"))).melody, read_source_tune(written).melody
        assert again.notes == notated.notes and again.bars == notated.bars
        assert again.repeat_marks == notated.repeat_marks


def test_the_written_fill_is_the_candidate_the_following_bars_are_likeliest_under(composed, tmp_path):
    model = load_model(tmp_path)
    source = read_source_tune(composed)
    tune = fill_tune(model, source, 5, 6, FillSettings(count=1, seed=10, candidates=8))
    scores = tune.provenance["fill"]["scores"]
    assert len(scores) == 8 and scores[0] < max(scores)  # the first draw is not the best: the choice shows
    assert tune.provenance["fill"]["chosen"] == scores.index(max(scores))
    tokens = torch.tensor([model.vocabulary.ids([*tune.tokens, "<end>"])])
    gap_end = _tokens_of(model, source, 5, 6).stop
    rescored = float(right_context_scores(model, tokens, gap_end)[0])  # the written tune's bars after the gap
    assert rescored == pytest.approx(max(scores), abs=1e-3)
    assert rescored > min(scores) + 1e-3


def test_a_window_model_fills_from_its_left_context(window_model, shared_data, tmp_path):
    path = shared_data / "nottingham" / "MIDI" / NOTTINGHAM_TUNE
    source = read_source_tune(path)
    model = load_model(tmp_path, str(window_model))
    assert not model.whole_tunes
    changed = []
    for seed in range(3):
        tune = fill_tune(model, source, 2, 3, FillSettings(count=1, seed=seed, candidates=3))
        assert not any("=" in token or token == "PART" for token in tune.tokens)
        changed += assert_kept(tune.melody, source.melody, (2, 3))
        assert tune.provenance["fill"]["how"].startswith("left context, best of 3")
    assert changed


def test_a_maskgan_model_fills_with_infill_from_both_sides(composed, tmp_path):
    from dataclasses import replace

    from seqgan_music.models.maskgan import MaskGANGenerator

    default = load_model(tmp_path)
    vocabulary = default.vocabulary
    calls = []

    class Recording(MaskGANGenerator):
        def infill(self, tokens, keep, *args, **kwargs):
            calls.append((tokens.clone(), keep.clone()))
            return super().infill(tokens, keep, *args, **kwargs)

    torch.manual_seed(0)
    generator = Recording(len(vocabulary), 8, 8, pad_token=vocabulary.pad, end_token=vocabulary.end).eval()
    model = replace(default, generator=generator, name="tiny-maskgan")
    source = read_source_tune(composed)
    tune = fill_tune(model, source, 5, 8, FillSettings(count=1, seed=0))
    assert tune.provenance["fill"]["how"] == MASKGAN and tune.provenance["fill"]["scores"] == []
    (tokens, keep), = calls
    assert not keep.all() and keep[0, -1]  # the bars after the gap are read, not written
    filled = torch.tensor([vocabulary.ids(tune.tokens)])
    assert torch.equal(filled[keep], tokens[keep])
    assert_kept(tune.melody, source.melody, (5, 8))


def test_a_latent_models_candidates_are_scored_under_the_codes_they_were_drawn_from(composed, tmp_path):
    from dataclasses import replace

    from seqgan_music.composing.fill import _left_context_fill
    from seqgan_music.models.vae import SentenceVAE

    default = load_model(tmp_path)
    vocabulary = default.vocabulary
    torch.manual_seed(0)
    vae = SentenceVAE(len(vocabulary), 8, 16, 1, 4, end_token=vocabulary.end, pad_token=vocabulary.pad).eval()
    with torch.no_grad():  # weights large enough that the code matters (untrained, it barely would)
        for parameter in vae.parameters():
            parameter.normal_(0, 0.5)
    model = replace(default, generator=vae, name="tiny-vae")
    source = read_source_tune(composed)
    assert_kept(fill_tune(model, source, 1, 2, FillSettings(count=1, seed=5, candidates=4)).melody, source.melody, (1, 2))
    context = _tokens_of(model, source, 1, 2)  # a gap at the start: the code still reaches the bars after it
    written, scores, _ = _left_context_fill(model, context, 1.0, FillSettings(count=1, seed=5, candidates=4))
    best = scores.index(max(scores))
    codes = vae.prior_codes(4, torch.Generator().manual_seed(5))  # drawn first from the seed's noise, as compose does
    tokens = torch.tensor([vocabulary.ids([*written, "<end>"])])
    assert float(right_context_scores(model, tokens, context.stop, codes[best:best + 1])[0]) == pytest.approx(
        scores[best], abs=1e-5)
    assert abs(float(right_context_scores(model, tokens, context.stop)[0]) - scores[best]) > 1e-4  # code zero's


def test_a_trained_maskgan_run_fills_a_tune_from_the_command_line(tmp_path):
    from seqgan_music.config import apply_overrides, preset
    from seqgan_music.training.launch import start_run
    from test_tune_training import tune_home
    from training_helpers import TINY

    home = tune_home(tmp_path / "home")
    config = apply_overrides(preset("quick"), [*TINY, "mle.epochs=1", "mle.batch_size=4", "adversarial.rounds=0",
                                               "run.threads=1", "run.eval_samples=4", "run.samples=1",
                                               "run.method=maskgan", "maskgan.critic_hidden=4"])
    assert start_run(home, "tunes", config, "mg").run() == "finished"
    notes = [Note(60 + j % 5, j * 1.0, j * 1.0 + 1.0) for j in range(16)]  # a tune like the corpus's, 4 bars
    path = tmp_path / "tune.mid"
    write_midi(Melody(notes, [0, 4, 8, 12], "4/4", Key(0)), path)  # C major: no move into the model's key
    result = invoke("--fill", "2-3", "--from", str(path), "--run", "mg", "--n", "2", "--seed", "0", "--format", "mid",
                    "--out", str(tmp_path / "out"), "--home", str(home))
    assert result.exit_code == 0, result.output
    for midi in sorted((tmp_path / "out").glob("*.mid")):
        assert_kept(read_midi_melody(midi, midi.name), read_source_tune(path).melody, (2, 3))
        sidecar = json.loads(midi.with_suffix(".json").read_text())
        assert sidecar["fill"]["how"] == MASKGAN and "--run mg" in sidecar["command"]


@pytest.mark.parametrize(("args", "message"), [
    (["--fill", "5-8"], "--fill needs the tune to fill"),
    (["--from", "TUNE"], "--from names the tune to fill"),
    (["--fill", "8-5", "--from", "TUNE"], "invalid --fill '8-5'"),
    (["--fill", "5-", "--from", "TUNE"], "invalid --fill '5-'"),
    (["--fill", "0-2", "--from", "TUNE"], "bar 0 is"),
    (["--fill", "5-99", "--from", "TUNE"], "bars 5-99 are not all in"),
    (["--fill", "1-16", "--from", "TUNE"], "bars 1-16 are the whole of"),
    (["--fill", "5", "--from", "TUNE", "--key", "D"], "--key does not apply to --fill"),
    (["--fill", "5", "--from", "TUNE", "--candidates", "0"], "--candidates must be 1-256"),
    (["--fill", "5", "--from", "missing.mid"], "no such file"),
    (["--fill", "5", "--from", "damaged.mid"], "damaged.mid cannot be used"),
    (["--fill", "5", "--from", "damaged.json"], "damaged.json is not a composed tune's sidecar"),
    (["--fill", "5", "--from", "empty.abc"], "empty.abc cannot be used: no tunes"),
    (["--fill", "5", "--from", "notes.txt"], "give a composed tune's .json sidecar, a .mid or an .abc file"),
    (["--candidates", "4"], "--candidates sets how many fills --fill draws"),
    (["--fill", "2", "--from", "high.mid"], "note(s) E7 are outside the range of default, D3-A6"),
    (["--fill", "2", "--from", "seven.mid"], "default never saw a tune in 7/8"),
])
def test_bad_requests_are_one_line_and_write_nothing(composed, tmp_path, args, message):
    (tmp_path / "damaged.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    (tmp_path / "damaged.json").write_text('{"meter": {"written": "6/8"}}')
    (tmp_path / "empty.abc").write_text("% no tunes here\n")
    (tmp_path / "notes.txt").write_text("C4 D4\n")
    high = [Note(72, 0, 4), Note(74, 4, 8), Note(100, 8, 12)]  # bar 3 reaches E7, above the default model's A6
    write_midi(Melody(high, [0, 4, 8], "4/4", Key(0)), tmp_path / "high.mid")
    write_midi(Melody([Note(72, 0, 3.5), Note(74, 3.5, 7), Note(76, 7, 10.5)], [0, 3.5, 7], "7/8", Key(0)),
               tmp_path / "seven.mid")
    args = [str(composed) if a == "TUNE" else str(tmp_path / a) if a.endswith((".mid", ".json", ".abc", ".txt"))
            else a for a in args]
    result = invoke(*args, "--out", str(tmp_path / "out"))
    assert result.exit_code == 1, result.output
    assert message in result.output and result.output.strip().count("\n") == 0, result.output
    assert not (tmp_path / "out").exists()
