"""Walk from one tune to another through a latent-variable model's code space
(`compose --interpolate A B --steps 5`).

A VAE or ARAE model (models/vae.py, models/arae.py) reads a window of tokens into a code and writes
a window from a code. A and B are read into codes by the model's encoder (the VAE's posterior
means; ARAE's unit-length codes); the path between the two codes is walked in evenly spaced points,
A's and B's codes included: a straight line for the VAE, whose prior is a Gaussian, the great circle
(spherical interpolation, slerp) for ARAE, whose decoder only ever saw codes of unit length, so that
every point is one too. Each point is decoded under compose's constraints (bar lines in the meter,
the hold limit).

Decoding is greedy by default (the likeliest token at every step), so the ends of the path are the
model's own reconstructions of A and B and neighbouring points give neighbouring tunes. With a
temperature every point samples with the same seed (the same noise at every step), so the tunes
still change only where the code changes the model's choices.

A tune is read as the model read its training windows: moved to the plain signature (on a model
trained so), from its first bar line, its first `length` tokens (a longer tune: its opening only,
which the output says), ended by the end token where it is shorter. Each written tune takes the
meter and key signature of the nearer of A and B (A's at the midpoint), its mode read from its notes.
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import Tensor

from seqgan_music import __version__
from seqgan_music.composing.compose import ComposedTune, ComposeSettings, constraints_for, one_cpu_thread
from seqgan_music.composing.continuation import bar_layout, continue_prefix
from seqgan_music.composing.keys import tune_key
from seqgan_music.composing.meters import bar_steps
from seqgan_music.composing.model import ComposerModel
from seqgan_music.composing.source_tune import SourceTune
from seqgan_music.composing.writing import Piece
from seqgan_music.corpora.encodings import BAR, Grid16, pitch_token, token_pitch
from seqgan_music.corpora.melody import Key
from seqgan_music.errors import SeqganError
from seqgan_music.export.chords import harmonise
from seqgan_music.models.arae import ARAEGenerator
from seqgan_music.models.vae import CodeConditionedGenerator

MAX_POINTS = 100
_COLLINEAR = 1e-6  # sin of the angle between two unit codes below which slerp is the straight line


@dataclass(frozen=True)
class TuneWindow:
    """A tune as the encoder reads it: its token ids (the end token after a tune shorter than the
    model's windows), the bar lines among them, and how many tokens the tune has from its first bar line."""

    source: SourceTune
    ids: list[int]
    bars: int
    total: int  # the tune's tokens from its first bar line

    @property
    def cut(self) -> bool:
        """Whether only the tune's opening was read (it is longer than the model's windows)."""
        return self.total > len(self.ids)

    def describe(self) -> dict:
        return {"file": str(self.source.path), "sha256": self.source.sha256, "tokens_read": len(self.ids),
                "tokens": self.total, "opening_only": self.cut}


def latent_generator(model: ComposerModel) -> CodeConditionedGenerator:
    """The model's encoder-decoder; a one-line error for a model without an encoder or of whole tunes."""
    generator = model.generator
    if not isinstance(generator, CodeConditionedGenerator):
        raise SeqganError(f"--interpolate needs a model with an encoder, a vae or arae run (or a model packed from "
                          f"one): {model.name} is a {model_method(model)} model, which has none")
    if model.whole_tunes:
        raise SeqganError(f"--interpolate reads tunes as windows of bars: {model.name} learned whole tunes "
                          "(data.unit = \"tune\"); interpolate with a window vae or arae run")
    return generator


def model_method(model: ComposerModel) -> str:
    """The method that trained the model ("mle", "vae", ...), from its run or its model.json."""
    info = model.info
    return str(info.get("run", {}).get("method") or info.get("trained", {}).get("method") or "generator")


def check_points(points: int) -> None:
    if not 2 <= points <= MAX_POINTS:
        raise SeqganError(f"--steps with --interpolate is the number of tunes on the path, A and B included: "
                          f"2-{MAX_POINTS}, got {points}")


def tune_window(model: ComposerModel, source: SourceTune, role: str) -> TuneWindow:
    """`source` in the model's tokens, as its training windows hold a tune; a one-line error naming
    `role` for notes outside the model's range."""
    melody = source.melody
    if model.encoding.transpose and melody.key is not None:
        melody = melody.transposed(melody.key.semitones_to_plain_signature())
    if not isinstance(model.encoding, Grid16):
        melody = replace(melody, tempo=120.0, tempo_changes=[])  # the paper encoding's steps are at 120
    encoded = model.encoding.encode(melody)
    symbols = encoded.symbols[(encoded.window_starts or [0])[0]:]
    vocabulary = model.vocabulary
    outside = sorted({s for s in symbols if s not in vocabulary}, key=lambda s: token_pitch(s) or 0)
    if outside:
        pitches = [token_pitch(t) for t in vocabulary.tokens if token_pitch(t) is not None]
        moved = " (moved to the model's key)" if model.encoding.transpose else ""
        raise SeqganError(f"{role} {source.name}: note(s) {', '.join(outside)}{moved} are outside the model's range "
                          f"{pitch_token(min(pitches))}-{pitch_token(max(pitches))}")
    read = symbols[:model.encoding.length]
    ids = vocabulary.ids(read)
    if len(read) < len(symbols) or vocabulary.end is None:
        return TuneWindow(source, ids, read.count(BAR), len(symbols))
    return TuneWindow(source, [*ids, vocabulary.end], read.count(BAR), len(symbols))


@torch.no_grad()
def tune_codes(generator: CodeConditionedGenerator, windows: list[TuneWindow]) -> Tensor:
    """Each window's code (N, C): the VAE's posterior mean, ARAE's unit-length code."""
    longest = max(len(w.ids) for w in windows)
    fill = generator.pad_token if generator.pad_token is not None else generator.end_token or 0
    rows = torch.tensor([w.ids + [fill] * (longest - len(w.ids)) for w in windows], device=generator.device)
    return generator.encode(rows)


def path_codes(a: Tensor, b: Tensor, points: int, spherical: bool) -> Tensor:
    """`points` codes (points, C) evenly spaced from `a` to `b` (C,), both included: on the straight
    line, or (`spherical`, for unit codes) on the great circle through them, each of unit length."""
    t = torch.linspace(0.0, 1.0, points, dtype=a.dtype, device=a.device).unsqueeze(1)  # (points, 1)
    if not spherical:
        return (1 - t) * a + t * b
    cosine = torch.dot(a, b) / (a.norm() * b.norm())
    angle = torch.arccos(cosine.clamp(-1.0, 1.0))
    if math.sin(float(angle)) < _COLLINEAR:
        if float(cosine) < 0:
            raise SeqganError("A and B encode to opposite codes: no one great circle joins them")
        return a.expand(points, -1).clone()
    return (torch.sin((1 - t) * angle) * a + torch.sin(t * angle) * b) / torch.sin(angle)


def interpolate_tunes(model: ComposerModel, a: SourceTune, b: SourceTune, points: int,
                      settings: ComposeSettings) -> list[ComposedTune]:
    """The `points` tunes on the path from tune `a` to tune `b` in `model`'s code space, in order
    (the first decoded from A's code, the last from B's); see the module's docstring.

    `settings`: `temperature` None decodes greedily (the default), a temperature samples every point
    with `seed`; `top_k`, `max_hold`, `tempo`, `chords` and `program` as compose takes them; its
    other fields are not used. Each tune's provenance holds A, B, the point's t and code, the model
    and the command that writes the path again. One-line errors for a model without an encoder, a
    count out of range and notes the model never saw.
    """
    generator = latent_generator(model)
    check_points(points)
    windows = [tune_window(model, a, "A"), tune_window(model, b, "B")]
    spherical = isinstance(generator, ARAEGenerator)
    bars = max(1, *(w.bars for w in windows))
    length = max(len([i for i in w.ids if i != model.vocabulary.end]) for w in windows)
    tunes = []
    with one_cpu_thread(generator.device):  # as compose: 0.8 s against 19.5 s for 5 points on the loaded 2 cores
        codes = path_codes(*tune_codes(generator, windows), points, spherical)
        for index, code in enumerate(codes):
            nearer = windows[0] if index / (points - 1) <= 0.5 else windows[1]
            tokens = _decode(model, generator, code, nearer.source.melody.meter, bars, length, settings)
            tunes.append(_written(model, windows, nearer, (index, points), code, tokens, settings, spherical))
    return tunes


def _decode(model: ComposerModel, generator: CodeConditionedGenerator, code: Tensor, meter: str, bars: int,
            length: int, settings: ComposeSettings) -> list[str]:
    """One point's tokens: `bars` bars of `meter` (a model without bar lines: `length` steps)."""
    if isinstance(model.encoding, Grid16):
        steps = bar_steps(meter)
        if steps is None:
            raise SeqganError(f"a bar of {meter} is not a whole number of sixteenths: the model cannot write it")
        layout: list[str | None] = [BAR if bar else None for bar in bar_layout([], steps, bars, None)]
    else:
        layout = [None] * length
    constraints, _ = constraints_for(model, layout, meter, settings)
    noise = torch.Generator(device=generator.device).manual_seed(settings.seed)
    greedy = settings.temperature is None
    row = continue_prefix(generator, [], constraints, 1, 1.0 if greedy else settings.temperature,
                          1 if greedy else settings.top_k, noise, codes=code.unsqueeze(0))[0]
    return [model.vocabulary.token(int(t)) for t in row]


def _written(model: ComposerModel, windows: list[TuneWindow], nearer: TuneWindow, point: tuple[int, int],
             code: Tensor, tokens: list[str], settings: ComposeSettings, spherical: bool) -> ComposedTune:
    """Point `index` of `points` as a tune in the nearer tune's meter and key signature, with its provenance."""
    index, points = point
    t = index / (points - 1)
    meter, plain = nearer.source.melody.meter, model.encoding.transpose
    melody = model.encoding.decode(tokens, {"meter": meter})
    found = tune_key(melody, plain)
    shift = -nearer.source.melody.key.semitones_to_plain_signature() if plain and nearer.source.melody.key else 0
    written = Key.from_tonic((found.tonic_pitch_class + shift) % 12, found.mode)
    names = [w.source.path.stem for w in windows]
    title = f"{names[0]} to {names[1]}, {index + 1} of {points}"
    melody = replace(melody.transposed(shift), key=written, meter=meter, title=title,
                     tempo=float(settings.tempo or 120.0), source=f"seqgan-music compose --interpolate, t {t:g}")
    chords = harmonise(melody) if settings.chords else []
    decoding = ("greedy" if settings.temperature is None else
                f"sampled at temperature {settings.temperature:g}" + (f", top-k {settings.top_k}" if settings.top_k
                                                                       else "") + f", seed {settings.seed}")
    provenance = {
        "title": title,
        "seqgan_music": __version__,
        "model": {"name": model.name, "source": model.source, "sha256": model.sha256, "method": model_method(model)},
        "interpolation": {"a": windows[0].describe(), "b": windows[1].describe(), "point": index + 1,
                          "points": points, "t": round(t, 6),
                          "path": "spherical (unit codes)" if spherical else "linear", "decoding": decoding,
                          "code": [round(float(x), 6) for x in code]},
        "seed": settings.seed,
        "temperature": settings.temperature,
        "top_k": settings.top_k,
        "key": {"written": written.name, "how": f"{'A' if nearer is windows[0] else 'B'}'s signature, the mode "
                                                 "estimated from the notes", "transposed_semitones": shift},
        "meter": {"written": meter, "how": f"{'A' if nearer is windows[0] else 'B'}'s (the nearer tune)"},
        "tempo": settings.tempo or 120.0,
        "chords": settings.chords,
        "program": settings.program,
        "encoding": model.encoding.params(),
        "tokens": " ".join(tokens),
        "command": _command(model, windows, points, settings),
    }
    return ComposedTune(settings.seed, title, melody, chords, tokens, provenance)


def _command(model: ComposerModel, windows: list[TuneWindow], points: int, settings: ComposeSettings) -> str:
    """The command that writes the same path again."""
    command = ["seqgan-music", "compose", "--interpolate", windows[0].source.option, windows[1].source.option,
               "--steps", str(points)]
    command += ["--run", model.reference] if model.reference else []
    if settings.temperature is not None:
        command += ["--temperature", f"{settings.temperature:g}", "--seed", str(settings.seed)]
        command += ["--top-k", str(settings.top_k)] if settings.top_k else []
    command += ["--max-hold", f"{settings.max_hold:g}"] if settings.max_hold is not None else []
    command += ["--tempo", f"{settings.tempo or 120:g}", "--program", str(settings.program)]
    command += ["--chords"] if settings.chords else []
    return shlex.join(command)


def interpolation_piece(tune: ComposedTune) -> Piece:
    """A tune of the path to write: stem 'A-to-B-3' (the point's place on the path), its provenance
    in every format that holds text."""
    p, path = tune.provenance, tune.provenance["interpolation"]
    names = [Path(path[end]["file"]).stem for end in ("a", "b")]
    notes = [f"Interpolated by seqgan-music {p['seqgan_music']} with model {p['model']['name']} "
             f"(sha256 {p['model']['sha256'][:16]}): point {path['point']} of {path['points']} "
             f"(t {path['t']:g}, {path['path']} path, {path['decoding']}) from {names[0]} to {names[1]}",
             f"Key {p['key']['written']} ({p['key']['how']}). Meter {p['meter']['written']} ({p['meter']['how']}).",
             f"Recompose: {p['command']}"]
    stem = re.sub(r"[^a-z0-9]+", "-", f"{names[0]} to {names[1]}".lower()).strip("-") + f"-{path['point']}"
    return Piece(stem, tune.melody, tune.chords, notes, p, p["program"])
