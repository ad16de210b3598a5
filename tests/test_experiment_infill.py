"""`experiment infill`: MaskGAN against MLE in-filling and a plain MLE run's left-context fill, on
held-out tunes with bars masked and captions with a span masked: the definition, the masks, the
fillers, the scores, and a tiny end-to-end run whose report is checked against the scores."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from seqgan_music.cli import app
from seqgan_music.config import config_to_dict
from seqgan_music.corpora.encodings import BAR
from seqgan_music.errors import SeqganError
from seqgan_music.experiments.infill import LEFT_CONTEXT, MASKGAN, MLE_INFILL, infill_experiment
from seqgan_music.experiments.infill_masks import music_masks, step_tokens, text_masks

runner = CliRunner()
TRAIN = ("hpps40.mid", "reelsa-c31.mid", "reelsa-c32.mid", "hpps26.mid", "hpps27.mid", "hpps32.mid", "hpps51.mid",
         "morris12.mid")
VALID = ("jigs67.mid", "jigs76.mid")
TEST = ("reelsh-l38.mid", "hpps10.mid", "hpps12.mid", "hpps13.mid", "hpps14.mid")  # 8, 9, 9, 9 and 9 bars
TINY = ["generator.embedding=8", "generator.hidden=16", "discriminator.embedding=8", "maskgan.critic_hidden=8",
        "mle.epochs=2", "mle.batch_size=8", "pretrain_d.rounds=1", "pretrain_d.negatives=16", "adversarial.rounds=1",
        "adversarial.negatives=16", "adversarial.batch_size=4", "run.eval_samples=8", "run.samples=2", "run.device=cpu"]


def without(config, *fields: tuple[str, str]) -> dict:
    data = config_to_dict(config)
    for section, name in fields:
        data[section].pop(name)
    return data


def test_each_corpus_has_the_three_rows_alike_but_for_the_method_and_the_rounds():
    experiment = infill_experiment("quick", seed=4)
    assert experiment.name == "infill-quick" and [part.task for part in experiment.parts] == ["music", "text"]
    music, text = experiment.parts
    assert (music.experiment.corpus, text.experiment.corpus) == ("nottingham", "coco")
    assert music.masks == ("bars", "random-bars") and text.masks == ("span",)
    for part in experiment.parts:
        rows = part.experiment.runs
        assert [(r.label, r.config.run.method) for r in rows] == [(MLE_INFILL, "maskgan"), (MASKGAN, "maskgan"),
                                                                   (LEFT_CONTEXT, "mle")]
        start, maskgan, plain = rows
        assert start.config.adversarial.rounds == 0 and maskgan.config.adversarial.rounds > 0
        assert start.init is None and maskgan.init == start.run and plain.init is None
        assert without(start.config, ("adversarial", "rounds")) == without(maskgan.config, ("adversarial", "rounds"))
        assert without(plain.config, ("run", "method")) == without(maskgan.config, ("run", "method"))
        assert all(r.config.run.seed == 4 and r.config.run.threads == 1 for r in rows)
        assert part.experiment.focus == MASKGAN and part.seed == 4
    assert music.experiment.runs[0].config.data.unit == "tune" and not music.experiment.runs[0].config.generator.lookback
    assert text.items == 300 and music.items == 0
    full = infill_experiment("full", ["text"], tag="b", overrides=["mle.epochs=1"], items=50)
    assert full.name == "infill-b" and [p.task for p in full.parts] == ["text"] and full.parts[0].items == 50
    assert all(r.config.mle.epochs == 1 for r in full.parts[0].experiment.runs)
    assert full.parts[0].experiment.runs[0].run == "infill-b-text-mle-infill"


@pytest.mark.parametrize("kwargs, message", [
    ({"schedule": "slow"}, "--schedule must be one of quick, full"),
    ({"tasks": ["music", "poems"]}, "--corpora: name music, text or both"),
    ({"items": -1}, "--items must be 0"),
    ({"candidates": 0}, "--candidates must be between 1 and 64"),
])
def test_bad_settings_are_refused_in_one_line(kwargs, message):
    with pytest.raises(SeqganError, match=message):
        infill_experiment(**kwargs)


@pytest.fixture(scope="module")
def tiny_home(shared_data, tmp_path_factory):
    """A home with a corpus of 15 short Nottingham tunes (8 train, 2 valid, 5 test) and a folder of
    captions from a small grammar (built into a corpus by the experiment's --data)."""
    from seqgan_music.corpora.encodings import music_encoding
    from seqgan_music.corpora.midi import read_midi_melody
    from seqgan_music.corpora.music import build_music_corpus
    from seqgan_music.corpora.split import SplitPlan

    folder = shared_data / "nottingham" / "MIDI"
    splits = {name: split for split, names in (("train", TRAIN), ("valid", VALID), ("test", TEST)) for name in names}
    melodies = [read_midi_melody(folder / name, name) for name in splits]
    home = tmp_path_factory.mktemp("infill-home")
    build_music_corpus("notts", melodies, music_encoding("grid16"), SplitPlan(assigned=splits), {"kind": "midi"}).save(home)
    rng = random.Random(0)
    things, places, verbs = ["a dog", "a cat", "two men", "a bus"], ["on a bed", "in a park", "near a road ."], ["sits", "runs"]
    captions = home / "captions"
    captions.mkdir()
    for name, count in (("train.txt", 200), ("test.txt", 30)):
        lines = [f"{rng.choice(things)} {rng.choice(verbs)} {rng.choice(places)}" for _ in range(count)]
        (captions / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return home


@pytest.fixture(scope="module")
def notts(tiny_home):
    from seqgan_music.corpora.corpus import load_corpus

    return load_corpus(tiny_home, "notts")


def test_bars_5_to_8_mask_exactly_the_steps_of_those_bars_in_every_tune_with_a_bar_after_them(notts):
    masked = music_masks(notts, "bars", 5, 8, seed=0)
    bar = notts.vocabulary.id(BAR)
    is_step = step_tokens(notts)
    assert list(masked.items) == [1, 2, 3, 4]  # the 8-bar tune has no bar after bar 8
    for row, keep in zip(masked.tokens, masked.keep):
        gap = np.flatnonzero(~keep)
        assert is_step[row[gap]].all()  # only steps: bar lines and structure stay
        bars_before = np.cumsum(row == bar)  # bar number of each position
        assert set(bars_before[gap]) == {5, 6, 7, 8}
        in_bars = np.flatnonzero(np.isin(bars_before, [5, 6, 7, 8]) & is_step[row])
        assert list(gap) == list(in_bars)  # every step of those bars
    assert masked.banned[bar] and not masked.banned[is_step].any()


def test_random_bars_are_drawn_by_the_seed_four_distinct_bars_per_tune(notts):
    bar = notts.vocabulary.id(BAR)
    first, again, other = (music_masks(notts, "random-bars", 5, 8, seed=s) for s in (3, 3, 4))
    assert np.array_equal(first.keep, again.keep) and not np.array_equal(first.keep, other.keep)
    for row, keep in zip(first.tokens, first.keep):
        assert len(set(np.cumsum(row == bar)[~keep])) == 4


def test_text_masks_are_one_span_of_half_the_words_drawn_by_the_seed():
    from seqgan_music.corpora.oracle import build_oracle_corpus

    corpus = build_oracle_corpus("o", seed=1, train=10, held_out=40, length=10)
    masked = text_masks(corpus, 0.5, seed=2, items=12)
    assert len(masked.tokens) == 12 and np.array_equal(masked.keep, text_masks(corpus, 0.5, seed=2, items=12).keep)
    for keep in masked.keep:
        gap = np.flatnonzero(~keep)
        assert len(gap) == 5 and list(gap) == list(range(gap[0], gap[0] + 5))  # one contiguous span of 10 / 2
    assert not np.array_equal(masked.keep, text_masks(corpus, 0.5, seed=3, items=12).keep)


def tiny_generators(vocab: int):
    from seqgan_music.models.generator import Generator
    from seqgan_music.models.maskgan import MaskGANGenerator

    torch.manual_seed(0)
    return {"plain": Generator(vocab, 8, 16), "maskgan": MaskGANGenerator(vocab, 8, 16)}


@pytest.mark.parametrize("kind", ["plain", "maskgan"])
def test_every_filler_keeps_every_kept_token_and_never_writes_a_banned_one(kind):
    from seqgan_music.experiments.infill_fill import fill_items

    generator = tiny_generators(12)[kind]
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 12, size=(40, 15))
    keep = rng.random((40, 15)) < 0.6
    banned = np.zeros(12, dtype=bool)
    banned[[0, 5, 7]] = True
    filled = fill_items(generator, tokens, keep, banned, seed=1, candidates=3)
    assert np.array_equal(filled[keep], tokens[keep])
    assert not banned[filled[~keep]].any()
    assert (filled[~keep] != tokens[~keep]).any()  # the gaps are written, not copied
    assert np.array_equal(filled, fill_items(generator, tokens, keep, banned, seed=1, candidates=3))


def test_the_left_context_fill_keeps_the_candidate_under_which_the_tokens_after_the_gap_are_likeliest():
    from seqgan_music.experiments.infill_fill import _write_left_to_right, left_context_fill

    generator = tiny_generators(9)["plain"]
    tokens = torch.randint(0, 9, (6, 12), generator=torch.Generator().manual_seed(0))
    keep = torch.ones_like(tokens, dtype=torch.bool)
    keep[:, 3:6] = False
    banned = torch.zeros(9, dtype=torch.bool)
    chosen = left_context_fill(generator, tokens, keep, banned, torch.Generator().manual_seed(5), candidates=4)
    candidates = _write_left_to_right(generator, tokens.repeat_interleave(4, dim=0), keep.repeat_interleave(4, dim=0),
                                      banned, torch.Generator().manual_seed(5), 1.0).view(6, 4, 12)
    with torch.no_grad():
        def after_gap(rows):  # log-likelihood of the kept tokens after the gap
            return generator.log_probs(rows)[:, 6:].sum(dim=1)
        best = torch.stack([after_gap(candidates[:, k]) for k in range(4)], dim=1).max(dim=1).values
    assert torch.allclose(after_gap(chosen), best)
    assert any(not torch.equal(candidates[i, 0], candidates[i, 1]) for i in range(6))  # the candidates differ


def test_a_fill_that_writes_the_real_span_scores_one_and_the_real_tunes_form(notts):
    from seqgan_music.experiments.infill_scores import form_values, music_scores, span_bleu

    masked = music_masks(notts, "bars", 5, 8, seed=0)
    scores = music_scores(notts, masked, masked.tokens)
    assert np.allclose(scores["bleu4"], 1) and np.allclose(scores["bleu4_all"], 1) and np.all(scores["exact"] == 1)
    real = form_values(notts, masked.tokens)
    assert all(np.array_equal(scores[m], real[m], equal_nan=True) for m in real)
    other = masked.tokens.copy()
    other[~masked.keep] = masked.tokens[~masked.keep][::-1]  # the gaps' steps reversed
    assert music_scores(notts, masked, other)["exact"].sum() < len(other)
    same, disjoint = span_bleu([np.array([1, 2, 3, 4]), np.array([1, 2, 3, 4])],
                               [np.array([1, 2, 3, 4]), np.array([5, 6, 7, 8])], (2,))["bleu2"]
    assert same == pytest.approx(1) and disjoint == 0


def test_a_tiny_experiment_fills_the_same_masks_with_every_row_and_reports_the_scores_it_computed(tiny_home, monkeypatch):
    from seqgan_music.experiments import infill_run

    calls = []
    real_fill = infill_run.fill_items

    def recording(generator, tokens, keep, banned, seed, candidates, temperature=1.0):
        filled = real_fill(generator, tokens, keep, banned, seed, candidates, temperature)
        calls.append((type(generator).__name__, tokens.copy(), keep.copy(), filled))
        return filled

    monkeypatch.setattr(infill_run, "fill_items", recording)
    options = [f"--set={setting}" for setting in TINY]
    result = runner.invoke(app, ["experiment", "infill", "--quick", "--music-corpus", "notts", "--text-corpus", "caps",
                                 "--data", str(tiny_home / "captions"), "--items", "20", "--candidates", "3",
                                 "--device", "cpu", "--home", str(tiny_home), *options])
    assert result.exit_code == 0, result.output
    assert len(calls) == 9  # music: two masks x three rows; text: one mask x three rows
    for group in (calls[0:3], calls[3:6], calls[6:9]):  # one mask: the same items and the same gaps in every row
        assert all(np.array_equal(group[0][1], c[1]) and np.array_equal(group[0][2], c[2]) for c in group)
        assert [c[0] for c in group] == ["MaskGANGenerator", "MaskGANGenerator", "Generator"]
        assert all(np.array_equal(c[3][c[2]], c[1][c[2]]) for c in group)  # kept tokens kept
    assert not np.array_equal(calls[0][2], calls[3][2])  # bars 5-8 and random bars differ

    folder = tiny_home / "checkpoints" / "infill-quick"
    data = json.loads((folder / "report.json").read_text())
    music, text = data["parts"]
    assert [m["mask"] for m in music["masks"]] == ["bars", "random-bars"] and text["masks"][0]["items"] == 20
    assert music["masks"][0]["items"] == 4
    assert music["runs"][1]["init"] == "infill-quick-music-mle-infill"  # MaskGAN started from MLE in-filling
    from seqgan_music.corpora.corpus import load_corpus
    from seqgan_music.experiments.infill_scores import mean, music_scores, text_scores

    notts, caps = load_corpus(tiny_home, "notts"), load_corpus(tiny_home, "caps")
    music_mask = music_masks(notts, "bars", 5, 8, seed=0, items=20)
    text_mask = text_masks(caps, 0.5, seed=0, items=20)
    for index, row in enumerate(music["masks"][0]["rows"]):
        expected = music_scores(notts, music_mask, calls[index][3])
        assert {m: row[m] for m in expected} == pytest.approx({m: round(mean(v), 6) for m, v in expected.items()})
    for index, row in enumerate(text["masks"][0]["rows"]):
        expected = text_scores(text_mask, calls[6 + index][3])
        assert {m: row[m] for m in expected} == pytest.approx({m: round(mean(v), 6) for m, v in expected.items()})
    report = (folder / "report.md").read_text()
    maskgan_line = next(line for line in report.splitlines()
                        if line.startswith("| MaskGAN |") and f"{text['masks'][0]['rows'][1]['bleu2']:.4f}" in line)
    assert all(f"{text['masks'][0]['rows'][1][m]:.4f}" in maskgan_line for m in ("bleu2", "bleu3", "bleu4", "exact"))
    assert "Real (unfilled)" in report and "Permutation p-values, MaskGAN against each row" in report
    assert data["command"] in report
    lines = list(csv.DictReader(io.StringIO((folder / "report.csv").read_text())))
    found = {(l["corpus"], l["mask"], l["row"], l["metric"]): l["value"] for l in lines}
    assert float(found[("text", "span", "MaskGAN", "bleu3")]) == text["masks"][0]["rows"][1]["bleu3"]


def test_a_music_corpus_without_whole_tunes_is_refused_in_one_line(tmp_path):
    from seqgan_music.corpora.grammar import build_grammar_corpus

    build_grammar_corpus("g3", 3, count=50, seed=1).save(tmp_path)
    result = runner.invoke(app, ["experiment", "infill", "--corpora", "music", "--music-corpus", "g3",
                                 "--home", str(tmp_path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "corpus 'g3' keeps no whole tunes: the in-filling experiment masks bars of held-out tunes" in result.output
