"""Models: torch modules (the oracle LSTM now; generator and discriminator with training).

May import torch and numpy and seqgan_music.errors; never the corpora, CLI or TUI.
"""
