"""Training on whole tunes: rollouts every bar or every K tokens (one vectorized code path), and the
settings that choose them (rollout.every, data.unit)."""

from __future__ import annotations

import pytest
import torch

from seqgan_music.config import Config, apply_overrides, config_from_toml, config_to_toml
from seqgan_music.errors import SeqganError
from seqgan_music.models.discriminator import Discriminator
from seqgan_music.models.generator import Generator
from seqgan_music.training.rollout import rollout_noise, rollout_positions, rollout_rewards

VOCAB, LENGTH, BATCH, ROLLOUTS = 9, 14, 3, 2
PAD, END, BAR = 0, 1, 2


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def models() -> tuple[Generator, Discriminator]:
    torch.manual_seed(0)
    policy = Generator(VOCAB, 8, 8, end_token=END, pad_token=PAD)
    with torch.no_grad():
        for parameter in policy.parameters():
            parameter.mul_(3.0)  # visibly different distributions, so different prefixes get different Qs
    return policy.double(), Discriminator(VOCAB, LENGTH, 8, [1, 2, 3], [4, 4, 4]).double()


def tunes() -> torch.Tensor:
    """Three rows with bars of different lengths; row 1 ends early (then pads), like sampled tunes."""
    rows = [[BAR, 3, 4, 5, BAR, 6, 7, BAR, 3, 3, 3, 3, BAR, 8],
            [3, BAR, 4, 5, 6, BAR, 7, END, PAD, PAD, PAD, PAD, PAD, PAD],
            [BAR, 5, 5, 5, 5, 5, BAR, 4, 4, 4, 4, BAR, 6, 6]]
    return torch.tensor(rows)


def test_every_one_token_is_the_token_level_rollout_bit_for_bit():
    policy, discriminator = models()
    sequences = tunes()
    for every in (1, "1"):
        assert torch.equal(
            rollout_rewards(policy, discriminator, sequences, ROLLOUTS, generator=torch.Generator().manual_seed(4),
                            chunk_size=5, every=every),
            rollout_rewards(policy, discriminator, sequences, ROLLOUTS, generator=torch.Generator().manual_seed(4),
                            chunk_size=5))


def test_bar_rewards_are_the_token_level_q_at_each_bar_end_constant_within_the_bar():
    policy, discriminator = models()
    sequences = tunes()
    noise = rollout_noise(BATCH, LENGTH, ROLLOUTS, torch.Generator().manual_seed(5), None)
    # One row per step and per D call: the same completion is computed the same way in both runs.
    token = rollout_rewards(policy, discriminator, sequences, ROLLOUTS, noise, chunk_size=1)
    bar = rollout_rewards(policy, discriminator, sequences, ROLLOUTS, noise, chunk_size=1, every="bar", bar_token=BAR)
    mask = policy.token_mask(sequences)
    discriminator.eval()
    with torch.no_grad():  # Q(T) = D(x), scored one row per call as chunk_size=1 scores it
        whole = [torch.sigmoid(discriminator(sequences[b:b + 1]))[0] for b in range(BATCH)]
    for b in range(BATCH):
        row = sequences[b].tolist()
        # A bar ends before each BAR token (except at the start) and at the sequence's end.
        ends = [t - 1 for t in range(1, LENGTH) if row[t] == BAR] + [LENGTH - 1]
        start = 0
        for end in ends:
            q = whole[b] if end == LENGTH - 1 else token[b, end]
            for i in range(start, end + 1):
                expected = q if mask[b, i] else 0.0
                assert bar[b, i] == expected, (b, i, end)
            start = end + 1
    assert len(set(bar[0].tolist())) > 2  # the bars did get different Qs


def test_every_k_credits_each_token_with_the_next_kth_prefix():
    policy, discriminator = models()
    sequences = tunes()
    noise = rollout_noise(BATCH, LENGTH, ROLLOUTS, torch.Generator().manual_seed(6), None)
    token = rollout_rewards(policy, discriminator, sequences, ROLLOUTS, noise, chunk_size=1)
    every = rollout_rewards(policy, discriminator, sequences, ROLLOUTS, noise, chunk_size=1, every="4")
    mask = policy.token_mask(sequences).bool()
    for i in range(LENGTH):
        column = min((i // 4) * 4 + 3, LENGTH - 1)
        assert torch.equal(every[:, i], torch.where(mask[:, i], token[:, column], torch.zeros(BATCH).double()))


def test_rollout_positions_rolls_out_fewer_prefixes_per_bar():
    chosen = rollout_positions(tunes(), "bar", BAR)
    assert chosen[0].nonzero().flatten().tolist() == [3, 6, 11, 13]
    assert chosen[1].nonzero().flatten().tolist() == [0, 4, 13]  # nothing after the end token
    with pytest.raises(ValueError, match="bar_token"):
        rollout_positions(tunes(), "bar")
    with pytest.raises(ValueError, match="every"):
        rollout_positions(tunes(), 0)


def test_rollout_every_and_data_unit_are_validated_and_saved():
    config = apply_overrides(Config(), ["rollout.every=bar", "data.unit=tune"])
    assert (config.rollout.every, config.data.unit) == ("bar", "tune")
    assert config_from_toml(config_to_toml(config)).rollout.every == "bar"
    assert apply_overrides(Config(), ["rollout.every=4"]).rollout.every == "4"
    for bad, message in (("rollout.every=beat", "rollout.every"), ("rollout.every=0", "rollout.every"),
                         ("data.unit=bars", "data.unit must be one of window, tune")):
        with pytest.raises(SeqganError, match=message):
            apply_overrides(Config(), [bad])


def test_a_config_saved_before_data_unit_and_rollout_every_loads_as_windows_and_tokens():
    text = config_to_toml(Config())
    old = text.replace('every = "token"\n', "").split("[data]")
    old = old[0] + old[1].split("\n", 2)[2]  # drop the [data] section and its one field
    assert "[data]" not in old and "\nevery =" not in old
    config = config_from_toml(old)
    assert (config.data.unit, config.rollout.every) == ("window", "token")


# ----------------------------------------------------------------------- training on whole tunes
TINY_TUNES = [
    "generator.embedding=8", "generator.hidden=16", "generator.lookback=true", "discriminator.embedding=8",
    "discriminator.filter_scale=0.05", "mle.epochs=2", "mle.batch_size=4", "mle.eval_every=1",
    "pretrain_d.rounds=1", "pretrain_d.epochs=1", "pretrain_d.negatives=8", "adversarial.rounds=2",
    "adversarial.negatives=8", "adversarial.batch_size=2", "adversarial.rollouts=2", "adversarial.eval_every=1",
    "run.eval_samples=4", "run.samples=2", "run.checkpoint_every=1", "run.device=cpu", "rollout.chunk_size=64",
    "data.unit=tune", "rollout.every=bar", "run.method=seqgan",
]


def tune_home(tmp_path):
    """A grid16 corpus of 12 short tunes of 2, 3 and 4 bars (so whole tunes of different lengths)."""
    from seqgan_music.corpora.encodings import Grid16
    from seqgan_music.corpora.melody import Key, Melody, Note, bar_lines
    from seqgan_music.corpora.music import build_music_corpus
    from seqgan_music.corpora.split import SplitPlan

    melodies = []
    for i in range(12):
        bars = 2 + i % 3
        notes = [Note(60 + (i + j) % 5, j * 1.0, j * 1.0 + 1.0) for j in range(4 * bars)]
        melodies.append(Melody(notes, bar_lines([(0.0, "4/4")], 4.0 * bars), "4/4", Key(0), source=f"reel{i}.mid"))
    corpus = build_music_corpus("tunes", melodies, Grid16(length=16, stride=16), SplitPlan(), {"kind": "midi"})
    corpus.save(tmp_path)
    assert corpus.has_whole_tunes and len({len(t) for t in corpus.tune_sequences["train"]}) > 1
    return tmp_path


def test_a_seqgan_run_on_whole_tunes_with_bar_rewards_trains_resumes_exactly_and_writes_tunes(tmp_path):
    from seqgan_music.config import preset
    from seqgan_music.corpora.corpus import load_corpus
    from seqgan_music.training.launch import resume_run, start_run
    from seqgan_music.training.runs import read_metrics

    home = tune_home(tmp_path)
    settings = apply_overrides(preset("quick"), TINY_TUNES)
    whole = start_run(home, "tunes", settings, "whole")
    assert whole.run() == "finished"
    corpus = load_corpus(home, "tunes")
    longest = max(len(t) for t in corpus.tune_sequences["train"])
    assert whole.length == longest > corpus.length and whole.train_data.shape[1] == longest
    assert whole.discriminator.length == longest
    assert config_from_toml((whole.folder / "config.toml").read_text()).data.unit == "tune"

    class StopAfterFirstRound:
        trainer = None

        def on_event(self, event):
            if event.kind == "unit" and (event.phase, event.unit) == ("adversarial", 1):
                self.trainer.request_stop()

    stopper = StopAfterFirstRound()
    split = start_run(home, "tunes", settings, "split", stopper)
    stopper.trainer = split
    assert split.run() == "interrupted"
    resumed = resume_run(home, "split")
    assert resumed.run() == "finished"
    for name, tensor in whole.generator.state_dict().items():
        assert torch.equal(tensor, resumed.generator.state_dict()[name]), name
    for name, tensor in whole.discriminator.state_dict().items():
        assert torch.equal(tensor, resumed.discriminator.state_dict()[name]), name
    same = [[{k: v for k, v in r.items() if k != "elapsed"} for r in read_metrics(f)] for f in (whole.folder, resumed.folder)]
    assert same[0] == same[1]
    listing = (whole.folder / "samples" / "final.txt").read_text().splitlines()
    assert len(listing) == 2 and all("<end>" in line.split() for line in listing)  # whole tunes, with their end
    assert len(list((whole.folder / "samples").glob("final-*.mid"))) == 2


def test_whole_tunes_are_refused_for_a_corpus_without_them(tmp_path):
    from seqgan_music.config import preset
    from seqgan_music.corpora.grammar import build_grammar_corpus
    from seqgan_music.training.launch import start_run

    build_grammar_corpus("grammar", 15, count=50, seed=1).save(tmp_path)
    with pytest.raises(SeqganError, match="data.unit=tune needs whole tunes, and corpus 'grammar' keeps none"):
        start_run(tmp_path, "grammar", apply_overrides(preset("quick"), TINY_TUNES[:-2] + ["data.unit=tune"]), "r")


def test_mle_batches_hold_tunes_of_similar_length_in_a_seeded_order():
    from seqgan_music.training.mle import length_batches

    lengths = torch.tensor([5, 40, 6, 41, 7, 42, 8, 43])
    batches = length_batches(lengths, 2, torch.Generator().manual_seed(0))
    assert sorted(sorted(lengths[b].tolist()) for b in batches) == [[5, 6], [7, 8], [40, 41], [42, 43]]
    again = length_batches(lengths, 2, torch.Generator().manual_seed(0))
    assert [b.tolist() for b in batches] == [b.tolist() for b in again]


def test_sampling_stops_once_every_row_has_ended_without_changing_a_token():
    policy, _ = models()
    calls = []
    step = policy.step
    policy.step = lambda tokens, state: calls.append(1) or step(tokens, state)
    full = Generator.sample(policy, 6, 200, generator=torch.Generator().manual_seed(2))
    assert (full == END).any(dim=1).all() and len(calls) < 200  # it stopped early
    policy.step = step
    ended_at = (full == END).int().argmax(dim=1)
    assert all((full[b, ended_at[b] + 1:] == PAD).all() for b in range(6))
    # The tokens before each end are those of a run that never stops: the noise of step t is the same.
    policy.end_token = None
    unstopped = policy.sample(6, 200, generator=torch.Generator().manual_seed(2))
    for b in range(6):
        assert torch.equal(full[b, :ended_at[b] + 1], unstopped[b, :ended_at[b] + 1])


def test_a_window_model_never_samples_whole_tunes_tokens(tmp_path):
    from seqgan_music.config import preset
    from seqgan_music.corpora.corpus import load_corpus
    from seqgan_music.corpora.tunes import tune_only_tokens
    from seqgan_music.training.build import build_generator

    corpus = load_corpus(tune_home(tmp_path), "tunes")
    banned = tune_only_tokens(corpus.vocabulary)
    names = {corpus.vocabulary.tokens[i] for i in banned}
    assert "PART" in names and any(n.startswith("meter=") for n in names) and "BAR" not in names
    window = build_generator(corpus, apply_overrides(preset("quick"), ["generator.embedding=4", "generator.hidden=4"]))
    with torch.no_grad():
        window.output.bias[banned] = 50.0  # the model would write nothing else
    samples = window.sample(8, 32, generator=torch.Generator().manual_seed(0))
    assert not torch.isin(samples, torch.tensor(banned)).any()
    tune = build_generator(corpus, apply_overrides(preset("quick"), ["generator.embedding=4", "generator.hidden=4",
                                                                     "data.unit=tune"]))
    assert not tune.bans


@pytest.mark.parametrize("name", ["folk-tunes", "tunes-quick"])
def test_the_tune_presets_train_whole_tunes_with_bar_rewards_end_to_end(tmp_path, name):
    from seqgan_music.config import TUNE_PRESETS, preset
    from seqgan_music.training.launch import start_run

    assert name in TUNE_PRESETS
    settings = preset(name)
    assert (settings.data.unit, settings.rollout.every, settings.generator.lookback) == ("tune", "bar", True)
    # The preset's own schedule, shrunk so the test is quick; unit, rewards and lookback stay the preset's.
    trainer = start_run(tune_home(tmp_path), "tunes", apply_overrides(settings, TINY_TUNES[:-3]), "run")
    assert trainer.run() == "finished"
    assert (trainer.folder / "samples" / "final.txt").is_file()


def test_pg_bleu_on_whole_tunes_rewards_by_bleu_against_training_tunes(tmp_path):
    from seqgan_music.config import preset
    from seqgan_music.training.launch import start_run
    from seqgan_music.training.runs import read_metrics

    settings = apply_overrides(preset("quick"), TINY_TUNES[:-1] + ["run.method=pg-bleu", "pg_bleu.reference_share=1.0"])
    trainer = start_run(tune_home(tmp_path), "tunes", settings, "bleu")
    # Every whole training tune is a reference, so each scores BLEU 1 (against windows, its header would not).
    assert torch.allclose(trainer.method.scorer()(trainer.train_data), torch.ones(len(trainer.train_data)))
    assert trainer.run() == "finished"
    assert [r["phase"] for r in read_metrics(trainer.folder)].count("adversarial") == 2
