"""Maximum likelihood alone: the SeqGAN paper's MLE baseline (teacher forcing, no adversary)."""

from __future__ import annotations

from seqgan_music.phases import MLE
from seqgan_music.training.methods.base import Method


class MaximumLikelihood(Method):
    name = "mle"
    label = "MLE"
    summary = "MLE: maximum likelihood only (teacher forcing): the baseline every method starts from"
    phases = (MLE,)
