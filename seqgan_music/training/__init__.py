"""Training: MLE pre-training, the vectorized Monte Carlo rollout, Algorithm 1 of the SeqGAN paper,
runs on disk (config, checkpoints, metrics, samples) and the events a run reports.

May import torch, numpy and seqgan_music.{models, corpora, export, evaluation} (the metrics) and the
top-level modules (config, errors, atomic, paths, ...); never run_evaluation/, composing/ or anything
above them (seqgan_music/layers.py), nor typer, rich or textual (interfaces consume
`events.TrainingObserver`).
"""
