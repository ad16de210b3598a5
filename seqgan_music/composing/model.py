"""The model a tune is composed with: a run's generator, or a packed model folder (the shipped default).

A packed model is what composing needs and nothing else, so it can ship inside the package:
`generator.pt` (the generator's weights, loaded with `weights_only=True`) and `model.json` (the
vocabulary, the encoding, the generator's shape and whether it reads lookback inputs, the unit it
learned (windows or whole tunes), the corpus's meters and, for whole tunes, its tunes' headers,
where it came from, its evaluation and the commands that reproduce it). A model packed before
whole tunes existed has no unit: it is a window model.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import torch

from seqgan_music.atomic import replace_folder_atomically
from seqgan_music.composing.header import header_counts
from seqgan_music.corpora.encodings import BAR, MusicEncoding, encoding_from_params
from seqgan_music.corpora.tunes import PART, parse_tune_symbols, tune_only_tokens
from seqgan_music.corpora.vocabulary import Vocabulary
from seqgan_music.errors import SeqganError
from seqgan_music.models.generator import Generator
from seqgan_music.models.arae import ARAEGenerator
from seqgan_music.models.leakgan import LeakGANGenerator
from seqgan_music.models.maskgan import MaskGANGenerator
from seqgan_music.models.vae import CodeConditionedGenerator, SentenceVAE
from seqgan_music.project_files import damage_as_error, expect, expect_fields, read_bytes, read_json, read_weights

MODEL_FILE, WEIGHTS_FILE = "model.json", "generator.pt"
PACKED_FORMAT = 1
DEFAULT_MODEL = "default"
# A latent-variable model's sizes in model.json's generator.latent, by method
LATENT_SIZES = {"vae": ("code_size", "nll_samples"), "arae": ("code_size", "nll_samples", "noise_size", "mlp_hidden")}


@dataclass
class ComposerModel:
    """A music generator ready to sample, with what turns its tokens into tunes."""

    name: str
    source: str  # "default", "packed <folder>" or "run <folder>"
    generator: Generator
    vocabulary: Vocabulary
    encoding: MusicEncoding
    meters: dict[str, int]  # meter -> tunes of the training corpus in it
    sha256: str  # of the weights file: names exactly the weights used
    reference: str | None = None  # what `--run` takes to load this model again (None: the default)
    info: dict = field(default_factory=dict)  # model.json of a packed model
    unit: str = "window"  # what it learned: "window" (strings of bars) or "tune" (whole tunes)
    headers: dict[str, int] = field(default_factory=dict)  # whole tunes: training tunes per "meter mode type"

    @property
    def whole_tunes(self) -> bool:
        return self.unit == "tune"

    @property
    def temperature(self) -> float:
        """The temperature compose samples at when none is asked: a packed model's own (`pack
        --temperature`, stored in model.json), else 1.0 (the model's distribution as it is)."""
        return float(self.info.get("compose", {}).get("temperature", 1.0))

    @property
    def copy_temperature(self) -> float:
        """A model with attention over bars: the temperature of its choice between writing new and
        copying a bar when none is asked (`pack --copy-temperature`), else 1.0."""
        return float(self.info.get("compose", {}).get("copy_temperature", 1.0))


def default_model_folder() -> Path:
    """The packed default model that ships inside the package."""
    return Path(str(resources.files("seqgan_music") / "default_model"))


def load_model(home: Path, name: str | None = None, device: torch.device = torch.device("cpu")) -> ComposerModel:
    """`None` or "default": the shipped model; a folder holding model.json: that packed model;
    anything else: the run of that name under `home`."""
    if name is None or name == DEFAULT_MODEL:
        folder = default_model_folder()
        if not (folder / MODEL_FILE).is_file():
            raise SeqganError("the default model is missing from this installation: reinstall seqgan-music "
                              "(`make install`), or compose with --run RUN")
        model = load_packed(folder, device)
        model.name, model.source, model.reference = DEFAULT_MODEL, "default", None
        return model
    path = Path(name).expanduser()
    if (path / MODEL_FILE).is_file():
        return load_packed(path, device)
    return _load_run(home, name, device)


def load_packed(folder: Path, device: torch.device = torch.device("cpu")) -> ComposerModel:
    """A packed model folder; one-line errors for a damaged or foreign one."""
    info = read_model_info(folder)
    remedy, weights_path = _packed_remedy(folder), folder / WEIGHTS_FILE
    with damage_as_error(weights_path, remedy):
        weights = read_bytes(weights_path)
    state = read_weights(weights_path, weights, remedy)
    with damage_as_error(folder / MODEL_FILE, remedy):
        vocabulary = Vocabulary.from_data(info["vocabulary"])
        encoding = encoding_from_params(info["encoding"])
        unit = info.get("unit", "window")
        generator = _packed_generator(info["generator"], vocabulary, unit)
    with damage_as_error(weights_path, remedy):
        expect(isinstance(state, dict), "holds no weights")
        generator.load_state_dict(state)  # weights of another shape: RuntimeError
    headers = dict(info.get("headers", {}))
    if not isinstance(encoding, MusicEncoding):
        raise SeqganError(f"model {folder} was not trained on music: compose needs a music model")
    generator.to(device).eval()
    return ComposerModel(str(info.get("name", folder.name)), f"packed {folder}", generator, vocabulary, encoding,
                         dict(info.get("meters", {})), hashlib.sha256(weights).hexdigest(), str(folder.resolve()), info,
                         unit, headers)


def read_model_info(folder: Path) -> dict:
    """A packed model's model.json, checked to hold what `pack_run` writes."""
    path = folder / MODEL_FILE
    with damage_as_error(path, _packed_remedy(folder)):
        info = expect_fields(read_json(path), {"format": int, "vocabulary": dict, "encoding": dict, "generator": dict},
                             {"name": str, "unit": str, "meters": dict, "headers": dict, "compose": dict})
        expect(info["format"] == PACKED_FORMAT, f"not a seqgan-music model of format {PACKED_FORMAT}")
        expect(info.get("unit", "window") in ("window", "tune"), f"unknown unit {info.get('unit')!r}")
        for name in ("temperature", "copy_temperature"):
            value = info.get("compose", {}).get(name, 1.0)
            expect(isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
                   and value > 0, f"compose {name.replace('_', ' ')} {value!r} is not above 0")
        expect_fields(info["generator"], {"embedding": int, "hidden": int, "layers": int, "start_token": (int, type(None))},
                      {"lookback": bool, "lookback_bars": list, "attention": bool, "header_tokens": int, "core": str,
                       "memory_slots": int, "memory_heads": int, "memory_head_size": int, "latent": dict,
                       "maskgan": dict})
        if "latent" in info["generator"]:
            _check_latent_shape(info["generator"]["latent"])
        if "maskgan" in info["generator"]:
            shape = expect_fields(info["generator"]["maskgan"], {"bidirectional": bool, "critic_hidden": int})
            expect(shape["critic_hidden"] >= 1, "the MaskGAN critic's size is below 1")
        counts = [*info.get("meters", {}).values(), *info.get("headers", {}).values()]
        expect(all(isinstance(count, int) for count in counts), "'meters' or 'headers' hold something else than counts")
    return info


def _packed_remedy(folder: Path) -> str:
    """What to do about a damaged packed model (the shipped default comes back with a reinstall)."""
    if folder.resolve() == default_model_folder().resolve():
        return "reinstall seqgan-music (`make install`), or compose with --run RUN"
    return f"pack it again with `seqgan-music pack RUN --out {folder}` (or restore it from a backup)"


def _packed_generator(shape: dict, vocabulary: Vocabulary, unit: str) -> Generator:
    """The generator model.json describes; a window model is kept from writing whole tunes' tokens."""
    if "latent" in shape:
        generator: Generator = _latent_generator(shape, vocabulary)
    elif "maskgan" in shape:
        generator = MaskGANGenerator(len(vocabulary), shape["embedding"], shape["hidden"], shape["layers"],
                                     shape["maskgan"]["bidirectional"], shape["maskgan"]["critic_hidden"],
                                     start_token=shape["start_token"], end_token=vocabulary.end,
                                     pad_token=vocabulary.pad)
    else:
        generator = Generator(len(vocabulary), shape["embedding"], shape["hidden"], shape["layers"],
                              start_token=shape["start_token"], end_token=vocabulary.end, pad_token=vocabulary.pad,
                              lookback=bool(shape.get("lookback", False)),
                              bar_token=vocabulary.id(BAR) if BAR in vocabulary else None,
                              part_token=vocabulary.id(PART) if PART in vocabulary else None,
                              lookback_bars=tuple(shape.get("lookback_bars", (1, 2))),
                              attention=bool(shape.get("attention", False)),
                              header_tokens=int(shape.get("header_tokens", 0)), core=shape.get("core", "lstm"),
                              memory_slots=shape.get("memory_slots", 1), memory_heads=shape.get("memory_heads", 2),
                              memory_head_size=shape.get("memory_head_size", 32))
    if unit == "window":
        generator.ban(tune_only_tokens(vocabulary))
    return generator


def _latent_shape(generator: Generator) -> dict:
    """A VAE's or ARAE's method and sizes for model.json (other generators': nothing)."""
    if isinstance(generator, SentenceVAE):
        return {"latent": {"method": "vae", "code_size": generator.code_size, "nll_samples": generator.nll_samples,
                           "token_dropout": generator.token_dropout}}
    if isinstance(generator, ARAEGenerator):
        return {"latent": {"method": "arae", "code_size": generator.code_size, "nll_samples": generator.nll_samples,
                           "noise_size": generator.noise_size,
                           "mlp_hidden": generator.code_generator[0].out_features}}
    return {}


def _maskgan_shape(generator: Generator) -> dict:
    """A MaskGAN generator's encoder direction and critic size for model.json (other generators': nothing)."""
    if not isinstance(generator, MaskGANGenerator):
        return {}
    return {"maskgan": {"bidirectional": generator.bidirectional, "critic_hidden": generator.critic[0].out_features}}


def _check_latent_shape(latent: dict) -> None:
    """model.json's latent section holds a method compose knows and positive sizes."""
    expect(latent.get("method") in LATENT_SIZES, f"unknown latent method {latent.get('method')!r}")
    sizes = expect_fields(latent, {"method": str, **dict.fromkeys(LATENT_SIZES[latent["method"]], int)},
                          {"token_dropout": (int, float)})
    expect(all(sizes[name] >= 1 for name in LATENT_SIZES[latent["method"]]), "a latent size is below 1")


def _latent_generator(shape: dict, vocabulary: Vocabulary) -> CodeConditionedGenerator:
    """The VAE or ARAE model.json describes (its encoder and, for ARAE, its code generator included)."""
    latent, sizes = shape["latent"], (len(vocabulary), shape["embedding"], shape["hidden"], shape["layers"])
    tokens = {"start_token": shape["start_token"], "end_token": vocabulary.end, "pad_token": vocabulary.pad}
    if latent["method"] == "vae":
        return SentenceVAE(*sizes, latent["code_size"], float(latent.get("token_dropout", 0.0)),
                           latent["nll_samples"], **tokens)
    return ARAEGenerator(*sizes, latent["code_size"], latent["noise_size"], latent["mlp_hidden"],
                         latent["nll_samples"], **tokens)


def _relational_shape(generator: Generator) -> dict:
    """A relational core's kind and sizes for model.json (an LSTM's model.json stays as it was)."""
    if generator.core_kind != "relational":
        return {}
    core = generator.relational_memory
    return {"core": "relational", "memory_slots": core.slots, "memory_heads": core.heads,
            "memory_head_size": core.head_size}


def _load_run(home: Path, run: str, device: torch.device) -> ComposerModel:
    from seqgan_music.training.generation import load_trained_run

    trained = load_trained_run(home, run, device)
    corpus = trained.corpus
    if not isinstance(corpus.encoding, MusicEncoding):
        raise SeqganError(f"run {run!r} was trained on a {corpus.manifest.get('source', {}).get('kind', 'non-music')} "
                          f"corpus: compose writes music; sample it with `seqgan-music generate {run}`")
    if isinstance(trained.generator, LeakGANGenerator):  # its Worker reads D's features of a bounded prefix
        raise SeqganError(f"run {run!r} was trained with leakgan, which compose and pack do not take (they write "
                          f"past the run's length and pack the LSTM generator): sample it with "
                          f"`seqgan-music generate {run}`")
    meters = dict(corpus.manifest.get("counts", {}).get("meters") or {})
    unit = trained.config.data.unit
    headers = header_counts(parse_tune_symbols(corpus.symbols(tune[:3])).header
                            for tune in corpus.tune_sequences.get("train", [])) if unit == "tune" else {}
    return ComposerModel(run, f"run {trained.folder}", trained.generator, corpus.vocabulary, corpus.encoding,
                         meters, trained.checkpoint_sha256, run, {"run": trained.info}, unit, headers)


def pack_run(home: Path, run: str, out: Path, extra: dict | None = None) -> Path:
    """Write the run's generator as a packed model folder at `out` (replaced as a whole, atomically).

    `extra` (an evaluation, the commands that reproduce the model) is stored in model.json as is.
    """
    model = _load_run(home, run, torch.device("cpu"))
    generator = model.generator
    buffer = io.BytesIO()
    torch.save({k: v.detach().float().contiguous() for k, v in generator.state_dict().items()}, buffer)
    run_info = model.info["run"]
    info = {
        "format": PACKED_FORMAT,
        "name": run,
        "vocabulary": json.loads(model.vocabulary.to_json()),
        "encoding": model.encoding.params(),
        "generator": {"embedding": generator.embedding.embedding_dim, "hidden": generator.core.hidden_size,
                      "layers": generator.core.num_layers, **_relational_shape(generator), **_latent_shape(generator),
                      **_maskgan_shape(generator),
                      "lookback": generator.lookback is not None,
                      "lookback_bars": list(generator.lookback.bars_back) if generator.lookback else [],
                      "attention": generator.attention is not None,
                      "header_tokens": generator.lookback.header if generator.lookback else 0,
                      "start_token": None if generator.start_token == generator.vocab_size else generator.start_token},
        "unit": model.unit,
        "meters": model.meters,
        "headers": model.headers,
        "trained": {"run": run, "corpus": run_info.get("corpus"), "corpus_hash": run_info.get("corpus_hash"),
                    "method": run_info.get("method"), "preset": run_info.get("preset"),
                    "checkpoint_sha256": model.sha256},
        **(extra or {}),
    }
    with replace_folder_atomically(out) as staging:
        (staging / WEIGHTS_FILE).write_bytes(buffer.getvalue())
        (staging / MODEL_FILE).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return out
