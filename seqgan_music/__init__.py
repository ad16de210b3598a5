"""seqgan-music: compose folk tunes with Sequence Generative Adversarial Nets.

Layers (each folder's __init__ says what it may import):
corpora/ (sources -> token sequences), models/, export/, and the interfaces cli/ (Typer + rich).
The core never imports typer, rich or textual; it reports progress through `progress.Reporter`.
"""

__version__ = "0.1.0"
