"""Rollout benchmark: the reward computation of one adversarial generator step at the paper's sizes.

Batch 64, length 20, vocabulary 5,000, generator embedding/hidden 32/32, 16 rollouts, the paper's
discriminator (embedding 64, widths 1-10, 15, 20 with 1,720 filters in all); random weights.
Compares the naive reference rollout (float32) with the vectorized one for several chunk sizes and
D precisions, timing completion sampling and discriminator scoring separately (median of
`--repeats` after one warm-up). All configurations share one noise tensor, so their completions
can be compared with the naive ones exactly.

    python benchmarks/rollout_step.py [--device cuda] [--repeats 3] [--chunks 128,256,512,1024,all]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch

from seqgan_music.models.discriminator import Discriminator
from seqgan_music.models.generator import Generator
from seqgan_music.training.rollout import (
    PRECISIONS,
    naive_rollout_completions,
    naive_score_completions,
    rollout_completions,
    rollout_noise,
    score_completions,
)

BATCH, LENGTH, VOCAB, ROLLOUTS = 64, 20, 5000, 16
ROWS = (LENGTH - 1) * ROLLOUTS * BATCH  # 19,456 completions per step


def timed(work: Callable[[], torch.Tensor], device: torch.device, repeats: int) -> tuple[list[float], torch.Tensor]:
    """One warm-up call, then `repeats` timed calls; the per-call seconds and the last result."""

    def once() -> tuple[float, torch.Tensor]:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        result = work()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - started, result

    once()
    runs = [once() for _ in range(repeats)]
    return [seconds for seconds, _ in runs], runs[-1][1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats after one warm-up (default 3)")
    parser.add_argument("--chunks", default="128,256,512,1024",
                        help="comma-separated chunk sizes of the vectorized rollout; 'all' = every row at once")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda was given but torch sees no CUDA device")
    chunks = [ROWS if c.strip() == "all" else int(c) for c in args.chunks.split(",")]

    torch.manual_seed(args.seed)
    policy = Generator(VOCAB, 32, 32, start_token=0).to(device)
    discriminator = Discriminator(VOCAB, LENGTH).to(device)  # embedding 64, the paper's full filter bank
    rng = torch.Generator(device=device).manual_seed(args.seed)
    sequences = policy.sample(BATCH, LENGTH, generator=rng)  # (B, T)
    noise = rollout_noise(BATCH, LENGTH, ROLLOUTS, rng, device)  # (N, T-1, B, T)

    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""))
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"one generator step: batch {BATCH}, length {LENGTH}, vocabulary {VOCAB}, {ROLLOUTS} rollouts "
          f"= {ROWS} completions; D with {sum(c.out_channels for c in discriminator.convs)} filters; "
          f"median of {args.repeats} after a warm-up\n")

    header = f"{'configuration':<30} {'sampling s':>10} {'D s':>8} {'total s':>8} {'vs naive':>9}  notes"
    print(header)
    print("-" * len(header))

    sample_times, naive_completions = timed(
        lambda: naive_rollout_completions(policy, sequences, ROLLOUTS, noise), device, args.repeats)
    score_times, naive_rewards = timed(
        lambda: naive_score_completions(discriminator, policy, sequences, naive_completions), device, args.repeats)
    naive_total = statistics.median(s + d for s, d in zip(sample_times, score_times))
    print(f"{'naive reference, float32':<30} {statistics.median(sample_times):>10.3f} "
          f"{statistics.median(score_times):>8.3f} {naive_total:>8.3f} {1.0:>8.2f}x", flush=True)

    best: tuple[float, str] = (float("inf"), "")
    bf16_gap = 0.0
    for chunk in chunks:
        sample_times, completions = timed(
            lambda: rollout_completions(policy, sequences, ROLLOUTS, noise, chunk_size=chunk), device, args.repeats)
        differing = int((completions != naive_completions).any(dim=-1).sum())
        rewards_by_precision = {}
        for precision in PRECISIONS:
            score_times, rewards = timed(
                lambda: score_completions(discriminator, policy, sequences, completions, chunk, precision),
                device, args.repeats)
            rewards_by_precision[precision] = rewards
            total = statistics.median(s + d for s, d in zip(sample_times, score_times))
            label = f"vectorized, chunk {'all' if chunk == ROWS else chunk}, {precision}"
            if precision == "float32":
                notes = (f"max |r - naive| {(rewards - naive_rewards).abs().max().item():.1e}, "
                         f"{differing} of {ROWS} completions differ from naive")
            else:
                gap = (rewards - rewards_by_precision["float32"]).abs().max().item()
                bf16_gap = max(bf16_gap, gap)
                notes = f"max |r_bf16 - r_fp32| {gap:.1e}"
            print(f"{label:<30} {statistics.median(sample_times):>10.3f} {statistics.median(score_times):>8.3f} "
                  f"{total:>8.3f} {naive_total / total:>8.2f}x  {notes}", flush=True)
            best = min(best, (total, label))

    other_noise = rollout_noise(BATCH, LENGTH, ROLLOUTS, torch.Generator(device=device).manual_seed(args.seed + 1), device)
    other_rewards = score_completions(discriminator, policy, sequences,
                                      rollout_completions(policy, sequences, ROLLOUTS, other_noise), chunks[0])
    monte_carlo = (other_rewards - naive_rewards).abs()[:, :-1]  # Q(T) has no rollout noise
    print(f"\nbest: {best[1]}, {best[0]:.3f} s per step, {naive_total / best[0]:.2f}x faster than naive "
          f"({naive_total:.3f} s)")
    print(f"max |reward difference| bfloat16 vs float32 over all chunk sizes: {bf16_gap:.2e}")
    print(f"for scale, the Monte Carlo noise: float32 rewards from two rollout seeds differ by "
          f"{monte_carlo.mean().item():.1e} on average, {monte_carlo.max().item():.1e} at most")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
