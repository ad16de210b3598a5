"""Models: torch modules: the generator (LSTM, sampling), the discriminator (CNN + highway), the
oracle LSTM of the SeqGAN paper, and the noise-driven categorical sampler they share.

May import torch, numpy and seqgan_music's top-level modules (errors); never the corpora, training,
CLI or TUI (seqgan_music/layers.py).
"""
