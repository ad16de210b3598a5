"""Compose one whole tune with a whole-tune model: the header it is conditioned on, the form laid out
as forced structure, the notes written by the model, the key reached by transposition.

The model was trained on tunes in the plain signature (C major, D dorian, G mixolydian, A minor)
with `meter=`, `mode=` and `type=` tokens first, so asking for `--key "A dorian" --type jig` means
writing `meter=6/8 mode=dorian type=jig`, letting the model compose in D dorian, and moving the
result to A. The tune comes out as notated (one pass, repeat signs in `Melody.repeat_marks`);
MIDI and WAV play the repeats out.
"""

from __future__ import annotations

import random
from dataclasses import replace

import torch
from torch import Tensor

from seqgan_music.composing.compose import (
    ComposedTune,
    ComposeSettings,
    constraints_for,
    primer_key_decision,
    primer_opening,
    provenance_of,
)
from seqgan_music.composing.continuation import CadenceRule, continue_prefix
from seqgan_music.composing.form import (
    DEFAULT_FORM,
    DEFAULT_PART_BARS,
    FREE,
    TunePlan,
    check_plan,
    closing_beat_steps,
    form_name,
    parse_form,
    tune_layout,
    written_out,
)
from seqgan_music.composing.header import HeaderChoice, choose_header
from seqgan_music.composing.keys import shift_between
from seqgan_music.composing.meters import bar_steps
from seqgan_music.composing.model import ComposerModel
from seqgan_music.composing.titles import tune_title
from seqgan_music.corpora.encodings import HOLD, token_pitch
from seqgan_music.corpora.form import FOLK_MODES
from seqgan_music.corpora.keys import estimate_key
from seqgan_music.corpora.melody import Key, Melody
from seqgan_music.corpora.tunes import PART, REPEAT, parse_tune_symbols
from seqgan_music.corpora.vocabulary import Vocabulary
from seqgan_music.errors import SeqganError
from seqgan_music.export.chords import harmonise

_NEAREST_FOLK_MODE = {"ionian": "major", "lydian": "major", "aeolian": "minor", "phrygian": "minor", "locrian": "minor"}


def whole_tune_warning(model: ComposerModel, settings: ComposeSettings) -> str | None:
    """One-line errors for what a whole-tune model cannot do (a length in steps, --bars with a form of
    strains, a meter, mode or type it never saw); a warning for a header no training tune has."""
    if settings.steps is not None:
        raise SeqganError("a whole-tune model composes in bars: give --part-bars (or --bars with --form free)")
    if settings.bars is not None and settings.form is not None and settings.form.strip().lower() != FREE:
        raise SeqganError(f"--bars sets the length of a --form free tune; --form {settings.form} is as long as its "
                          "strains: give --part-bars instead")
    check_plan(_plan(settings, "4/4", "major", model.vocabulary))
    choice = _header(model, settings, random.Random(settings.seed))
    return choice.warning


def compose_whole_tune(model: ComposerModel, settings: ComposeSettings, seed: int) -> ComposedTune:
    """One tune; its seed drives the drawn header, the model's noise and the title."""
    chooser = random.Random(seed)
    choice = _header(model, settings, chooser)
    header = choice.header
    plan = _plan(settings, header.meter, header.mode, model.vocabulary)
    vocabulary = model.vocabulary
    primer_key, primer_bars, opening = primer_opening(model, settings, header.meter)
    prefix = [*header.symbols(), PART, *opening]
    layout = tune_layout(plan, prefix)
    constraints, max_hold = constraints_for(model, layout, header.meter, settings)
    plain = model.encoding.transpose
    constraints = replace(constraints, cadence=_cadence_rule(model, header.mode, plain))
    noise = torch.Generator(device=model.generator.device).manual_seed(seed)
    row = continue_prefix(model.generator, vocabulary.ids(prefix), constraints, 1, settings.temperature,
                          settings.top_k, noise)[0].cpu().tolist()
    tokens = [vocabulary.token(t) for t in row]
    tune = parse_tune_symbols(tokens, header.meter)

    found = Key.from_tonic(Key(0, header.mode).tonic_pitch_class, header.mode, "estimated") if plain else None
    asked = settings.key
    if primer_key is not None:
        shift, written, key_how = primer_key_decision(primer_key, settings, plain)
    elif found is None:  # a model in every key: the tune's key is read from its notes
        written = Key(_signature(tune.melody()), header.mode, "estimated")
        shift = shift_between(written.tonic_pitch_class, asked.tonic_pitch_class) if asked else 0
        written = Key.from_tonic((written.tonic_pitch_class + shift) % 12, header.mode, "requested" if asked else "estimated")
        key_how = f"mode {header.mode} {choice.how['mode']}; the tonic estimated from the notes" + \
            (f", transposed to {asked.name}" if asked else "")
    elif asked is not None:
        shift = shift_between(found.tonic_pitch_class, asked.tonic_pitch_class)
        written = Key.from_tonic(asked.tonic_pitch_class, header.mode, "requested")
        key_how = f"asked {asked.name}: the model composed in {found.name} (conditioned on mode={header.mode}), transposed"
    else:
        shift, written = 0, found
        key_how = f"mode {header.mode} {choice.how['mode']}; the model composes in {found.name}"
    title = tune_title(seed)
    melody = tune.melody(played=False).transposed(shift)
    melody = replace(melody, key=written, title=title, tempo=float(settings.tempo or 120.0),
                     source=f"seqgan-music compose, seed {seed}")
    chords = harmonise(melody) if settings.chords else []
    strains = parse_form(_form(settings))
    shape = ["--form", form_name(strains) if _form(settings) != FREE else FREE, "--part-bars", str(plan.part_bars),
             "--type", header.type] + (["--endings"] if plan.endings else [])
    provenance = provenance_of(model, settings, seed, title, tokens, primer_bars, max_hold,
                               {"written": header.meter, "how": choice.how["meter"]},
                               {"written": written.name, "asked": asked.name if asked else None, "how": key_how,
                                "transposed_semitones": shift},
                               shape, key_option=None if primer_key is not None else written.name)
    provenance["form"] = f"{header.type} {tune.form_letters()}" if header.type != "unknown" else tune.form_letters()
    provenance["tune"] = {"type": {"written": header.type, "how": choice.how["type"]},
                          "mode": {"written": header.mode, "how": choice.how["mode"]},
                          "form": form_name(strains), "part_bars": plan.part_bars, "endings": plan.endings,
                          "notated_bars": len(tune.notated_bars()), "played_bars": len(tune.played_bars())}
    return ComposedTune(seed, title, melody, chords, tokens, provenance)


def _form(settings: ComposeSettings) -> str:
    """The asked form; AABB by default, free when only a length in bars is given."""
    if settings.form is not None:
        return FREE if settings.form.strip().lower() == FREE else settings.form.strip()
    return FREE if settings.bars is not None else DEFAULT_FORM


def _plan(settings: ComposeSettings, meter: str, mode: str, vocabulary: Vocabulary) -> TunePlan:
    """The form laid out for the model: with repeat signs where its corpus wrote them, else written out."""
    form = _form(settings)
    strains = parse_form(form)
    if REPEAT not in vocabulary:
        if settings.endings:
            raise SeqganError("--endings needs repeat signs, and this model's corpus has none (its tunes were read "
                              "played out): leave --endings out")
        strains = written_out(strains)
    part_bars = settings.part_bars or DEFAULT_PART_BARS
    if form == FREE:
        part_bars = settings.bars or settings.part_bars or 2 * DEFAULT_PART_BARS
    steps = bar_steps(meter)
    if steps is None:
        raise SeqganError(f"a bar of {meter} is not a whole number of sixteenths")
    length_option = "--bars" if form == FREE and settings.bars is not None else "--part-bars"
    return TunePlan(strains, part_bars, steps, closing_beat_steps(meter), mode, settings.endings,
                    length_option)


def _header(model: ComposerModel, settings: ComposeSettings, chooser: random.Random) -> HeaderChoice:
    """The asked meter (or the primer file's), mode (of --key, or the primer's key) and type, the rest drawn."""
    mode = _folk_mode(settings.key) if settings.key else None
    meter = settings.meter
    primer = settings.primer
    if primer is not None:
        meter = meter or (primer.melody.meter if primer.has_meter else None)
        if primer.melody.key is not None:
            mode = _folk_mode(primer.melody.key)
    return choose_header(model.headers, {"meter": meter, "mode": mode, "type": settings.tune_type}, chooser)


def _folk_mode(key: Key) -> str:
    """The folk mode a key asks for: its own, else the nearest (lydian -> major, phrygian -> minor)."""
    return key.mode if key.mode in FOLK_MODES else _NEAREST_FOLK_MODE.get(key.mode, "major")


def _signature(melody: Melody) -> int:
    """The key signature (fifths) the notes suggest; none for a tune without notes yet."""
    return estimate_key(melody.notes).fifths if melody.notes else 0


def _cadence_rule(model: ComposerModel, mode: str, plain: bool) -> CadenceRule:
    """Cadences on the mode's tonic: fixed in the plain signature, read from the notes so far otherwise."""
    vocabulary = model.vocabulary
    device = model.generator.device
    classes = torch.tensor([-1 if token_pitch(t) is None else token_pitch(t) % 12 for t in vocabulary.tokens],
                           device=device)
    hold = vocabulary.id(HOLD)
    if plain:
        tonic_class = Key(0, mode).tonic_pitch_class

        def tonic(tokens: Tensor) -> Tensor:
            return torch.full((tokens.shape[0],), tonic_class, dtype=torch.long, device=tokens.device)
    else:
        def tonic(tokens: Tensor) -> Tensor:
            melodies = [parse_tune_symbols([vocabulary.token(t) for t in row]).melody() for row in tokens.tolist()]
            return torch.tensor([Key(_signature(melody), mode).tonic_pitch_class for melody in melodies],
                                dtype=torch.long, device=tokens.device)
    return CadenceRule(classes, hold, tonic)

