"""Training: MLE pre-training, the vectorized Monte Carlo rollout, Algorithm 1 of the SeqGAN paper,
runs on disk (config, checkpoints, metrics, samples) and the events a run reports.

May import torch, numpy and seqgan_music.{config, models, corpora, errors, atomic, paths};
never typer, rich or textual (interfaces consume `events.TrainingObserver`).
"""
