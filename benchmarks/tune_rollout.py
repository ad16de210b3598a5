"""One adversarial generator step at whole-tune length: rewards per bar against rewards per token.

Builds the grid16 Nottingham corpus from its MIDI folder (about half a minute), takes a lookback
generator and a discriminator sized as the folk-tunes preset sizes them, and times one SeqGAN
generator step (Monte Carlo rewards by `rollout_rewards`, then the policy-gradient loss's backward
pass and an Adam step) on ONE batch: the `--batch` longest training tunes, with the same rollout
noise seed, for rollout.every = "bar" (rollouts only from the prefixes that end at a bar line) and
"token" (the paper's, from every prefix). The rollout network may not draw <end>, so every
completion runs to the batch's full length, as a trained generator's would (an untrained one ends
its completions early). A small batch and few rollouts, so the token version finishes.

    python benchmarks/tune_rollout.py                          # B=2, N=2 on the CPU
    python benchmarks/tune_rollout.py --batch 4 --rollouts 4 --json /tmp/tune_rollout.json
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch

from seqgan_music.config import apply_overrides, preset
from seqgan_music.corpora.encodings import BAR, music_encoding
from seqgan_music.corpora.midi import read_midi_folder
from seqgan_music.corpora.music import build_music_corpus
from seqgan_music.corpora.split import SplitPlan
from seqgan_music.training.build import build_discriminator, build_generator
from seqgan_music.training.optimization import descend
from seqgan_music.training.rollout import rollout_positions, rollout_rewards
from seqgan_music.training.sequences import padded, sample_length

DEFAULT_MIDI = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "nottingham" / "MIDI"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--midi", type=Path, default=DEFAULT_MIDI, help="the Nottingham MIDI folder")
    parser.add_argument("--batch", type=int, default=2, help="tunes in the generator's batch")
    parser.add_argument("--rollouts", type=int, default=2, help="Monte Carlo rollouts per rolled-out prefix")
    parser.add_argument("--preset", default="folk-tunes", help="the preset whose model sizes to time")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the 2-core target)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not args.midi.is_dir():
        print(f"no MIDI folder at {args.midi}", file=sys.stderr)
        return 1
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    corpus = build_music_corpus("nottingham", read_midi_folder(args.midi), music_encoding("grid16"), SplitPlan(),
                                {"kind": "midi"})
    print(f"corpus: {len(corpus.tune_sequences['train'])} training tunes, {time.perf_counter() - started:.0f} s")
    config = apply_overrides(preset(args.preset), [f"adversarial.batch_size={args.batch}",
                                                    f"adversarial.rollouts={args.rollouts}", "run.device=cpu"])
    length = sample_length(corpus, "tune")
    torch.manual_seed(0)
    generator = build_generator(corpus, config)
    discriminator = build_discriminator(corpus, config, length)
    bar = corpus.vocabulary.id(BAR)
    figures: dict = {"tune_length": length, "batch": args.batch, "rollouts": args.rollouts}
    longest = sorted(corpus.tune_sequences["train"], key=len)[-args.batch:]
    batch = padded(longest, corpus.vocabulary.pad, torch.device("cpu"))  # (B, T)
    figures["batch_lengths"] = [len(tune) for tune in longest]
    for every in ("bar", "token"):
        model = copy.deepcopy(generator)
        policy = copy.deepcopy(model)
        policy.ban([corpus.vocabulary.end])  # completions run to the full length, as a trained model's do
        optimizer = torch.optim.Adam(model.parameters(), lr=config.adversarial.learning_rate)
        rows = int(rollout_positions(batch, every, bar)[:, :-1].sum()) * args.rollouts
        began = time.perf_counter()
        rewards = rollout_rewards(policy, discriminator, batch, args.rollouts, generator=torch.Generator().manual_seed(1),
                                  chunk_size=config.rollout.chunk_size, every=every, bar_token=bar)
        rollout_seconds = time.perf_counter() - began
        loss = -(model.log_probs(batch) * (rewards - rewards.mean(dim=0)) * model.token_mask(batch)).sum()
        descend(loss, list(model.parameters()), optimizer, config.adversarial.grad_clip)
        seconds = time.perf_counter() - began
        figures[every] = {"seconds": round(seconds, 2), "rollout_seconds": round(rollout_seconds, 2),
                          "rollout_rows": rows}
        print(f"every={every:5s}  {seconds:8.2f} s (rollout {rollout_seconds:.2f} s)  {rows:7d} rollout rows  "
              f"(tune lengths {figures['batch_lengths']})", flush=True)
    figures["token_over_bar"] = round(figures["token"]["seconds"] / figures["bar"]["seconds"], 1)
    print(f"token rewards take {figures['token_over_bar']}x the time of bar rewards")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
