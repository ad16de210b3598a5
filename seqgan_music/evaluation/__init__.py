"""Evaluation: metrics of generated sequences against reference sets (BLEU, self-BLEU, ...).

May import numpy, torch and seqgan_music.{corpora, models, errors, formatting, plotting}; never typer,
rich or textual.
"""
