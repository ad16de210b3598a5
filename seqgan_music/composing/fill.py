"""Fill bars of a tune again (`compose --fill 5-8 --from TUNE`): new bars 5-8, every other bar, the
meter and the key kept exactly.

The tune is written in the model's tokens, moved into its key space (a plain-signature model: the
signature's shift, undone afterwards; integer semitones, exact), with a whole-tune model's header
and structure tokens. Then the gap's steps are written again:

- a MaskGAN model (its generator has `infill`) fills them in one pass, reading both sides of the
  gap through its encoder;
- any other model continues the tokens before the gap under compose's constraints (bar lines and
  repeat signs forced where the tune has them, the hold limit; a cadence on the gap's closing beat
  when the gap closes a strain, on the tonic when it closes the tune). The bars after the gap are a
  constraint where it can: `candidates` fills are drawn and the one under which the model finds
  the kept bars after the gap most likely (log p(the right context | the tune up to it), summed
  over its tokens) is kept. A gap that ends the tune has no right context: one draw.

The written tune is spliced at the melody level, so kept bars are the source's notes exactly
(triplets, off-grid notes and all), not their tokens: the new bars' notes come in between. At the
gap's edges a note the source holds into the gap is cut at its first bar line (the new bars may
hold it on: a gap opening on holds continues it, as the model heard it), and a note the source
holds out of the gap into the kept bars is struck again at the gap's last bar line, so every kept
bar sounds as it did.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import Tensor
from torch.nn import functional

from seqgan_music import __version__
from seqgan_music.composing.compose import (
    ComposedTune,
    ComposeSettings,
    constraints_for,
    one_cpu_thread,
    sampling_copy_temperature,
)
from seqgan_music.composing.continuation import Cadence, CadenceRule, Slot, continue_prefix
from seqgan_music.composing.form import cadence_degrees, closing_beat_steps
from seqgan_music.composing.model import ComposerModel
from seqgan_music.composing.source_tune import SourceTune, melody_record
from seqgan_music.composing.titles import file_stem
from seqgan_music.composing.writing import Piece
from seqgan_music.corpora.encodings import BAR, HOLD, REST, Grid16, pitch_token, token_pitch
from seqgan_music.corpora.form import folk_key, mode_of
from seqgan_music.corpora.melody import Melody, Note
from seqgan_music.corpora.tunes import (
    HEADER_FIELDS,
    PART,
    REPEAT,
    STRUCTURE_TOKENS,
    UNKNOWN_TYPE,
    Tune,
    TuneHeader,
    TunePart,
    split_bars,
    tune_from_written,
    tune_only_tokens,
    tune_type,
)
from seqgan_music.errors import SeqganError
from seqgan_music.export.chords import harmonise
from seqgan_music.models.sampling import check_sampling
from seqgan_music.models.vae import CodeConditionedGenerator
from seqgan_music.progress import Reporter, SilentReporter

DEFAULT_CANDIDATES, MAX_CANDIDATES = 16, 256
MASKGAN, LEFT_CONTEXT = "maskgan in-filling", "left context, best of {k} by the following bars' likelihood"
_SPAN = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")
_EPSILON = 1e-6


@dataclass(frozen=True)
class FillSettings:
    """How to fill: `count` versions, the first with `seed` (version i: seed + i), sampled at
    `temperature` (None: the model's own) among the `top_k` likeliest tokens (None: all), no pitch
    sounding past `max_hold` beats (None: a bar; 0: no limit), the best of `candidates` fills by the
    following bars' likelihood (left-context models), chords and the MIDI program of the written tune."""

    count: int = 4
    seed: int = 0
    temperature: float | None = None
    top_k: int | None = None
    max_hold: float | None = None
    candidates: int = DEFAULT_CANDIDATES
    chords: bool = False
    program: int = 0


def check_fill_settings(settings: FillSettings) -> None:
    """One-line errors for settings that cannot be filled with."""
    if settings.count < 1:
        raise SeqganError(f"--n must be at least 1, got {settings.count}")
    if not 1 <= settings.candidates <= MAX_CANDIDATES:
        raise SeqganError(f"--candidates must be 1-{MAX_CANDIDATES}, got {settings.candidates}")
    try:
        check_sampling(1.0 if settings.temperature is None else settings.temperature, settings.top_k)
    except ValueError as error:
        raise SeqganError(str(error)) from None
    if settings.max_hold is not None and not (settings.max_hold >= 0
                                              and (settings.max_hold * Grid16.steps_per_beat) % 1 == 0):
        raise SeqganError(f"--max-hold must be 0 (no limit) or a whole number of sixteenths (0.25 beats), "
                          f"got {settings.max_hold:g}")
    if not 0 <= settings.program <= 127:
        raise SeqganError(f"--program must be a General MIDI program 0-127, got {settings.program}")


def parse_span(text: str) -> tuple[int, int]:
    """'5-8' -> (5, 8); '5' and '5-5' -> (5, 5); a one-line error for anything else."""
    match = _SPAN.match(text)
    first, last = (int(match.group(1)), int(match.group(2) or match.group(1))) if match else (0, -1)
    if not match or last < first:
        raise SeqganError(f"invalid --fill {text!r}: give the bars to write again as FIRST-LAST, e.g. 5-8, or one bar, e.g. 5")
    return first, last


def check_span(source: SourceTune, first: int, last: int) -> None:
    """One-line errors for bars that are not in the tune, the pickup, or the whole tune."""
    count = len(source.melody.bars)
    if first == 0:
        raise SeqganError(f"bar 0 is {source.name}'s pickup{'' if _has_pickup(source.melody) else ' (it has none)'}, "
                          "which cannot be filled: bars are numbered from 1, the first bar after the pickup")
    if last > count:
        raise SeqganError(f"bars {first}-{last} are not all in {source.name}, which has {count} bars (1-{count})")
    if first == 1 and last == count:
        raise SeqganError(f"bars 1-{count} are the whole of {source.name}: keep at least one bar "
                          "(compose writes whole new tunes)")


def fill_tunes(model: ComposerModel, source: SourceTune, first: int, last: int, settings: FillSettings,
               reporter: Reporter = SilentReporter()) -> list[ComposedTune]:
    """`settings.count` versions of `source` with bars `first`-`last` written again, version i with
    seed `settings.seed + i`; the same model, tune and settings give the same tunes."""
    check_fill_settings(settings)
    check_span(source, first, last)
    reporter.begin("Filling", settings.count)
    tunes = []
    for index in range(settings.count):
        tunes.append(fill_tune(model, source, first, last, replace(settings, seed=settings.seed + index)))
        reporter.advance()
    reporter.end()
    return tunes


def fill_tune(model: ComposerModel, source: SourceTune, first: int, last: int,
              settings: FillSettings) -> ComposedTune:
    """`source` with its notated bars `first`-`last` (from 1; the pickup is bar 0 and stays) written
    again by `model`, seeded by `settings.seed`; every other bar, the meter and the key kept exactly.

    A MaskGAN model (its generator has `infill`) fills from both sides of the gap; any other grid16
    model continues the tune up to the gap and keeps the best of `settings.candidates` fills by the
    likelihood of the bars after it (see the module docstring). The ComposedTune's melody is the
    written tune (the source's bars outside the span, the new ones inside, the source's repeat
    signs), its tokens the whole tune in the model's key space, and its provenance says what was
    filled, how, with which model and seed, and the command that fills it again. One-line errors
    for a span outside the tune, a model without bar lines, notes outside the model's range or a
    meter it never saw.
    """
    check_fill_settings(settings)
    check_span(source, first, last)
    if not isinstance(model.encoding, Grid16):
        raise SeqganError(f"--fill needs a grid16 model, whose tunes have bar lines: {model.name} "
                          f"({model.encoding.name} encoding) has none")
    temperature = model.temperature if settings.temperature is None else settings.temperature
    attention = model.generator.attention
    max_hold: float | None = None  # an in-filling generator has no hold limit
    with one_cpu_thread(model.generator.device), \
            sampling_copy_temperature(model, None if attention is None else model.copy_temperature):
        context = _tokens_of(model, source, first, last)
        if hasattr(model.generator, "infill"):
            filled, scores, method = _infill(model, context, temperature, settings), [], MASKGAN
        else:
            filled, scores, max_hold = _left_context_fill(model, context, temperature, settings)
            method = LEFT_CONTEXT.format(k=len(scores)) if len(scores) > 1 else "left context (no bars follow the gap)"
    melody = _spliced(source.melody, context, filled)
    title = f"{source.melody.title or source.path.stem} (bars {first}-{last} new, seed {settings.seed})"
    melody = replace(melody, title=title, source=f"seqgan-music compose --fill, seed {settings.seed}")
    provenance = _provenance(model, source, first, last, settings, temperature, method, context, filled, scores,
                             melody, max_hold)
    return ComposedTune(settings.seed, title, melody, harmonise(melody) if settings.chords else [], filled, provenance)


def _has_pickup(melody: Melody) -> bool:
    return bool(melody.notes) and melody.notes[0].start < melody.bars[0] - _EPSILON


# --- the tune in the model's tokens --------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    """The source written in the model's tokens, and where the gap is in them and in beats."""

    symbols: list[str]  # the whole tune (a whole-tune model's header and structure included)
    start: int  # the gap's first token (a step of bar `first`)
    stop: int  # one past its last token (a step of bar `last`)
    shift: int  # semitones from the source's key to the model's
    begins: float  # the gap's first beat (bar `first`'s line)
    ends: float  # its last beat (the next bar line, or the tune's end)
    cut: list[Note]  # the source's notes cut at the gap's edges (its own notes left out)
    meter: str
    tonic: int  # the tune's tonic pitch class in the model's key space
    closes: tuple[int, ...] | None  # the cadence degrees when the gap closes a strain
    closing_steps: int  # steps of the gap's closing bar

    def is_step(self, position: int) -> bool:
        return _is_step(self.symbols[position])


def _is_step(symbol: str) -> bool:
    """A grid16 step (a pitch, HOLD or REST), not a bar line, repeat sign or header token."""
    return symbol != BAR and symbol not in STRUCTURE_TOKENS and symbol.partition("=")[0] not in HEADER_FIELDS


def _tokens_of(model: ComposerModel, source: SourceTune, first: int, last: int) -> _Context:
    melody = source.melody
    begins = melody.bars[first - 1]
    ends = melody.bars[last] if last < len(melody.bars) else max(melody.end, begins)
    shift = melody.key.semitones_to_plain_signature() if model.encoding.transpose and melody.key else 0
    moved = replace(melody, notes=[Note(n.pitch + shift, n.start, n.end)
                                   for n in _cut(melody.notes, begins, ends, keep_gap=True)])
    symbols = Grid16(transpose=False).encode(moved).symbols
    if model.whole_tunes:
        symbols = _whole_tune_symbols(model, melody, symbols)
    numbers = _bar_numbers(symbols)
    positions = [p for p, bar in enumerate(numbers) if first <= bar <= last and _is_step(symbols[p])]
    if numbers[-1] != len(melody.bars) or not positions or numbers[positions[0]] != first:
        raise SeqganError(f"{source.name}'s bar lines do not all fall on the sixteenth grid (or a bar is empty): "
                          "it cannot be filled bar by bar")
    start, stop = positions[0], positions[-1] + 1
    _check_vocabulary(model, source, symbols, start, stop, shift)
    closing_steps = sum(1 for p in positions if numbers[p] == last)
    return _Context(symbols, start, stop, shift, begins, ends, _cut(melody.notes, begins, ends), melody.meter,
                    (folk_key(melody).tonic_pitch_class + shift) % 12, _cadence(melody, last, symbols, stop),
                    closing_steps)


def _bar_numbers(symbols: Sequence[str]) -> list[int]:
    """Per token, the notated bar it is in: 0 for the header and pickup, n from the n-th bar line on."""
    numbers, bar = [], 0
    for symbol in symbols:
        bar += symbol == BAR
        numbers.append(bar)
    return numbers


def _cut(notes: Sequence[Note], begins: float, ends: float, keep_gap: bool = False) -> list[Note]:
    """The notes cut at the gap's edges: a note held into the gap ends at `begins`, one held out of
    it starts again at `ends`; the notes inside the gap left out unless `keep_gap` (so the tune keeps
    its length in steps)."""
    kept: list[Note] = []
    for note in notes:
        if note.start >= ends - _EPSILON:
            kept.append(note)
            continue
        if note.start < begins - _EPSILON:
            kept.append(Note(note.pitch, note.start, min(note.end, begins)))
        elif keep_gap:
            kept.append(Note(note.pitch, note.start, min(note.end, ends)))
        if note.end > ends + _EPSILON:
            kept.append(Note(note.pitch, ends, note.end))
    return kept


def _whole_tune_symbols(model: ComposerModel, melody: Melody, steps: list[str]) -> list[str]:
    """A whole-tune model's sequence: the header it is conditioned on, the strains and repeat signs."""
    vocabulary = model.vocabulary
    kind = tune_type(melody)
    header = TuneHeader(melody.meter, mode_of(melody), kind if f"type={kind}" in vocabulary else UNKNOWN_TYPE)
    if f"meter={header.meter}" not in vocabulary:
        raise SeqganError(f"{model.name} never saw a tune in {header.meter}: fill it with a model trained on that meter")
    if melody.repeat_marks is not None:
        return tune_from_written(steps, header, melody.repeat_marks).symbols()
    pickup, bars = split_bars(steps)
    return Tune(header, [TunePart(bars)], pickup).symbols()


def _check_vocabulary(model: ComposerModel, source: SourceTune, symbols: Sequence[str], start: int, stop: int,
                      shift: int) -> None:
    """One-line error for a kept note the model cannot read (the gap's own notes are written anew)."""
    vocabulary = model.vocabulary
    outside = sorted({s for p, s in enumerate(symbols) if not start <= p < stop and s not in vocabulary},
                     key=lambda s: token_pitch(s) or 0)
    if outside:
        pitches = [token_pitch(t) for t in vocabulary.tokens if token_pitch(t) is not None]
        moved = f" (moved {shift:+d} semitones into the model's key)" if shift else ""
        raise SeqganError(f"{source.name}: note(s) {', '.join(outside)}{moved} are outside the range of {model.name}, "
                          f"{pitch_token(min(pitches))}-{pitch_token(max(pitches))}; fill a tune within it")


def _cadence(melody: Melody, last: int, symbols: Sequence[str], stop: int) -> tuple[int, ...] | None:
    """The degrees the gap closes on when bar `last` closes a strain (the tonic chord; the tonic when
    it closes the tune): the tune's last bar, a bar before an end repeat, a new strain or a second
    ending's end; None inside a strain."""
    following = next((s for s in symbols[stop:] if not _is_step(s)), None)  # after the gap's last step
    marks = melody.repeat_marks or []
    ends_repeat = last - 1 < len(marks) and marks[last - 1][1]
    next_opens_repeat = last < len(marks) and marks[last][0]
    if following not in (None, PART, REPEAT) and not ends_repeat and not next_opens_repeat:
        return None
    return cadence_degrees(mode_of(melody), final=last == len(melody.bars))


# --- filling ---------------------------------------------------------------------------------------


def _left_context_fill(model: ComposerModel, context: _Context, temperature: float,
                       settings: FillSettings) -> tuple[list[str], list[float], float | None]:
    """The tune with its gap written by continuing the tokens before it: the best of the candidates
    by the likelihood of what follows, each candidate's score (log p of the tokens after the gap,
    summed; one unscored draw when nothing follows) and the hold limit used."""
    vocabulary, generator = model.vocabulary, model.generator
    symbols = context.symbols
    layout: list[str | Slot] = [None if context.is_step(p) else symbols[p] for p in range(context.start, context.stop)]
    if context.closes is not None:
        _close_on(layout, context)
    constraints, max_hold = constraints_for(model, layout, context.meter, ComposeSettings(max_hold=settings.max_hold))
    if context.closes is not None:
        constraints = replace(constraints, cadence=_tonic_rule(model, context))
    following = vocabulary.ids(symbols[context.stop:]) + ([vocabulary.end] if model.whole_tunes and vocabulary.end
                                                          is not None else [])
    rows = settings.candidates if following else 1
    noise = torch.Generator(device=generator.device).manual_seed(settings.seed)
    # A latent-variable decoder (VAE, ARAE) writes each candidate from a code: its fill is scored under that code.
    codes = generator.prior_codes(rows, noise) if isinstance(generator, CodeConditionedGenerator) else None
    drawn = continue_prefix(generator, vocabulary.ids(symbols[:context.start]), constraints, rows, temperature,
                            settings.top_k, noise, codes)  # (rows, stop)
    whole = torch.cat([drawn, torch.tensor(following, dtype=torch.long, device=drawn.device).expand(rows, -1)], 1)
    scores = right_context_scores(model, whole, context.stop, codes) if following else torch.zeros(1)
    best = int(torch.argmax(scores))
    written = whole[best, :len(symbols)]  # without the <end> scored after a whole tune
    return [vocabulary.token(t) for t in written.tolist()], [float(s) for s in scores], max_hold


@torch.no_grad()
def right_context_scores(model: ComposerModel, tokens: Tensor, start: int, codes: Tensor | None = None) -> Tensor:
    """log p(tokens[:, start:] | tokens[:, :start]) under the model as it composes (its copy temperature,
    for a model with attention over bars; a latent-variable decoder from each row's code in `codes`),
    (rows,): how likely the kept bars after a gap are given each row's fill (its tokens before `start`)."""
    generator = model.generator
    state = generator.state_from(codes) if isinstance(generator, CodeConditionedGenerator) and codes is not None else None
    inputs = torch.cat([torch.full((len(tokens), 1), generator.start_token, dtype=torch.long, device=tokens.device),
                        tokens[:, :-1]], 1)
    with sampling_copy_temperature(model, None if generator.attention is None else model.copy_temperature):
        logits, _ = generator(inputs, state)  # (rows, T, V)
    picked = functional.log_softmax(logits.float(), -1).gather(2, tokens.unsqueeze(2)).squeeze(2)  # (rows, T)
    return picked[:, start:].sum(1).cpu()


def _close_on(layout: list[str | Slot], context: _Context) -> None:
    """The gap's closing beat made a cadence on `context.closes` (its last steps, the beat's first an onset)."""
    sampled = [i for i, slot in enumerate(layout) if slot is None]
    closing = sampled[-min(closing_beat_steps(context.meter), context.closing_steps):]
    for order, index in enumerate(closing):
        layout[index] = Cadence(context.closes or (0,), onset=order == 0)


def _tonic_rule(model: ComposerModel, context: _Context) -> CadenceRule:
    """Cadences on the source's tonic, moved into the model's key."""
    vocabulary = model.vocabulary
    device = model.generator.device
    classes = torch.tensor([-1 if token_pitch(t) is None else token_pitch(t) % 12 for t in vocabulary.tokens],
                           device=device)
    return CadenceRule(classes, vocabulary.id(HOLD), lambda tokens: torch.full(
        (tokens.shape[0],), context.tonic, dtype=torch.long, device=tokens.device))


def _infill(model: ComposerModel, context: _Context, temperature: float, settings: FillSettings) -> list[str]:
    """The gap filled by a MaskGAN generator, which reads the tune on both sides of it; the bar lines
    and repeat signs inside the gap stay where they are."""
    vocabulary, generator = model.vocabulary, model.generator
    symbols = [s if s in vocabulary else REST for s in context.symbols]  # the gap's own notes are not read
    tokens = torch.tensor([vocabulary.ids(symbols)], dtype=torch.long, device=generator.device)
    keep = torch.tensor([[not (context.start <= p < context.stop and context.is_step(p)) for p in range(len(symbols))]],
                        device=generator.device)
    banned = torch.zeros(generator.vocab_size, dtype=torch.bool, device=generator.device)
    banned[[i for i in (vocabulary.pad, vocabulary.end) if i is not None] + tune_only_tokens(vocabulary)
           + [vocabulary.id(BAR)]] = True
    noise = torch.Generator(device=generator.device).manual_seed(settings.seed)
    filled = generator.infill(tokens, keep, temperature, settings.top_k or 0, noise, banned)  # type: ignore[operator]
    return [vocabulary.token(t) for t in filled[0].tolist()]


# --- the written tune --------------------------------------------------------------------------------


def _spliced(source: Melody, context: _Context, filled: Sequence[str]) -> Melody:
    """The source's notes outside the gap (cut at its edges) and the new bars' notes inside it, moved
    back into the source's key: a gap opening on holds continues the note sounding at its first bar line."""
    steps = [s for p, s in enumerate(filled[context.start:context.stop], context.start) if context.is_step(p)]
    held = next((i for i, s in enumerate(steps) if s != HOLD), len(steps))
    new = Grid16(transpose=False).decode(steps)
    notes = [Note(n.pitch - context.shift, context.begins + n.start, min(context.begins + n.end, context.ends))
             for n in new.notes]
    kept = list(context.cut)
    sounding = [i for i, n in enumerate(kept) if abs(n.end - context.begins) < _EPSILON]
    if held and sounding:
        note = kept[sounding[-1]]
        kept[sounding[-1]] = Note(note.pitch, note.start, min(context.begins + held / Grid16.steps_per_beat, context.ends))
    return replace(source, notes=sorted(kept + [n for n in notes if n.end > n.start + _EPSILON], key=lambda n: n.start))


def _provenance(model: ComposerModel, source: SourceTune, first: int, last: int, settings: FillSettings,
                temperature: float, method: str, context: _Context, filled: list[str], scores: list[float],
                melody: Melody, max_hold: float | None) -> dict:
    """The sidecar's record: what was filled in which tune, how, and the command that fills it again."""
    command = ["seqgan-music", "compose", "--fill", f"{first}-{last}", "--from", source.option, "--n", "1",
               "--seed", str(settings.seed), "--temperature", f"{temperature:g}"]
    command += ["--run", model.reference] if model.reference else []
    command += ["--top-k", str(settings.top_k)] if settings.top_k else []
    command += ["--max-hold", f"{settings.max_hold:g}"] if settings.max_hold is not None else []
    command += ["--candidates", str(settings.candidates)] if len(scores) > 1 else []
    command += ["--program", str(settings.program)] + (["--chords"] if settings.chords else [])
    key = melody.key
    return {
        "title": melody.title,
        "seqgan_music": __version__,
        "model": {"name": model.name, "source": model.source, "sha256": model.sha256},
        "seed": settings.seed,
        "temperature": temperature,
        "top_k": settings.top_k,
        "max_hold_beats": max_hold,
        "fill": {"source": {"file": str(source.path), "tune": source.number, "kind": source.kind,
                            "sha256": source.sha256},
                 "bars": [first, last], "how": method, "candidates": len(scores) or 1,
                 "scores": [round(s, 4) for s in scores], "chosen": scores.index(max(scores)) if scores else 0,
                 "cadence": list(context.closes) if context.closes is not None else None,
                 "edges": "a note held into the gap is cut at its first bar line (continued by holds that open "
                          "the new bars); one held out of it is struck again at its last bar line"},
        "key": {"written": key.name if key else "unknown", "how": f"kept from {source.name}",
                "transposed_semitones": -context.shift},
        "meter": {"written": melody.meter, "how": f"kept from {source.name}"},
        "form": f"{source.name} with bars {first}-{last} new",
        "tempo": melody.tempo,
        "chords": settings.chords,
        "program": settings.program,
        "encoding": model.encoding.params(),
        "tokens": " ".join(filled),
        "melody": melody_record(melody),
        "command": shlex.join(command),
    }


def fill_piece(index: int, tune: ComposedTune) -> Piece:
    """A filled tune to write: a stem naming its source and bars, and its provenance in every format that holds text."""
    p = tune.provenance
    fill = p["fill"]
    first, last = fill["bars"]
    source = Path(fill["source"]["file"]).name + (f"#{fill['source']['tune']}" if fill["source"]["kind"] == "abc" else "")
    notes = [f"Bars {first}-{last} of {source} (sha256 {fill['source']['sha256'][:16]}) written again by seqgan-music "
             f"{p['seqgan_music']} with model {p['model']['name']} (sha256 {p['model']['sha256'][:16]}), seed {p['seed']}, "
             f"temperature {p['temperature']:g}" + (f", top-k {p['top_k']}" if p["top_k"] else "") + f": {fill['how']}",
             f"Key {p['key']['written']} and meter {p['meter']['written']} kept; every other bar as in the source.",
             f"Recompose: {p['command']}"]
    stem = file_stem(index, tune.seed, f"{Path(fill['source']['file']).stem} bars {first}-{last}")
    return Piece(stem, tune.melody, tune.chords, notes, p, p["program"])
