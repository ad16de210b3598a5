"""Compose tunes: settings in, finished melodies with their key, meter, chords and provenance out.

Every tune has its own seed (the base seed plus its index), which drives all of its randomness:
the drawn meter, the model's noise, the title. `--seed 45 --n 1` therefore recomposes the fourth
tune of `--seed 42 --n 8` exactly, and each tune's provenance gives the command that does so.
"""

from __future__ import annotations

import random
import secrets
import shlex
from dataclasses import dataclass, replace

import torch

from seqgan_music import __version__
from seqgan_music.composing.continuation import bar_layout, continue_prefix
from seqgan_music.composing.keys import mode_match, parse_key, shift_between, tune_key
from seqgan_music.composing.model import ComposerModel
from seqgan_music.composing.primer import Primer
from seqgan_music.composing.titles import file_stem, tune_form, tune_title
from seqgan_music.composing.writing import Piece
from seqgan_music.corpora.encodings import BAR, Grid16, pitch_token, token_pitch
from seqgan_music.corpora.keys import estimate_key
from seqgan_music.corpora.melody import Key, Melody, meter_length_in_beats, parse_meter
from seqgan_music.errors import SeqganError
from seqgan_music.export.chords import Chord, harmonise
from seqgan_music.models.sampling import check_sampling
from seqgan_music.progress import Reporter, SilentReporter

KEY_CANDIDATES = 16  # tunes drawn per requested key, to find one in the asked mode
DEFAULT_BARS, MAX_BARS, MAX_STEPS = 16, 512, 8192


@dataclass(frozen=True)
class ComposeSettings:
    """What the user asked for; None means "let the model or the corpus decide"."""

    count: int = 8
    bars: int | None = 16
    steps: int | None = None
    temperature: float = 1.0
    top_k: int | None = None
    seed: int = 0
    primer: Primer | None = None
    key: Key | None = None
    meter: str | None = None
    tempo: float | None = None
    chords: bool = False
    program: int = 0


@dataclass
class ComposedTune:
    """One finished tune and everything needed to say how it was made."""

    seed: int
    title: str
    melody: Melody
    chords: list[Chord]
    tokens: list[str]
    provenance: dict


def check_settings(settings: ComposeSettings) -> None:
    """Refuse impossible requests before any work starts, each with a one-line reason."""
    if settings.count < 1:
        raise SeqganError(f"--n must be at least 1, got {settings.count}")
    if (settings.bars is None) == (settings.steps is None):
        raise SeqganError("give the length as --bars or --steps, not both")
    if (settings.bars or 1) < 1 or (settings.steps or 1) < 1 or (settings.bars or 0) > MAX_BARS \
            or (settings.steps or 0) > MAX_STEPS:
        raise SeqganError(f"the length must be 1-{MAX_BARS} bars or 1-{MAX_STEPS} steps")
    try:
        check_sampling(settings.temperature, settings.top_k)
        if settings.meter is not None:
            parse_meter(settings.meter)
            if meter_length_in_beats(settings.meter) * Grid16.steps_per_beat % 1:
                raise ValueError(f"a bar of {settings.meter} is not a whole number of sixteenths")
    except ValueError as error:
        raise SeqganError(str(error)) from None
    if settings.tempo is not None and not 20 <= settings.tempo <= 400:
        raise SeqganError(f"--tempo must be 20-400 quarter notes per minute, got {settings.tempo:g}")
    if not 0 <= settings.program <= 127:
        raise SeqganError(f"--program must be a General MIDI program 0-127, got {settings.program}")


def requested_settings(count: int, bars: int | None = None, steps: int | None = None, temperature: float = 1.0,
                       top_k: int = 0, seed: int | None = None, key: str | None = None, meter: str | None = None,
                       tempo: float | None = None, chords: bool = False, program: int = 0) -> ComposeSettings:
    """What a user asked for (the CLI's options, the TUI's form) as checked settings, one-line errors otherwise.

    No length means DEFAULT_BARS; no seed means a random one, kept in the settings so it can be shown.
    """
    settings = ComposeSettings(count, bars if bars is not None or steps is not None else DEFAULT_BARS, steps,
                               temperature, top_k or None, secrets.randbelow(1_000_000) if seed is None else seed,
                               key=parse_key(key) if key else None, meter=meter, tempo=tempo, chords=chords,
                               program=program)
    check_settings(settings)
    return settings


def compose_tunes(model: ComposerModel, settings: ComposeSettings,
                  reporter: Reporter = SilentReporter()) -> list[ComposedTune]:
    """`settings.count` tunes from `model`; the same model and settings give the same tunes."""
    check_settings(settings)
    reporter.begin("Composing", settings.count)
    tunes = []
    for index in range(settings.count):
        tunes.append(_compose_one(model, settings, settings.seed + index))
        reporter.advance()
    reporter.end()
    return tunes


def tune_piece(index: int, tune: ComposedTune) -> Piece:
    """A composed tune to write: a readable stem, and its provenance in every format that holds text."""
    p = tune.provenance
    notes = [f"Composed by seqgan-music {p['seqgan_music']} with model {p['model']['name']} "
             f"(sha256 {p['model']['sha256'][:16]}), seed {p['seed']}, temperature {p['temperature']:g}"
             + (f", top-k {p['top_k']}" if p["top_k"] else "") + (f", primer {p['primer']}" if p["primer"] else ""),
             f"Key {p['key']['written']}: {p['key']['how']}. Meter {p['meter']['written']}: {p['meter']['how']}.",
             f"Recompose: {p['command']}"]
    return Piece(file_stem(index, tune.seed, tune.title), tune.melody, tune.chords, notes, p, p["program"])


def _compose_one(model: ComposerModel, settings: ComposeSettings, seed: int) -> ComposedTune:
    chooser = random.Random(seed)
    primer = settings.primer.melody if settings.primer else None
    meter, meter_how = _meter(model, settings, primer, chooser)
    plain = model.encoding.transpose  # the model's tunes are in the plain signature
    primer_key = None
    prefix: list[str] = []
    if primer is not None:
        primer_key = settings.key if settings.key and not primer.key else (primer.key or estimate_key(primer.notes))
        prefix = _primer_symbols(model, replace(primer, meter=meter, key=primer_key))
    layout = _layout(model, prefix, meter, settings)
    rows = KEY_CANDIDATES if settings.key is not None and primer is None else 1
    noise = torch.Generator(device=model.generator.device).manual_seed(seed)
    vocabulary = model.vocabulary
    banned = [i for i in (vocabulary.pad, vocabulary.end) if i is not None]
    layout_ids: list[int | None] = [None] * len(layout)
    if isinstance(model.encoding, Grid16):  # bar lines where the meter puts them, and nowhere else
        banned.append(vocabulary.id(BAR))
        layout_ids = [vocabulary.id(BAR) if token == BAR else None for token in layout]
    candidates = continue_prefix(model.generator, vocabulary.ids(prefix), layout_ids, banned, rows,
                                 settings.temperature, settings.top_k, noise).cpu().numpy()
    decoded = [model.encoding.decode([vocabulary.token(t) for t in row], {"meter": meter}) for row in candidates]
    keys = [tune_key(m, plain) for m in decoded]
    best = max(range(rows), key=lambda r: (mode_match(keys[r], settings.key), -r)) if rows > 1 else 0
    melody, found = decoded[best], keys[best]

    if primer_key is not None:  # the tune stays in the primer's key
        model_key = primer_key.semitones_to_plain_signature() if plain else 0
        shift, written = -model_key, primer_key
        ignored = (f"; --key {settings.key.name} ignored: the primer stores its key"
                   if settings.key and primer.key and settings.key.name != primer.key.name else "")
        key_how = f"the primer's key ({primer_key.name}, {primer_key.source}){ignored}"
    elif settings.key is not None:
        shift = shift_between(found.tonic_pitch_class, settings.key.tonic_pitch_class)
        written = Key.from_tonic(settings.key.tonic_pitch_class, found.mode, "requested")
        match = ("" if found.mode == settings.key.mode else
                 f"; no candidate was in {settings.key.mode}, this one is {found.mode}")
        key_how = (f"transposed from {found.name} (the model is not key-conditioned: the best of {rows} "
                   f"candidates for the mode{match})")
    else:
        shift, written = 0, found
        key_how = "as generated, estimated from the notes"
    title = tune_title(seed)
    melody = replace(melody.transposed(shift), key=written, meter=meter, title=title,
                     tempo=float(settings.tempo or 120.0), source=f"seqgan-music compose, seed {seed}")
    chords = harmonise(melody) if settings.chords else []
    tokens = [vocabulary.token(t) for t in candidates[best]]
    provenance = _provenance(model, settings, seed, title, meter, meter_how, written, key_how, shift, tokens)
    return ComposedTune(seed, title, melody, chords, tokens, provenance)


def _meter(model: ComposerModel, settings: ComposeSettings, primer: Melody | None,
           chooser: random.Random) -> tuple[str, str]:
    """The tune's meter and where it came from: asked for, the primer's, or drawn from the corpus."""
    enforced = isinstance(model.encoding, Grid16)
    how = "bar lines enforced in the model's input" if enforced else "laid out only (the model has no bar lines)"
    if settings.meter:
        return settings.meter, f"requested; {how}"
    if primer is not None and primer.bars:
        return primer.meter, f"the primer's; {how}"
    meters = {m: c for m, c in model.meters.items() if _usable(m)} or {"4/4": 1}
    meter = chooser.choices(list(meters), weights=list(meters.values()))[0]
    return meter, f"drawn from the training corpus's meters; {how}"


def _usable(meter: str) -> bool:
    try:
        return meter_length_in_beats(meter) * Grid16.steps_per_beat % 1 == 0
    except ValueError:
        return False


def _primer_symbols(model: ComposerModel, primer: Melody) -> list[str]:
    """The primer as the model's tokens, moved into the model's key space; refuses notes it never saw."""
    if model.encoding.transpose and primer.key is not None:
        primer = primer.transposed(primer.key.semitones_to_plain_signature())
    if not isinstance(model.encoding, Grid16):
        primer = replace(primer, tempo=120.0, tempo_changes=[])  # the paper encoding's steps are at 120
    symbols = model.encoding.encode(primer).symbols
    outside = sorted({s for s in symbols if s not in model.vocabulary}, key=lambda s: token_pitch(s) or 0)
    if outside:
        pitches = [token_pitch(t) for t in model.vocabulary.tokens if token_pitch(t) is not None]
        moved = " (after moving the primer to the model's key)" if model.encoding.transpose else ""
        raise SeqganError(f"primer note(s) {', '.join(outside)}{moved} are outside the model's range "
                          f"{pitch_token(min(pitches))}-{pitch_token(max(pitches))}: move the primer by an octave")
    return symbols


def _layout(model: ComposerModel, prefix: list[str], meter: str, settings: ComposeSettings) -> list[str | None]:
    """Tokens to force (bar lines) and positions to sample, after the prefix, for the asked length."""
    bar_beats = meter_length_in_beats(meter)
    if isinstance(model.encoding, Grid16):
        layout = bar_layout([s == BAR for s in prefix], int(bar_beats * Grid16.steps_per_beat),
                            settings.bars, settings.steps)
        layout_tokens: list[str | None] = [BAR if is_bar else None for is_bar in layout]
    else:
        beats_per_step = model.encoding.step_seconds * 2.0  # type: ignore[attr-defined]
        total = settings.steps or round((settings.bars or 0) * bar_beats / beats_per_step)
        layout_tokens = [None] * max(total - len(prefix), 0)
    if not any(token is None for token in layout_tokens):
        raise SeqganError(f"the primer already fills the requested length ({len(prefix)} steps): "
                          "ask for more --bars or --steps")
    return layout_tokens


def _provenance(model: ComposerModel, settings: ComposeSettings, seed: int, title: str, meter: str, meter_how: str,
                key: Key, key_how: str, shift: int, tokens: list[str]) -> dict:
    command = ["seqgan-music", "compose", "--n", "1", "--seed", str(seed), "--temperature", f"{settings.temperature:g}"]
    command += ["--run", model.reference] if model.reference else []
    command += ["--bars", str(settings.bars)] if settings.bars is not None else ["--steps", str(settings.steps)]
    command += ["--top-k", str(settings.top_k)] if settings.top_k else []
    command += ["--meter", meter] + (["--key", settings.key.name] if settings.key else [])
    if settings.primer is not None:
        kind, value = settings.primer.description.split(": ", 1)
        command += ["--primer-notes", value] if kind == "notes" else ["--primer", value]
    command += ["--tempo", f"{settings.tempo or 120:g}", "--program", str(settings.program)]
    command += ["--chords"] if settings.chords else []
    return {
        "title": title,
        "form": tune_form(meter),
        "seqgan_music": __version__,
        "model": {"name": model.name, "source": model.source, "sha256": model.sha256},
        "seed": seed,
        "temperature": settings.temperature,
        "top_k": settings.top_k,
        "primer": settings.primer.description if settings.primer else None,
        "key": {"written": key.name, "how": key_how, "transposed_semitones": shift},
        "meter": {"written": meter, "how": meter_how},
        "tempo": settings.tempo or 120.0,
        "length": {"bars": settings.bars, "steps": settings.steps},
        "chords": settings.chords,
        "program": settings.program,
        "encoding": model.encoding.params(),
        "tokens": " ".join(tokens),
        "command": shlex.join(command),
    }
