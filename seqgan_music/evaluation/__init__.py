"""Evaluation: metrics of generated sequences against reference sets (BLEU, self-BLEU, MSE, music
statistics, novelty, form, C2ST, significance tests), pure functions of token sequences and corpora.

May import numpy, scipy, torch and seqgan_music.{corpora, models} and the top-level modules; never
training/ (which scores with these metrics: PG-BLEU's reward) or run_evaluation/, which reads
trained runs, nor export/ (a peer; seqgan_music/layers.py), nor typer, rich or textual.
"""
