"""Build the generator and discriminator a config asks for, sized to a corpus."""

from __future__ import annotations

from typing import TypeVar

from torch import nn

from seqgan_music.config import Config
from seqgan_music.corpora.corpus import Corpus
from seqgan_music.corpora.encodings import BAR
from seqgan_music.corpora.tunes import HEADER_FIELDS, PART, tune_only_tokens
from seqgan_music.errors import SeqganError
from seqgan_music.models.discriminator import Discriminator
from seqgan_music.models.generator import Generator

BansTokens = TypeVar("BansTokens", bound=nn.Module)  # any generator: they all have `ban(token ids)`


def sequence_tokens(corpus: Corpus) -> dict[str, int | None]:
    """The start, end and padding ids every generator class is built with: oracle corpora feed their
    start token 0 (a normal token), others none (the generator adds a start row of its own)."""
    vocabulary = corpus.vocabulary
    return {"start_token": corpus.manifest.get("source", {}).get("start_token"), "end_token": vocabulary.end,
            "pad_token": vocabulary.pad}


def ban_for_unit(generator: BansTokens, config: Config, corpus: Corpus) -> BansTokens:
    """A window model never writes whole tunes' tokens (header, strain and repeat marks)."""
    if config.data.unit == "window":
        generator.ban(tune_only_tokens(corpus.vocabulary))
    return generator


def build_generator(corpus: Corpus, config: Config) -> Generator:
    """Oracle corpora feed their start token 0 (a normal token); others get an extra start row.
    Lookback reads the corpus's bar lines (and parts, where its tunes have them). The core is the
    LSTM or the relational memory (generator.core), with lookback and attention or without."""
    settings, vocabulary = config.generator, corpus.vocabulary
    if settings.lookback and BAR not in vocabulary:
        raise SeqganError(f"generator.lookback needs bar lines, and corpus {corpus.name!r} has none: "
                          "use a grid16 music corpus or set generator.lookback=false")
    for option in ("attention", "header_inputs"):
        if getattr(settings, option) and not settings.lookback:
            raise SeqganError(f"generator.{option} reads what lookback finds: set generator.lookback=true too")
    if settings.header_inputs and config.data.unit != "tune":
        raise SeqganError('generator.header_inputs reads the header of whole tunes: set data.unit="tune" too')
    if settings.core == "relational" and settings.layers != 1:
        raise SeqganError("generator.core=relational is one memory block: set generator.layers=1 "
                          "(its size is generator.memory_slots, memory_heads and memory_head_size)")
    generator = Generator(len(vocabulary), settings.embedding, settings.hidden, settings.layers,
                          **sequence_tokens(corpus), lookback=settings.lookback,
                          bar_token=vocabulary.id(BAR) if BAR in vocabulary else None,
                          part_token=vocabulary.id(PART) if PART in vocabulary else None,
                          lookback_bars=settings.lookback_bars, attention=settings.attention,
                          header_tokens=len(HEADER_FIELDS) if settings.header_inputs else 0, core=settings.core,
                          memory_slots=settings.memory_slots, memory_heads=settings.memory_heads,
                          memory_head_size=settings.memory_head_size)
    return ban_for_unit(generator, config, corpus)


def build_discriminator(corpus: Corpus, config: Config, length: int | None = None) -> Discriminator:
    """The configured filter bank without widths longer than the sequences it reads (the windows, or
    `length`: the padded whole tunes), counts scaled. Max-over-time pooling reads any length."""
    settings = config.discriminator
    length = corpus.length if length is None else length
    kept = [(w, c) for w, c in zip(settings.filter_widths, settings.filter_counts) if w <= length]
    widths = tuple(w for w, _ in kept)
    counts = tuple(max(1, round(c * settings.filter_scale)) for _, c in kept)
    return Discriminator(len(corpus.vocabulary), length, settings.embedding, widths, counts,
                         settings.dropout_keep, settings.l2)
