"""Compose tunes: settings in, finished melodies with their key, meter, chords and provenance out.

Every tune has its own seed (the base seed plus its index), which drives all of its randomness:
the drawn meter, the model's noise, the title. `--seed 45 --n 1` therefore recomposes the fourth
tune of `--seed 42 --n 8` exactly, and each tune's provenance gives the command that does so.
"""

from __future__ import annotations

import math
import random
import secrets
import shlex
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

import torch

from seqgan_music import __version__
from seqgan_music.composing.continuation import Constraints, HoldLimit, Slot, bar_layout, continue_prefix
from seqgan_music.composing.form import parse_form
from seqgan_music.composing.keys import mode_match, parse_key, shift_between, tune_key
from seqgan_music.composing.meters import bar_steps, meter_warning, usable_meters
from seqgan_music.composing.model import ComposerModel
from seqgan_music.composing.primer import DEFAULT_PRIMER_BARS, Primer
from seqgan_music.composing.titles import file_stem, tune_form, tune_title
from seqgan_music.composing.writing import Piece
from seqgan_music.corpora.encodings import BAR, HOLD, Grid16, pitch_token, token_pitch
from seqgan_music.corpora.keys import estimate_key
from seqgan_music.corpora.melody import Key, Melody, meter_length_in_beats, parse_meter
from seqgan_music.corpora.tunes import MAX_TUNE_BARS, STRUCTURE_TOKENS, tune_only_tokens
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
    bars: int | None = None  # None (and no steps): DEFAULT_BARS for a window model, the form's for a whole-tune one
    steps: int | None = None
    temperature: float | None = None  # None: the model's own (`ComposerModel.temperature`)
    top_k: int | None = None
    seed: int = 0
    primer: Primer | None = None
    key: Key | None = None
    meter: str | None = None
    tempo: float | None = None
    chords: bool = False
    program: int = 0
    primer_bars: int = DEFAULT_PRIMER_BARS  # the primer's opening bars kept
    max_hold: float | None = None  # beats one pitch may sound in a row; None: one bar of the tune's meter; 0: no limit
    # Whole-tune models only (None: not asked): the form (AABB when no --bars), bars per strain (8),
    # the tune type the model is conditioned on, first and second endings on repeated strains.
    form: str | None = None
    part_bars: int | None = None
    tune_type: str | None = None
    endings: bool = False
    # Models with attention over bars: the temperature of choosing between writing a new token and
    # copying one of an earlier bar (lower repeats motifs more); None: the model's own.
    copy_temperature: float | None = None

    def window_length(self) -> tuple[int | None, int | None]:
        """(bars, steps) of a window model's tune: as asked, else DEFAULT_BARS."""
        return (self.bars, self.steps) if self.bars is not None or self.steps is not None else (DEFAULT_BARS, None)

    @property
    def asks_form(self) -> bool:
        return self.form is not None or self.part_bars is not None or self.tune_type is not None or self.endings


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
    if settings.bars is not None and settings.steps is not None:
        raise SeqganError("give the length as --bars or --steps, not both")
    if (settings.bars or 1) < 1 or (settings.steps or 1) < 1 or (settings.bars or 0) > MAX_BARS \
            or (settings.steps or 0) > MAX_STEPS:
        raise SeqganError(f"the length must be 1-{MAX_BARS} bars or 1-{MAX_STEPS} steps")
    try:
        check_sampling(1.0 if settings.temperature is None else settings.temperature, settings.top_k)
        if settings.copy_temperature is not None and not (math.isfinite(settings.copy_temperature)
                                                          and settings.copy_temperature > 0):
            raise ValueError(f"--copy-temperature must be > 0, got {settings.copy_temperature}")
        if settings.meter is not None:
            parse_meter(settings.meter)
            if bar_steps(settings.meter) is None:
                raise ValueError(f"a bar of {settings.meter} is not a whole number of sixteenths")
    except ValueError as error:
        raise SeqganError(str(error)) from None
    if settings.tempo is not None and not 20 <= settings.tempo <= 400:
        raise SeqganError(f"--tempo must be 20-400 quarter notes per minute, got {settings.tempo:g}")
    if not 0 <= settings.program <= 127:
        raise SeqganError(f"--program must be a General MIDI program 0-127, got {settings.program}")
    if settings.primer_bars < 1:
        raise SeqganError(f"--primer-bars must be at least 1, got {settings.primer_bars}")
    if settings.max_hold is not None and not (settings.max_hold >= 0
                                              and (settings.max_hold * Grid16.steps_per_beat) % 1 == 0):
        raise SeqganError(f"--max-hold must be 0 (no limit) or a whole number of sixteenths (0.25 beats), "
                          f"got {settings.max_hold:g}")
    if settings.form is not None:
        parse_form(settings.form)
    if settings.part_bars is not None and not 1 <= settings.part_bars <= MAX_TUNE_BARS:
        raise SeqganError(f"--part-bars must be 1-{MAX_TUNE_BARS}, got {settings.part_bars}")


def model_warning(model: ComposerModel, settings: ComposeSettings) -> str | None:
    """What composing `settings` with `model` should warn of (a meter rare in its training corpus);
    one-line errors for what the model cannot do (a meter it never saw, a hold limit without holds,
    a form asked of a window model)."""
    if model.whole_tunes:
        from seqgan_music.composing.whole import whole_tune_warning  # whole.py builds on this module

        return whole_tune_warning(model, settings)
    if settings.asks_form:
        raise SeqganError(f"--form, --part-bars, --type and --endings need a whole-tune model (trained with "
                          f"data.unit = \"tune\", e.g. --preset folk-tunes): {model.name} composes strings of bars; "
                          "give its length with --bars")
    if not isinstance(model.encoding, Grid16):  # the meter only lays the notes out; nothing is held
        if settings.max_hold:
            raise SeqganError(f"--max-hold needs a grid16 model: {model.name} ({model.encoding.name} encoding) "
                              "has no hold token")
        return None
    if settings.meter:
        return meter_warning(model.meters, settings.meter, f"--meter {settings.meter}")
    if settings.primer is not None and settings.primer.has_meter:
        meter = settings.primer.melody.meter
        return meter_warning(model.meters, meter, f"the primer's meter {meter}")
    return None


def requested_settings(count: int, bars: int | None = None, steps: int | None = None, temperature: float | None = None,
                       top_k: int = 0, seed: int | None = None, key: str | None = None, meter: str | None = None,
                       tempo: float | None = None, chords: bool = False, program: int = 0,
                       primer_bars: int = DEFAULT_PRIMER_BARS, max_hold: float | None = None, form: str | None = None,
                       part_bars: int | None = None, tune_type: str | None = None,
                       endings: bool = False, copy_temperature: float | None = None) -> ComposeSettings:
    """What a user asked for (the CLI's options, the TUI's form) as checked settings, one-line errors otherwise.

    No length means the model's default (DEFAULT_BARS, or the form's); no seed means a random one,
    kept in the settings so it can be shown.
    """
    settings = ComposeSettings(count, bars, steps, temperature, top_k or None,
                               secrets.randbelow(1_000_000) if seed is None else seed,
                               key=parse_key(key) if key else None, meter=meter, tempo=tempo, chords=chords,
                               program=program, primer_bars=primer_bars, max_hold=max_hold,
                               form=form.strip() if form else None, part_bars=part_bars,
                               tune_type=tune_type.strip().lower() if tune_type else None, endings=endings,
                               copy_temperature=copy_temperature)
    check_settings(settings)
    return settings


def compose_tunes(model: ComposerModel, settings: ComposeSettings,
                  reporter: Reporter = SilentReporter()) -> list[ComposedTune]:
    """`settings.count` tunes from `model`; the same model and settings give the same tunes."""
    check_settings(settings)
    attention = model.generator.attention
    if settings.copy_temperature is not None and attention is None:
        raise SeqganError("--copy-temperature needs a model that attends over its bars (trained with "
                          "generator.attention=true); this one does not")
    settings = replace(settings, temperature=model.temperature if settings.temperature is None else settings.temperature,
                       copy_temperature=None if attention is None else settings.copy_temperature or model.copy_temperature)
    model_warning(model, settings)
    reporter.begin("Composing", settings.count)
    from seqgan_music.composing.whole import compose_whole_tune  # whole.py builds on this module

    one = compose_whole_tune if model.whole_tunes else _compose_one
    tunes = []
    with one_cpu_thread(model.generator.device), sampling_copy_temperature(model, settings.copy_temperature):
        for index in range(settings.count):
            tunes.append(one(model, settings, settings.seed + index))
            reporter.advance()
    reporter.end()
    return tunes


@contextmanager
def sampling_copy_temperature(model: ComposerModel, temperature: float | None) -> Iterator[None]:
    """The attention's choice between writing new and copying sharpened (or softened) while composing."""
    attention = model.generator.attention
    if attention is None or temperature is None:
        yield
        return
    before = attention.sharpness
    attention.sharpness = 1.0 / temperature
    try:
        yield
    finally:
        attention.sharpness = before


@contextmanager
def one_cpu_thread(device: torch.device) -> Iterator[None]:
    """Sample on one CPU thread: a step of a few rows is too small to split, and threads waiting on
    each other cost more than they save (a whole tune: 1.7 s on one thread against 10.4 s on two,
    measured on the 2-core machine under load). The caller's setting comes back afterwards."""
    if device.type != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def tune_piece(index: int, tune: ComposedTune) -> Piece:
    """A composed tune to write: a readable stem, and its provenance in every format that holds text."""
    p = tune.provenance
    whole = p.get("tune")
    notes = [f"Composed by seqgan-music {p['seqgan_music']} with model {p['model']['name']} "
             f"(sha256 {p['model']['sha256'][:16]}), seed {p['seed']}, temperature {p['temperature']:g}"
             + (f", top-k {p['top_k']}" if p["top_k"] else "") + (f", primer {p['primer']}" if p["primer"] else ""),
             f"Key {decision(p['key'])}. Meter {decision(p['meter'])}."
             + (f" Type {decision(whole['type'])}. Form {whole['form']}, {whole['part_bars']} bars a strain."
                if whole else ""),
             f"Recompose: {p['command']}"]
    return Piece(file_stem(index, tune.seed, tune.title), tune.melody, tune.chords, notes, p, p["program"])


def decision(aspect: dict) -> str:
    """'A minor (asked A dorian: ...)': a key or meter of the provenance and how it was decided."""
    return f"{aspect['written']} ({aspect['how']})"


def _compose_one(model: ComposerModel, settings: ComposeSettings, seed: int) -> ComposedTune:
    chooser = random.Random(seed)
    meter, meter_how = _meter(model, settings, chooser)
    plain = model.encoding.transpose  # the model's tunes are in the plain signature
    asked = settings.key
    primer_key, primer_bars, prefix = primer_opening(model, settings, meter)
    layout = _layout(model, prefix, meter, settings)
    rows = KEY_CANDIDATES if asked is not None and settings.primer is None else 1
    noise = torch.Generator(device=model.generator.device).manual_seed(seed)
    vocabulary = model.vocabulary
    constraints, max_hold = constraints_for(model, layout, meter, settings)
    candidates = continue_prefix(model.generator, vocabulary.ids(prefix), constraints, rows,
                                 settings.temperature, settings.top_k, noise).cpu().numpy()
    decoded = [model.encoding.decode([vocabulary.token(t) for t in row], {"meter": meter}) for row in candidates]
    keys = [tune_key(m, plain) for m in decoded]
    best = max(range(rows), key=lambda r: (mode_match(keys[r], asked), -r)) if rows > 1 else 0
    melody, found = decoded[best], keys[best]

    if primer_key is not None:  # the tune stays in the primer's key
        shift, written, key_how = primer_key_decision(primer_key, settings, plain)
    elif asked is not None:
        shift = shift_between(found.tonic_pitch_class, asked.tonic_pitch_class)
        written = Key.from_tonic(asked.tonic_pitch_class, found.mode, "requested")
        key_how = (f"asked {asked.name}: the first of {rows} candidates in {asked.mode}, transposed; the model is "
                   "not key-conditioned" if found.mode == asked.mode else
                   f"asked {asked.name}: none of {rows} candidates was {asked.mode}; the model is not mode-conditioned")
    else:
        shift, written = 0, found
        key_how = "as generated, estimated from the notes"
    title = tune_title(seed)
    melody = replace(melody.transposed(shift), key=written, meter=meter, title=title,
                     tempo=float(settings.tempo or 120.0), source=f"seqgan-music compose, seed {seed}")
    chords = harmonise(melody) if settings.chords else []
    tokens = [vocabulary.token(t) for t in candidates[best]]
    bars, steps = settings.window_length()
    provenance = provenance_of(model, settings, seed, title, tokens, primer_bars, max_hold,
                               {"written": meter, "how": meter_how},
                               {"written": written.name, "asked": asked.name if asked else None, "how": key_how,
                                "transposed_semitones": shift},
                               ["--bars", str(bars)] if bars is not None else ["--steps", str(steps)])
    provenance["form"] = tune_form(meter)
    return ComposedTune(seed, title, melody, chords, tokens, provenance)


_KEY_SOURCES = {"stored": "stored in the file", "estimated": "estimated from its notes", "requested": "as --key names it"}


def primer_opening(model: ComposerModel, settings: ComposeSettings,
                   meter: str) -> tuple[Key | None, dict | None, list[str]]:
    """The primer's key, how many of its bars are kept (of how many), and its opening as the
    model's symbols, laid out in `meter`; (None, None, []) without a primer."""
    if settings.primer is None:
        return None, None, []
    whole = settings.primer.melody
    asked = settings.key
    primer_key = asked if asked and not whole.key else (whole.key or estimate_key(whole.notes))
    opening, total = settings.primer.opening(meter, settings.primer_bars)
    primer_bars = {"kept": min(settings.primer_bars, total), "total": total}
    return primer_key, primer_bars, _primer_symbols(model, replace(opening, meter=meter, key=primer_key))


def primer_key_decision(primer_key: Key, settings: ComposeSettings, plain: bool) -> tuple[int, Key, str]:
    """A primed tune stays in the primer's key: the shift from the model's key, the key, and why."""
    model_key = primer_key.semitones_to_plain_signature() if plain else 0
    asked = settings.key
    stored = settings.primer.melody.key if settings.primer else None
    ignored = f"; --key {asked.name} ignored: the primer stores its key" if asked and stored and asked.name != stored.name else ""
    return -model_key, primer_key, f"the primer's key, {_KEY_SOURCES.get(primer_key.source, primer_key.source)}{ignored}"


def _meter(model: ComposerModel, settings: ComposeSettings, chooser: random.Random) -> tuple[str, str]:
    """The tune's meter and where it came from: asked for, the primer file's, or drawn from the corpus.

    Typed notes carry no meter: they are laid out in the meter asked for or drawn.
    """
    enforced = isinstance(model.encoding, Grid16)
    how = "bar lines enforced in the model's input" if enforced else "laid out only (the model has no bar lines)"
    if settings.meter:
        return settings.meter, f"requested; {how}"
    primer = settings.primer
    if primer is not None and primer.has_meter:
        return primer.melody.meter, f"the primer's; {how}"
    meters = usable_meters(model.meters) or {"4/4": 1}
    meter = chooser.choices(list(meters), weights=list(meters.values()))[0]
    typed = ", as typed notes carry no meter; give --meter to choose it" if primer is not None else ""
    return meter, f"drawn from the training corpus's meters{typed}; {how}"


def constraints_for(model: ComposerModel, layout: Sequence[str | Slot], meter: str,
                    settings: ComposeSettings) -> tuple[Constraints, float | None]:
    """What the model may not choose, and the hold limit in beats (None: the model holds no notes).

    Never padding, the end or a whole tune's structure and header tokens; on a grid16 model, bar
    lines only where the layout forces them, and no pitch sounding (held or struck again) past
    --max-hold (default: one bar). Tokens the layout names by symbol are forced as their ids.
    """
    vocabulary = model.vocabulary
    banned = [i for i in (vocabulary.pad, vocabulary.end) if i is not None] + tune_only_tokens(vocabulary)
    forced = [vocabulary.id(slot) if isinstance(slot, str) else slot for slot in layout]
    if not isinstance(model.encoding, Grid16):
        return Constraints(forced, banned), None
    max_hold = meter_length_in_beats(meter) if settings.max_hold is None else settings.max_hold
    steps = round(max_hold * Grid16.steps_per_beat)
    bar = vocabulary.id(BAR)
    device = model.generator.device
    starts = torch.tensor([token_pitch(token) is not None for token in vocabulary.tokens], device=device)
    # A whole tune's repeat signs and strain marks take no step either: a note goes on sounding across them.
    timeless = torch.tensor([token == BAR or token in STRUCTURE_TOKENS for token in vocabulary.tokens], device=device)
    limit = HoldLimit(vocabulary.id(HOLD), steps, starts, timeless)
    return Constraints(forced, [*banned, bar], limit if steps else None), max_hold


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
    bars, steps = settings.window_length()
    if isinstance(model.encoding, Grid16):
        layout = bar_layout([s == BAR for s in prefix], int(bar_beats * Grid16.steps_per_beat), bars, steps)
        layout_tokens: list[str | None] = [BAR if is_bar else None for is_bar in layout]
    else:
        beats_per_step = model.encoding.step_seconds * 2.0  # type: ignore[attr-defined]
        total = steps or round((bars or 0) * bar_beats / beats_per_step)
        layout_tokens = [None] * max(total - len(prefix), 0)
    if not any(token is None for token in layout_tokens):
        length = f"--bars {bars}" if bars is not None else f"--steps {steps}"
        raise SeqganError(f"the primer's opening already fills the asked length ({length}, the primer's included): "
                          f"give more {length.split()[0]} or fewer --primer-bars (now {settings.primer_bars})")
    return layout_tokens


def provenance_of(model: ComposerModel, settings: ComposeSettings, seed: int, title: str, tokens: list[str],
                  primer_bars: dict | None, max_hold: float | None, meter: dict, key: dict,
                  shape_options: list[str], key_option: str | None = None) -> dict:
    """The sidecar's record of how a tune was made, with the command that composes it again;
    `shape_options` give its length or form, `key_option` the --key to pin (default: the asked one)."""
    key_option = key_option or (settings.key.name if settings.key else None)
    command = ["seqgan-music", "compose", "--n", "1", "--seed", str(seed), "--temperature", f"{settings.temperature:g}"]
    command += ["--copy-temperature", f"{settings.copy_temperature:g}"] if settings.copy_temperature is not None else []
    command += ["--run", model.reference] if model.reference else []
    command += shape_options
    command += ["--top-k", str(settings.top_k)] if settings.top_k else []
    command += ["--max-hold", f"{max_hold:g}"] if max_hold is not None else []
    command += ["--meter", meter["written"]] + (["--key", key_option] if key_option else [])
    primer = None
    if settings.primer is not None and primer_bars is not None:
        command += [*settings.primer.options, "--primer-bars", str(settings.primer_bars)]
        cut = primer_bars["kept"] < primer_bars["total"]
        primer = settings.primer.description + (f", first {primer_bars['kept']} of {primer_bars['total']} bars"
                                                if cut else "")
    command += ["--tempo", f"{settings.tempo or 120:g}", "--program", str(settings.program)]
    command += ["--chords"] if settings.chords else []
    return {
        "title": title,
        "seqgan_music": __version__,
        "model": {"name": model.name, "source": model.source, "sha256": model.sha256},
        "seed": seed,
        "temperature": settings.temperature,
        "copy_temperature": settings.copy_temperature,
        "top_k": settings.top_k,
        "max_hold_beats": max_hold,
        "primer": primer,
        "primer_bars": primer_bars,
        "key": key,
        "meter": meter,
        "tempo": settings.tempo or 120.0,
        "length": dict(zip(("bars", "steps"), settings.window_length())),
        "chords": settings.chords,
        "program": settings.program,
        "encoding": model.encoding.params(),
        "tokens": " ".join(tokens),
        "command": shlex.join(command),
    }
