"""Build the generator and discriminator a config asks for, sized to a corpus."""

from __future__ import annotations

from seqgan_music.config import Config
from seqgan_music.corpora.corpus import Corpus
from seqgan_music.models.discriminator import Discriminator
from seqgan_music.models.generator import Generator


def build_generator(corpus: Corpus, config: Config) -> Generator:
    """Oracle corpora feed their start token 0 (a normal token); others get an extra start row."""
    settings, vocabulary = config.generator, corpus.vocabulary
    return Generator(len(vocabulary), settings.embedding, settings.hidden, settings.layers,
                     start_token=corpus.manifest.get("source", {}).get("start_token"),
                     end_token=vocabulary.end, pad_token=vocabulary.pad)


def build_discriminator(corpus: Corpus, config: Config) -> Discriminator:
    """The configured filter bank without widths longer than the windows, counts scaled."""
    settings = config.discriminator
    kept = [(w, c) for w, c in zip(settings.filter_widths, settings.filter_counts) if w <= corpus.length]
    widths = tuple(w for w, _ in kept)
    counts = tuple(max(1, round(c * settings.filter_scale)) for _, c in kept)
    return Discriminator(len(corpus.vocabulary), corpus.length, settings.embedding, widths, counts,
                         settings.dropout_keep, settings.l2)
