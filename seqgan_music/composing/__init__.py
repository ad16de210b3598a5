"""Composing: a trained generator (a run, a packed model, or the shipped default) turned into finished
tunes with a key, a meter, a primer, optional chords and their provenance, written in every format.

May import torch, numpy and seqgan_music.{corpora, models, training, evaluation, export, atomic,
errors, progress}; never typer, rich or textual.
"""
