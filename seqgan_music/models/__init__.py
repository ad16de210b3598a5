"""Models: torch modules: the generator (LSTM, sampling), the discriminator (CNN + highway), the
oracle LSTM of the SeqGAN paper, and the noise-driven categorical sampler they share.

May import torch and numpy and seqgan_music.errors; never the corpora, training, CLI or TUI.
"""
