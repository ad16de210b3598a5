"""Every training setting as a typed dataclass; the presets; TOML in and out; validation.

A `Config` has one section per concern (generator, discriminator, mle, pretrain_d, adversarial,
scheduled_sampling, pg_bleu, relaxation, rankgan, rollout, sampling, run) and records the preset it
started from. The defaults are the SeqGAN paper's synthetic-data settings, exactly as the
reference implementation runs them.

Where settings come from, in order: a preset (`preset(name)`), then a user's partial TOML file
(`load_config_file`), then `section.field=value` assignments (`apply_overrides`). A run saves its
complete config (`config_to_toml` / `save_config`) and resumes from it (`config_from_toml`, which
insists on every field so a resumed run is exactly the run that was started).

Every way in checks types strictly (an int field takes no 1.5, a bool field no 1) and then calls
`validate`, which names the first bad field in one line.

Imports only the standard library and seqgan_music.{errors, atomic}.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from seqgan_music.atomic import write_text_atomic
from seqgan_music.errors import SeqganError

# Training methods `run.method` may name, in the order of the method table (training/methods/),
# which says what each does; a test keeps the two the same.
METHODS: tuple[str, ...] = ("mle", "ss", "pg-bleu", "reinforce", "rebar", "relax", "seqgan", "maligan", "rankgan", "leakgan",
                            "gsgan", "relgan", "wgan", "textgan", "vae", "arae", "maskgan")
PRECISIONS: tuple[str, ...] = ("auto", "float32", "bfloat16")
CONTROLS: tuple[str, ...] = ("token", "sequence")  # relaxation.control of rebar and relax
BETA_SCHEDULES: tuple[str, ...] = ("constant", "linear", "exponential")  # gumbel.schedule of gsgan and relgan
KL_SCHEDULES: tuple[str, ...] = ("logistic", "linear")  # vae.kl_schedule
MASK_KINDS: tuple[str, ...] = ("contiguous", "random")  # maskgan.mask (models/maskgan.py's MASK_KINDS)
GAN_LOSSES: tuple[str, ...] = ("relativistic", "standard", "hinge", "wasserstein")  # relgan.loss (adversarial_losses.LOSSES)
REWARDS: tuple[str, ...] = ("rollout", "partial")  # adversarial.reward of the rollout methods
UNITS: tuple[str, ...] = ("window", "tune")  # data.unit
CORES: tuple[str, ...] = ("lstm", "relational")  # generator.core (models/generator.py's CORES)
_DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")  # run.device: auto, cpu, mps, cuda, cuda:N
_SEED_LIMIT = 2**32  # numpy's legacy seeding takes seeds below 2**32


# ---------------------------------------------------------------------------------------- sections
@dataclass
class GeneratorConfig:
    """The generator G_theta: an embedding, a recurrent core and an output layer."""

    embedding: int = 32
    hidden: int = 32  # the LSTM's width
    layers: int = 1  # LSTM layers
    # The recurrent core: "lstm" (SeqGAN's), or "relational", RelGAN's relational memory
    # (models/relational_memory.py): memory_slots slots of memory_heads * memory_head_size, read and
    # written by self-attention at every step, its width the output's (hidden and layers unused).
    # RelGAN's oracle setting: 1 slot, 2 heads of 256.
    core: str = "lstm"
    memory_slots: int = 1
    memory_heads: int = 2
    memory_head_size: int = 32
    # Also feed the tokens one bar, two bars and one part back and the position in the bar and in the
    # part (models/lookback.py): the inputs that let it repeat. Music corpora only (they have bar lines).
    lookback: bool = False
    # With lookback: how many bars back the token at the same place in the bar is read (each a
    # separate input); 4 reaches the repeat halfway through an 8-bar strain (bar 5 = bar 1).
    lookback_bars: list[int] = field(default_factory=lambda: [1, 2])
    # With lookback: also attend over the tune's earlier bars and copy from them (a pointer over
    # bars, models/bar_attention.py), so a bar can be written again exactly.
    attention: bool = False
    # With lookback, on whole tunes: feed the tune's header (meter, mode, type) at every step, so a
    # strathspey is still a strathspey 500 steps after its header.
    header_inputs: bool = False


@dataclass
class DiscriminatorConfig:
    """The CNN discriminator D_phi: one filter bank per width, highway layer, dropout, L2."""

    embedding: int = 64
    filter_widths: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20])
    filter_counts: list[int] = field(
        default_factory=lambda: [100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160])
    filter_scale: float = 1.0  # every filter count is multiplied by this (at least 1 filter per width)
    dropout_keep: float = 0.75  # probability of KEEPING a unit (drops 25%)
    l2: float = 0.2


@dataclass
class MLEConfig:
    """Maximum-likelihood pre-training of the generator."""

    epochs: int = 120  # 0 skips the phase
    batch_size: int = 64
    learning_rate: float = 0.01
    grad_clip: float = 5.0
    eval_every: int = 5  # epochs between NLL evaluations
    keep_best: bool = False  # end MLE at the epoch with the lowest validation NLL (checked every epoch)


@dataclass
class PretrainDConfig:
    """Discriminator pre-training: `rounds` times fresh negatives, `epochs` epochs each."""

    rounds: int = 50  # 0 skips the phase
    epochs: int = 3
    negatives: int = 10_000
    batch_size: int = 64
    learning_rate: float = 1e-4


@dataclass
class AdversarialConfig:
    """Algorithm 1: per round, `g_steps` policy-gradient steps then `d_steps` discriminator refreshes."""

    rounds: int = 200  # 0 skips the phase
    g_steps: int = 1
    d_steps: int = 5  # 0 keeps the discriminator fixed
    d_epochs: int = 3
    negatives: int = 10_000
    batch_size: int = 64
    learning_rate: float = 0.01
    grad_clip: float = 5.0
    rollouts: int = 16  # Monte Carlo rollouts per token
    beta: float = 0.8  # rollout network <- beta * rollout + (1 - beta) * generator; 0 = the generator itself
    # SeqGAN and PG-BLEU: subtract the batch mean reward per position (the paper uses none);
    # REINFORCE: subtract a moving average of earlier batches' mean reward.
    baseline: bool = False
    eval_every: int = 5  # rounds between NLL evaluations
    variance_estimates: int = 0  # K >= 2: at every evaluation, log ln Var of the gradient estimate over K batches
    # The reward of token t: "rollout" (the mean D of Monte Carlo completions of x_1..t, the paper's) or
    # "partial" (D of the prefix x_1..t itself, with D trained on prefixes: Li et al. 2017; no rollout).
    reward: str = "rollout"


@dataclass
class ScheduledSamplingConfig:
    """Method `ss` (Bengio et al. 2015), after MLE: `epochs` epochs in which each input token is the
    model's own sample with probability 1 - omega; omega falls from 1 by `decay` per epoch."""

    epochs: int = 50  # 0 skips the phase
    decay: float = 0.002  # the SeqGAN paper's rate


@dataclass
class PGBleuConfig:
    """Method `pg-bleu`: the adversarial phase's rollouts rewarded by BLEU-`order` against a random
    `reference_share` of the training windows, instead of by the discriminator."""

    order: int = 3
    reference_share: float = 0.4  # the SeqGAN paper's 40%


@dataclass
class RelaxationConfig:
    """Methods `rebar` and `relax`: the Gumbel-softmax relaxation the control variate reads, and how
    the control is trained (down the variance of the gradient estimate)."""

    temperature: float = 0.5  # lambda, the REBAR paper's start
    learn_temperature: bool = True
    # eta, the weight of the relaxed discriminator score in the control. 0: the estimate starts as
    # REINFORCE and eta grows only as far as it lowers the variance (measured on the toy grammar, the
    # token control at 1 stalled the generator while D saturated; the REBAR paper starts at 1)
    scale: float = 0.0
    learn_scale: bool = True
    # "token": a control per position given the tokens before it (unbiased for the LSTM generator);
    # "sequence": ReGAN's one control over the whole relaxed sequence (biased for it, T times cheaper)
    control: str = "token"
    residual_hidden: int = 16  # RELAX's r_phi: channels of its convolution over the relaxed sequence
    learning_rate: float = 0.001  # Adam, for lambda, eta and r_phi


@dataclass
class RankGANConfig:
    """Method `rankgan` (Lin et al. 2017): a sequence's rank score is the softmax, sharpened by
    `gamma`, of its cosine relevance to each of `reference_size` real sequences against a comparison
    set of `comparison_size` (real sequences for a generated one, generated ones for a real one)."""

    # The authors' code (github.com/cookielee77/RankGan-NIPS2017) softmaxes 1 x the sum of the cosines
    # to its 16 references: logits of 16 per unit of cosine, what gamma = 16 gives per reference here.
    gamma: float = 16.0
    reference_size: int = 16  # |U|, the authors' code
    comparison_size: int = 64  # |C|: the authors' code ranks within batches of 64


@dataclass
class MaliGANConfig:
    """Method `maligan` (Che et al. 2017) on the paper's mixed schedule (Algorithm 2): the first N
    tokens of each real sequence are learnt by MLE, `continuations` continuations of them are sampled
    from G and weighted by D/(1 - D). N starts `sampled_start` tokens short of the sequence length and
    falls by `sampled_step` (the paper's K) every `step_rounds` adversarial rounds until it is 0."""

    continuations: int = 8  # the paper's n: samples from G per real prefix
    sampled_start: int = 1  # tokens sampled in the first round; >= the length: all of them (Algorithm 1)
    sampled_step: int = 1  # K; 0 keeps N where it starts
    step_rounds: int = 1  # adversarial rounds between N's steps


@dataclass
class LeakGANConfig:
    """Method `leakgan` (Guo et al. 2018): a Manager LSTM reads D's leaked feature vector of the
    prefix and emits a goal; a Worker LSTM writes towards the goals of the last `horizon` steps,
    projected to `goal_size` dims; rollout rewards every `horizon` steps, rank-rescaled with `delta`;
    an MLE epoch every `interleave` adversarial rounds."""

    horizon: int = 4  # c, the reference's step_size
    goal_size: int = 16  # k, the reference's GOAL_SIZE
    manager_hidden: int = 32  # the reference's HIDDEN_DIM for both LSTMs
    worker_hidden: int = 32
    delta: float = 16.0  # the rescaled activation's sharpness (the reference's 16)
    interleave: int = 15  # adversarial rounds per interleaved MLE epoch (the reference's COCO run); 0: none


@dataclass
class RelaxedGANConfig:
    """Methods that back-propagate D's loss into the generator through relaxed one-hot tokens
    (`gsgan`, `relgan`, `wgan`, `textgan`): their own Adam optimizers (RelGAN's learning rates),
    and the weight of the gradient penalty where the loss takes one (WGAN-GP)."""

    generator_learning_rate: float = 1e-4
    discriminator_learning_rate: float = 1e-4
    gradient_penalty: float = 10.0  # lambda of WGAN-GP (Gulrajani et al. 2017)


@dataclass
class GumbelConfig:
    """Methods `gsgan` and `relgan`: D reads softmax(beta * (logits + Gumbel noise)), beta rising from 1
    to `beta_max` over the adversarial steps by `schedule` (RelGAN's "maximum temperature", which
    multiplies: a larger beta is closer to one-hot)."""

    beta_max: float = 100.0  # RelGAN's best oracle setting; its paper also runs 1 and 1000
    schedule: str = "exponential"  # constant (beta_max throughout) | linear | exponential (RelGAN's)
    straight_through: bool = False  # D reads the one-hot token, the gradient is the relaxation's


@dataclass
class RelGANConfig:
    """Method `relgan` (Nie et al., ICLR 2019): D embeds the input `representations` times, each
    `representation_size` wide, and scores each representation (models/multi_representation.py);
    both players follow `loss`."""

    # The authors' oracle and text runs: --num-rep 64 with --dis-emb-dim 64, the TOTAL width (their
    # help text), so 64 representations of 1 dimension each.
    representations: int = 64
    representation_size: int = 1
    loss: str = "relativistic"  # RelGAN's (RSGAN) | standard | hinge | wasserstein (with relaxed_gan.gradient_penalty)


@dataclass
class TextGANConfig:
    """Method `textgan` (Zhang et al. 2017): the generator matches D's highway features of real and of
    generated sequences by a kernel MMD; D reads the generated ones by TextGAN's soft-argmax,
    softmax(scale * (log p + Gumbel noise)), its largest weight on each drawn token."""

    # Gaussian kernels' bandwidths, as multiples of the median distance between the features
    bandwidths: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])
    scale: float = 10.0  # TextGAN's L is 1000: measured, it passes too little gradient (methods/textgan.py)


@dataclass
class VAEConfig:
    """Method `vae` (Bowman et al. 2016): an LSTM encoder to a Gaussian posterior over a `latent`-dim
    code that starts the LSTM decoder; the KL term's weight rises from 0 to 1 over `kl_anneal_steps`
    optimizer steps by `kl_schedule`; `token_dropout` of the decoder's inputs are blanked while
    training; NLL_test is the importance-weighted bound with `nll_samples` posterior draws (1: the ELBO)."""

    latent: int = 16
    kl_anneal_steps: int = 1000  # 0: the full KL weight from the first step
    kl_schedule: str = "logistic"  # Bowman et al.'s sigmoid, or linear
    token_dropout: float = 0.25  # Bowman et al.'s keep rate 0.75
    nll_samples: int = 8


@dataclass
class ARAEConfig:
    """Method `arae` (Zhao et al. 2018): an autoencoder with unit-length `code_size` codes, a generator
    MLP from `noise_size` Gaussian noise to codes and a WGAN-GP critic on codes, both `mlp_hidden` wide,
    with their own Adam learning rates; the encoder also takes `encoder_scale` of the critic's gradient
    on real codes; NLL_test is estimated with `nll_samples` generated codes."""

    code_size: int = 32
    noise_size: int = 32
    mlp_hidden: int = 64
    generator_learning_rate: float = 1e-4
    critic_learning_rate: float = 1e-4
    gradient_penalty: float = 1.0  # the authors' gan_gp_lambda
    encoder_scale: float = 0.01  # the authors' gan_toenc
    nll_samples: int = 8


@dataclass
class MaskGANConfig:
    """Method `maskgan` (Fedus et al. 2018): each training sequence is masked by `mask` (one contiguous
    span of `mask_rate` of its tokens, or each token with probability `mask_rate`), a share
    `full_mask_share` of them whole (free generation's input), and in-filled; the adversarial rounds'
    rewards log D(x_t) at the filled tokens are discounted by `gamma`, less the critic's value (its own
    Adam at `critic_learning_rate`, a `critic_hidden` layer); D has its own Adam at
    `discriminator_learning_rate`; the encoders are bidirectional or not."""

    mask: str = "contiguous"  # the authors' mask_strategy
    mask_rate: float = 0.5  # the authors' is_present_rate 0.5: half the tokens masked
    full_mask_share: float = 0.25  # free generation (the family's rows) is in-filling from nothing kept
    gamma: float = 0.89  # the authors' rl_discount_rate 0.89072
    # The authors' 5.2e-7 (650-wide networks) or 5e-4 leave the critic near 0 for hundreds of steps while
    # returns are -5 to -30 (on the grammar, its squared error 286 -> 205 in 100 steps at 5e-4, -> 40 at 5e-3).
    critic_learning_rate: float = 5e-3
    # The authors' dis_pretrain_learning_rate. At pretrain_d.learning_rate's 1e-4 (SeqGAN's CNN) this
    # encoder-decoder D stayed at chance: on the grammar, 8 passes over 1,000 fills took its loss from
    # 0.693 to 0.691; at 5e-3 to 0.16.
    discriminator_learning_rate: float = 5e-3
    critic_hidden: int = 32
    bidirectional: bool = True


@dataclass
class RolloutConfig:
    """How the Monte Carlo search is computed (not what it computes)."""

    chunk_size: int = 256  # rows per sampling step and per discriminator call (fastest on a 2-core CPU)
    # Discriminator scoring of the completions: "bfloat16" under autocast (half the time on hardware
    # with bf16 units, rewards within ~0.01), "float32", or "auto" (bfloat16 where the CPU or GPU has
    # bf16 units, else float32; emulated bf16 is many times slower).
    precision: str = "auto"
    # Which prefixes are rolled out: "token" (every one, the paper's), "bar" (those that end at a bar
    # line; each token gets its bar's Q), or a whole number K as a string ("4": every 4th token).
    every: str = "token"


@dataclass
class DataConfig:
    """What the models train on: "window" (the corpus's fixed-length windows, the paper's) or "tune"
    (whole tunes, padded; only corpora that keep whole tunes)."""

    unit: str = "window"


@dataclass
class SamplingConfig:
    """How the final samples of a run are drawn."""

    temperature: float = 1.0
    top_k: int = 0  # 0 = no top-k


@dataclass
class RunConfig:
    """Everything about a run that is not the model or the schedule."""

    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    threads: int = 0  # 0 = torch's default
    checkpoint_every: int = 10  # adversarial rounds (epochs in MLE, rounds in D pre-training)
    eval_samples: int = 10_000  # generator samples per evaluation
    samples: int = 8  # samples written at the end of a run
    method: str = "seqgan"  # one of METHODS


@dataclass
class Config:
    """All settings of a run; `preset` names the preset it started from ("custom": the defaults)."""

    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    mle: MLEConfig = field(default_factory=MLEConfig)
    pretrain_d: PretrainDConfig = field(default_factory=PretrainDConfig)
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig)
    scheduled_sampling: ScheduledSamplingConfig = field(default_factory=ScheduledSamplingConfig)
    pg_bleu: PGBleuConfig = field(default_factory=PGBleuConfig)
    relaxation: RelaxationConfig = field(default_factory=RelaxationConfig)
    rankgan: RankGANConfig = field(default_factory=RankGANConfig)
    maligan: MaliGANConfig = field(default_factory=MaliGANConfig)
    leakgan: LeakGANConfig = field(default_factory=LeakGANConfig)
    relaxed_gan: RelaxedGANConfig = field(default_factory=RelaxedGANConfig)
    gumbel: GumbelConfig = field(default_factory=GumbelConfig)
    relgan: RelGANConfig = field(default_factory=RelGANConfig)
    textgan: TextGANConfig = field(default_factory=TextGANConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    arae: ARAEConfig = field(default_factory=ARAEConfig)
    maskgan: MaskGANConfig = field(default_factory=MaskGANConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    data: DataConfig = field(default_factory=DataConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    run: RunConfig = field(default_factory=RunConfig)
    preset: str = "custom"


SECTIONS: dict[str, type] = {f.name: f.default_factory for f in dataclasses.fields(Config)  # type: ignore[misc]
                             if f.name != "preset"}
# The type of every field, by section: int, float, bool, str, list[int] or list[float].
_FIELD_TYPES: dict[str, dict[str, Any]] = {name: get_type_hints(cls) for name, cls in SECTIONS.items()}


# ----------------------------------------------------------------------------------------- presets
# Every preset's numbers live here, in one place per preset.

def _paper_oracle() -> Config:
    """The reference implementation's schedule (the dataclass defaults)."""
    return Config(preset="paper-oracle")


def _cpu_oracle() -> Config:
    """The paper's models and rollout on a schedule measured to fit 30 minutes on 2 cores: NLL_oracle
    plateaus by MLE epoch ~20; three D refreshes of one epoch per round (the paper: five of three)
    keep D ahead of G (with one, NLL_oracle turned back up after 25 rounds); by round ~30 D is
    near-perfect, the rewards vanish and NLL_oracle stops falling."""
    return Config(
        mle=MLEConfig(epochs=30, eval_every=5),
        pretrain_d=PretrainDConfig(rounds=10, epochs=2, negatives=5_000),
        adversarial=AdversarialConfig(rounds=35, g_steps=1, d_steps=3, d_epochs=1, negatives=5_000,
                                      rollouts=16, beta=0.8, eval_every=5),
        preset="cpu-oracle",
    )


# Music presets take smaller policy-gradient steps than the paper's 0.01, with the baseline: measured on
# the folk corpus (quick preset, 10 rounds), lr 0.01 drove NLL_test from 1.03 to 2.1 while D won; lr 0.001
# with the baseline kept it within 0.01 while the reward rose from 0.20 to about 0.4.
_MUSIC_PG = {"learning_rate": 0.001, "baseline": True}


def _folk() -> Config:
    return Config(
        generator=GeneratorConfig(embedding=64, hidden=128, layers=1),
        discriminator=DiscriminatorConfig(embedding=64, filter_scale=0.5),
        mle=MLEConfig(epochs=40, batch_size=64, learning_rate=0.005, keep_best=True),
        pretrain_d=PretrainDConfig(rounds=5, epochs=2, negatives=5_000),
        adversarial=AdversarialConfig(rounds=30, d_steps=2, d_epochs=1, negatives=5_000, rollouts=8, eval_every=5,
                                      **_MUSIC_PG),
        run=RunConfig(eval_samples=2_000),
        preset="folk",
    )


def _quick() -> Config:
    return Config(
        generator=GeneratorConfig(embedding=32, hidden=64),
        discriminator=DiscriminatorConfig(filter_scale=0.25),
        mle=MLEConfig(epochs=15, keep_best=True),
        pretrain_d=PretrainDConfig(rounds=2, epochs=1, negatives=1_000),
        adversarial=AdversarialConfig(rounds=5, d_steps=1, d_epochs=1, negatives=1_000, rollouts=4, eval_every=1,
                                      **_MUSIC_PG),
        run=RunConfig(eval_samples=500, checkpoint_every=5),
        preset="quick",
    )


def _folk_tunes() -> Config:
    """Whole tunes (data.unit = "tune", a few hundred tokens each): a lookback generator with
    attention over the tune's bars and the header read at every step, small batches, and rollouts
    from bar lines only (rollout.every = "bar"), so an adversarial step costs a rollout per bar
    instead of one per token. Measured on the folk corpus's 2,515 training tunes: NLL_valid is
    lowest at MLE epoch 7 or 8 (0.694 NLL_test) and rises after it, so 10 epochs, the best kept."""
    return Config(
        generator=GeneratorConfig(embedding=32, hidden=256, layers=1, lookback=True, lookback_bars=[1, 2, 4],
                                  attention=True, header_inputs=True),
        discriminator=DiscriminatorConfig(embedding=32, filter_scale=0.25),
        mle=MLEConfig(epochs=10, batch_size=16, learning_rate=0.005, keep_best=True),
        pretrain_d=PretrainDConfig(rounds=3, epochs=1, negatives=500, batch_size=32),
        adversarial=AdversarialConfig(rounds=10, d_steps=1, d_epochs=1, negatives=300, batch_size=8, rollouts=4,
                                      eval_every=5, **_MUSIC_PG),
        rollout=RolloutConfig(every="bar"),
        data=DataConfig(unit="tune"),
        run=RunConfig(eval_samples=100, checkpoint_every=2),
        preset="folk-tunes",
    )


def _tunes_quick() -> Config:
    """folk-tunes in miniature: every phase on whole tunes in a minute or two, to try the pipeline."""
    config = _folk_tunes()
    config.generator = GeneratorConfig(embedding=16, hidden=32, lookback=True, lookback_bars=[1, 2, 4],
                                       attention=True, header_inputs=True)
    config.mle = MLEConfig(epochs=3, batch_size=16, learning_rate=0.005, keep_best=True)
    config.pretrain_d = PretrainDConfig(rounds=1, epochs=1, negatives=100, batch_size=32)
    config.adversarial = AdversarialConfig(rounds=2, d_steps=1, d_epochs=1, negatives=50, batch_size=4, rollouts=2,
                                           eval_every=1, **_MUSIC_PG)
    config.run = RunConfig(eval_samples=20, checkpoint_every=1)
    config.preset = "tunes-quick"
    return config


def _grammar() -> Config:
    """The toy grammar from a partly trained start: one MLE epoch at a twentieth of the usual step
    leaves the generator at a goodness of about 0.47 (length 15) or 0.25 (length 3), so the
    adversarial phase has the structure left to learn; measured here, every estimator then climbs
    to about 0.97 (length 15) in 60 rounds. Small D (a quarter of the filters), one light refresh
    per round so its score stays informative; gradient variance logged at every evaluation."""
    return Config(
        discriminator=DiscriminatorConfig(filter_scale=0.25),
        mle=MLEConfig(epochs=1, learning_rate=0.0005),
        pretrain_d=PretrainDConfig(rounds=2, epochs=1, negatives=1_000),
        adversarial=AdversarialConfig(rounds=100, d_steps=1, d_epochs=1, negatives=1_000, rollouts=8, eval_every=5,
                                      variance_estimates=20),
        run=RunConfig(eval_samples=1_000, checkpoint_every=20),
        preset="grammar",
    )


def _coco() -> Config:
    """Image captions on a CPU (the text experiment, Texygen's COCO benchmark): Texygen's SeqGAN sizes,
    a generator of embedding and hidden 32 and a discriminator with filters of widths 2 and 3 (100
    and 200 of them, embedding 32); the sequence length is the corpus's (99% of captions). Measured
    on COCO (9,000 training captions, 6,569 words: the output layer is most of the cost), one thread:
    about 30 s of CPU per MLE epoch and 20 s per adversarial round (16 rollouts, as Texygen's), so
    about 10 minutes of CPU for an MLE run and 14 for SeqGAN (10 MLE epochs took 5 minutes of CPU,
    18 of wall time on the 2-core machine shared with 8 other jobs). D is refreshed on 2,000
    negatives a round, nearer Texygen's light refreshes (15 x 3 batches) than the oracle's 5 x 3 epochs.
    One torch thread: on the shared 2-core machine, two threads made an MLE epoch four times slower."""
    return Config(
        discriminator=DiscriminatorConfig(embedding=32, filter_widths=[2, 3], filter_counts=[100, 200]),
        mle=MLEConfig(epochs=20, eval_every=5),
        pretrain_d=PretrainDConfig(rounds=5, epochs=1, negatives=2_000),
        adversarial=AdversarialConfig(rounds=10, d_steps=1, d_epochs=1, negatives=2_000, rollouts=16, eval_every=2),
        run=RunConfig(threads=1, eval_samples=1_000, checkpoint_every=2),
        preset="coco",
    )


PRESETS: dict[str, Callable[[], Config]] = {
    "paper-oracle": _paper_oracle,
    "cpu-oracle": _cpu_oracle,
    "folk": _folk,
    "quick": _quick,
    "grammar": _grammar,
    "folk-tunes": _folk_tunes,
    "tunes-quick": _tunes_quick,
    "coco": _coco,
}
# The presets that train on whole tunes: only for music corpora that keep them.
TUNE_PRESETS = ("folk-tunes", "tunes-quick")
PRESET_DESCRIPTIONS: dict[str, str] = {
    "paper-oracle": "the SeqGAN paper's oracle schedule exactly: 120 MLE epochs, 50 D rounds, 200 adversarial rounds",
    "cpu-oracle": "the paper's models, 30 MLE epochs, 10 D rounds, 35 adversarial rounds: ~26 minutes on 2 cores",
    "folk": "music corpora (grid16, length 64): a larger generator, half the filters, 40 MLE + 30 adversarial",
    "quick": "a small demo: under a minute of training on a 2-core CPU",
    "grammar": "the toy grammar: 1 short MLE epoch (a partly trained start), 100 adversarial rounds, variance logged",
    "folk-tunes": "music corpora with whole tunes: lookback + bar attention, rewards per bar, 10 MLE + 10 adversarial",
    "tunes-quick": "folk-tunes in miniature: whole tunes through every phase in a minute or two",
    "coco": "text (COCO captions, the text experiment): Texygen's SeqGAN sizes, 20 MLE epochs + 10 adversarial rounds",
}


# The preset a new run of a corpus gets when none is named, by the corpus's source kind.
_DEFAULT_PRESETS = {"midi": "folk", "folk": "folk", "oracle": "cpu-oracle", "grammar": "grammar"}


def default_preset_name(source_kind: str | None) -> str:
    """folk for music, cpu-oracle for the oracle, grammar for the toy grammar, quick otherwise."""
    return _DEFAULT_PRESETS.get(source_kind or "", "quick")


def preset(name: str) -> Config:
    """A fresh copy of the named preset ("custom" gives the defaults under that name)."""
    if name == "custom":
        return Config()
    if name not in PRESETS:
        raise SeqganError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    return PRESETS[name]()


# -------------------------------------------------------------------------------------- validation
def _between(low: int, high: int) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: low <= v <= high), f"an integer >= {low} and <= {high}"


def _finite(check: Callable[[float], bool], text: str) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: math.isfinite(v) and check(v)), text


# Upper bounds: far above any run that fits a machine (the memory a run's sizes need is estimated
# against the machine's at its start, training/budget.py); they stop a typo from hanging a run
# (a billion rollouts or evaluation samples) before it reaches the estimate.
_SIZE_LIMIT = 1_000_000  # embedding and hidden widths, batch sizes, chunk rows
_UNITS_LIMIT = 1_000_000  # epochs and rounds (Ctrl-C saves, so a long schedule can always stop)
_STEPS_LIMIT = 10_000  # steps or epochs inside one round
_SAMPLES_LIMIT = 1_000_000  # evaluation samples drawn at every evaluation
_NEGATIVES_LIMIT = 10_000_000  # generated negatives per discriminator refresh
_ROLLOUTS_LIMIT = 10_000  # Monte Carlo rollouts per token (the paper: 16)
_FILTERS_LIMIT = 100_000  # filters per width, and filter widths
_THREADS_LIMIT = 4096  # the machine's own cores are checked when a run starts (training/budget.py)

_POSITIVE_SIZE = _between(1, _SIZE_LIMIT)
_UNITS = _between(0, _UNITS_LIMIT)
_STEPS = _between(1, _STEPS_LIMIT)
_POSITIVE_FLOAT = _finite(lambda v: v > 0, "a finite number > 0")
_ANY_BOOL = ((lambda v: True), "true or false")  # the type check already admits only booleans
_FILTERS = ((lambda v: 0 < len(v) <= 64 and all(1 <= x <= _FILTERS_LIMIT for x in v)),
            f"a list of 1 to 64 integers >= 1 and <= {_FILTERS_LIMIT}")

# One rule per field: (check, what a good value is). A test checks that no field lacks a rule.
_RULES: dict[str, dict[str, tuple[Callable[[Any], bool], str]]] = {
    "generator": {"embedding": _POSITIVE_SIZE, "hidden": _POSITIVE_SIZE, "layers": _between(1, 64),
                  "lookback": _ANY_BOOL, "attention": _ANY_BOOL, "header_inputs": _ANY_BOOL,
                  "core": ((lambda v: v in CORES), f"one of {', '.join(CORES)}"), "memory_slots": _between(1, 256),
                  "memory_heads": _between(1, 256), "memory_head_size": _POSITIVE_SIZE,
                  "lookback_bars": ((lambda v: 0 < len(v) <= 8 and len(set(v)) == len(v) and all(1 <= x <= 16 for x in v)),
                                    "a list of 1 to 8 different bar counts from 1 to 16, e.g. [1, 2, 4]")},
    "discriminator": {
        "embedding": _POSITIVE_SIZE,
        "filter_widths": _FILTERS,
        "filter_counts": _FILTERS,
        "filter_scale": _finite(lambda v: 0 < v <= 100, "a number > 0 and <= 100"),
        "dropout_keep": _finite(lambda v: 0 < v <= 1, "a keep probability in (0, 1]"),
        "l2": _finite(lambda v: v >= 0, "a finite number >= 0"),
    },
    "mle": {"epochs": _UNITS, "batch_size": _POSITIVE_SIZE, "learning_rate": _POSITIVE_FLOAT,
            "grad_clip": _POSITIVE_FLOAT, "eval_every": _between(1, _UNITS_LIMIT), "keep_best": _ANY_BOOL},
    "pretrain_d": {"rounds": _UNITS, "epochs": _STEPS, "negatives": _between(1, _NEGATIVES_LIMIT),
                   "batch_size": _POSITIVE_SIZE, "learning_rate": _POSITIVE_FLOAT},
    "adversarial": {
        "rounds": _UNITS, "g_steps": _STEPS, "d_steps": _between(0, _STEPS_LIMIT),
        "d_epochs": _STEPS, "negatives": _between(1, _NEGATIVES_LIMIT), "batch_size": _POSITIVE_SIZE,
        "learning_rate": _POSITIVE_FLOAT, "grad_clip": _POSITIVE_FLOAT, "rollouts": _between(1, _ROLLOUTS_LIMIT),
        "beta": _finite(lambda v: 0 <= v < 1, "a number in [0, 1)"),
        "baseline": _ANY_BOOL,
        "eval_every": _between(1, _UNITS_LIMIT),
        "variance_estimates": ((lambda v: v == 0 or 2 <= v <= _STEPS_LIMIT),
                               f"0 (off) or an integer >= 2 and <= {_STEPS_LIMIT}"),
        "reward": ((lambda v: v in REWARDS), f"one of {', '.join(REWARDS)}"),
    },
    "scheduled_sampling": {"epochs": _UNITS,
                           "decay": _finite(lambda v: 0 <= v <= 1, "a number in [0, 1]")},
    "pg_bleu": {"order": ((lambda v: 1 <= v <= 5), "an integer from 1 to 5"),
                "reference_share": _finite(lambda v: 0 < v <= 1, "a share in (0, 1]")},
    "relaxation": {"temperature": _POSITIVE_FLOAT, "learn_temperature": _ANY_BOOL,
                   "scale": _finite(lambda v: True, "a finite number"), "learn_scale": _ANY_BOOL,
                   "control": ((lambda v: v in CONTROLS), f"one of {', '.join(CONTROLS)}"),
                   "residual_hidden": _POSITIVE_SIZE, "learning_rate": _POSITIVE_FLOAT},
    "rankgan": {"gamma": _finite(lambda v: 0 < v <= 1000, "a number > 0 and <= 1000"),
                "reference_size": _between(1, _SIZE_LIMIT), "comparison_size": _between(1, _SIZE_LIMIT)},
    "maligan": {"continuations": _between(2, _ROLLOUTS_LIMIT), "sampled_start": _between(0, _SIZE_LIMIT),
                "sampled_step": _between(0, _SIZE_LIMIT), "step_rounds": _between(1, _UNITS_LIMIT)},
    "leakgan": {"horizon": _between(1, _SIZE_LIMIT), "goal_size": _POSITIVE_SIZE, "manager_hidden": _POSITIVE_SIZE,
                "worker_hidden": _POSITIVE_SIZE, "delta": _finite(lambda v: 0 < v <= 1000, "a number > 0 and <= 1000"),
                "interleave": _UNITS},
    "relaxed_gan": {"generator_learning_rate": _POSITIVE_FLOAT, "discriminator_learning_rate": _POSITIVE_FLOAT,
                    "gradient_penalty": _finite(lambda v: 0 <= v <= 1e6, "a number >= 0 and <= 1000000")},
    "gumbel": {"beta_max": _finite(lambda v: 1 <= v <= 1e6, "a number >= 1 and <= 1000000"),
               "schedule": ((lambda v: v in BETA_SCHEDULES), f"one of {', '.join(BETA_SCHEDULES)}"),
               "straight_through": _ANY_BOOL},
    "textgan": {"bandwidths": ((lambda v: 0 < len(v) <= 16 and all(math.isfinite(x) and 0 < x <= 1000 for x in v)),
                               "a list of 1 to 16 numbers > 0 and <= 1000, e.g. [0.5, 1.0, 2.0]"),
                "scale": _finite(lambda v: 1 <= v <= 1e6, "a number >= 1 and <= 1000000")},
    "relgan": {"representations": _between(1, 4096), "representation_size": _between(1, 4096),
               "loss": ((lambda v: v in GAN_LOSSES), f"one of {', '.join(GAN_LOSSES)}")},
    "vae": {"latent": _POSITIVE_SIZE, "kl_anneal_steps": _between(0, _UNITS_LIMIT),
            "kl_schedule": ((lambda v: v in KL_SCHEDULES), f"one of {', '.join(KL_SCHEDULES)}"),
            "token_dropout": _finite(lambda v: 0 <= v <= 1, "a share in [0, 1]"),
            "nll_samples": _between(1, _ROLLOUTS_LIMIT)},
    "arae": {"code_size": _POSITIVE_SIZE, "noise_size": _POSITIVE_SIZE, "mlp_hidden": _POSITIVE_SIZE,
             "generator_learning_rate": _POSITIVE_FLOAT, "critic_learning_rate": _POSITIVE_FLOAT,
             "gradient_penalty": _finite(lambda v: 0 <= v <= 1e6, "a number >= 0 and <= 1000000"),
             "encoder_scale": _finite(lambda v: 0 <= v <= 1e6, "a number >= 0 and <= 1000000"),
             "nll_samples": _between(1, _ROLLOUTS_LIMIT)},
    "maskgan": {"mask": ((lambda v: v in MASK_KINDS), f"one of {', '.join(MASK_KINDS)}"),
                "mask_rate": _finite(lambda v: 0 < v <= 1, "a share in (0, 1]"),
                "full_mask_share": _finite(lambda v: 0 <= v <= 1, "a share in [0, 1]"),
                "gamma": _finite(lambda v: 0 <= v <= 1, "a number in [0, 1]"),
                "critic_learning_rate": _POSITIVE_FLOAT, "discriminator_learning_rate": _POSITIVE_FLOAT,
                "critic_hidden": _POSITIVE_SIZE, "bidirectional": _ANY_BOOL},
    "rollout": {"chunk_size": _POSITIVE_SIZE,
                "precision": ((lambda v: v in PRECISIONS), f"one of {', '.join(PRECISIONS)}"),
                "every": ((lambda v: v in ("token", "bar") or (v.isdigit() and len(v) <= 6 and int(v) >= 1)),
                          '"token", "bar" or a whole number from 1 to 999999 written as a string, such as "4"')},
    "data": {"unit": ((lambda v: v in UNITS), f"one of {', '.join(UNITS)}")},
    "sampling": {"temperature": _POSITIVE_FLOAT, "top_k": _between(0, _SIZE_LIMIT)},
    "run": {
        "seed": ((lambda v: 0 <= v < _SEED_LIMIT), f"an integer in [0, {_SEED_LIMIT})"),
        "device": ((lambda v: _DEVICE_PATTERN.fullmatch(v) is not None), "auto, cpu, cuda, cuda:N or mps"),
        "threads": _between(0, _THREADS_LIMIT),
        "checkpoint_every": _between(1, _UNITS_LIMIT),
        "eval_samples": _between(1, _SAMPLES_LIMIT),
        "samples": _between(1, 10_000),
        "method": ((lambda v: v in METHODS), f"one of {', '.join(METHODS)}"),
    },
}


def validate(config: Config) -> None:
    """Raise SeqganError naming the first field whose type or value is wrong."""
    if not isinstance(config.preset, str) or not config.preset:
        raise SeqganError(f"preset must be a non-empty string, got {config.preset!r}")
    for section, cls in SECTIONS.items():
        values = getattr(config, section)
        if not isinstance(values, cls):
            raise SeqganError(f"{section} must be a {cls.__name__}, got {type(values).__name__}")
        for name, (check, good) in _RULES[section].items():
            value = getattr(values, name)
            _coerce(f"{section}.{name}", _FIELD_TYPES[section][name], value)  # raises on a wrong type
            if not check(value):
                raise SeqganError(f"{section}.{name} must be {good}, got {_show(value)}")
    widths, counts = config.discriminator.filter_widths, config.discriminator.filter_counts
    if len(widths) != len(counts):
        raise SeqganError(f"discriminator.filter_widths and discriminator.filter_counts must have equal lengths "
                          f"(one count per width), got {len(widths)} widths and {len(counts)} counts")


# ---------------------------------------------------------------------------------- types, coercion
def _type_name(kind: Any) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string",
            list[float]: "a list of numbers such as [0.5, 1.0, 2.0]"}.get(kind, "a list of integers such as [1, 2, 3]")


def _show(value: Any) -> str:
    """A value as the user would write it in TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _coerce(name: str, kind: Any, value: Any) -> Any:
    """`value` checked against a field's type (float fields take ints too); raises SeqganError."""
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif kind is str:
        ok = isinstance(value, str)
    elif kind == list[float]:
        ok = isinstance(value, (list, tuple)) and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                      for x in value)
        value = [float(x) for x in value] if ok else value
    else:  # list[int]
        ok = isinstance(value, (list, tuple)) and all(isinstance(x, int) and not isinstance(x, bool) for x in value)
        value = list(value) if ok else value
    if not ok:
        raise SeqganError(f"{name} must be {_type_name(kind)}, got {_show(value)}")
    return value


def _suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _section_fields(section: str) -> dict[str, Any]:
    if section not in _FIELD_TYPES:
        raise SeqganError(f"unknown settings section {section!r}{_suggest(section, list(SECTIONS))}: "
                          f"sections are {', '.join(SECTIONS)}")
    return _FIELD_TYPES[section]


def _field_type(section: str, name: str) -> Any:
    fields = _section_fields(section)
    if name not in fields:
        raise SeqganError(f"unknown setting {section}.{name}{_suggest(name, list(fields))}: "
                          f"{section} has {', '.join(fields)}")
    return fields[name]


def _with(config: Config, changes: dict[str, dict[str, Any]], preset_name: str | None = None) -> Config:
    """A deep copy of `config` with the (already coerced) changes applied."""
    result = config_copy(config)
    for section, values in changes.items():
        setattr(result, section, dataclasses.replace(getattr(result, section), **values))
    if preset_name is not None:
        result.preset = preset_name
    return result


def config_copy(config: Config) -> Config:
    """An independent copy (no list shared with `config`)."""
    sections = {name: dataclasses.replace(getattr(config, name)) for name in SECTIONS}
    result = Config(**sections, preset=config.preset)  # type: ignore[arg-type]
    result.discriminator.filter_widths = list(result.discriminator.filter_widths)
    result.discriminator.filter_counts = list(result.discriminator.filter_counts)
    result.generator.lookback_bars = list(result.generator.lookback_bars)
    result.textgan.bandwidths = list(result.textgan.bandwidths)
    return result


# -------------------------------------------------------------------------------------- overrides
def _parse_value(kind: Any, text: str) -> Any:
    """A TOML value; for string fields a bare word (cpu) is taken as the string itself."""
    if kind is str and not text.startswith(("'", '"')):
        return text
    try:
        parsed = tomllib.loads(f"value = {text}")
    except tomllib.TOMLDecodeError:
        raise ValueError(text) from None
    if list(parsed) != ["value"]:
        raise ValueError(text)
    return parsed["value"]


def apply_overrides(config: Config, assignments: Sequence[str]) -> Config:
    """A new, validated Config with `section.field=value` assignments (values in TOML syntax) applied.

    Examples: adversarial.rounds=50, discriminator.filter_widths=[1,2,3], run.device=cpu,
    adversarial.baseline=true.
    """
    changes: dict[str, dict[str, Any]] = {}
    for assignment in assignments:
        key, equals, text = assignment.partition("=")
        key, text = key.strip(), text.strip()
        if not equals or not key or "\n" in assignment:
            raise SeqganError(f"cannot read setting {assignment!r}: write SECTION.FIELD=VALUE, "
                              f"e.g. adversarial.rounds=50")
        section, dot, name = key.partition(".")
        if not dot:
            _section_fields(section)  # an unknown section reads better than "missing field"
            raise SeqganError(f"setting {key!r} names a section but no field: write {section}.FIELD=VALUE "
                              f"with FIELD one of {', '.join(_FIELD_TYPES[section])}")
        kind = _field_type(section, name)
        try:
            value = _parse_value(kind, text)
        except ValueError:
            raise SeqganError(f"{key} must be {_type_name(kind)}, got {text!r}") from None
        changes.setdefault(section, {})[name] = _coerce(key, kind, value)
    result = _with(config, changes)
    validate(result)
    return result


# ----------------------------------------------------------------------------------- dict and TOML
def config_to_dict(config: Config) -> dict[str, Any]:
    """{"preset": name, section: {field: value}} with plain values (lists copied)."""
    return {"preset": config.preset, **{name: dataclasses.asdict(getattr(config, name)) for name in SECTIONS}}


# Fields added after runs were already saved, with the value that reproduces the behaviour before
# them: an older run's config.toml lacks them and must still load (and resume as it was).
ADDED_LATER: dict[tuple[str, str], Any] = {("mle", "keep_best"): False, ("adversarial", "variance_estimates"): 0,
                                          ("relaxation", "control"): "sequence",  # what older runs used
                                          ("generator", "lookback"): False, ("rollout", "every"): "token",
                                          ("generator", "lookback_bars"): [1, 2], ("generator", "attention"): False,
                                          ("generator", "header_inputs"): False, ("adversarial", "reward"): "rollout",
                                          ("generator", "core"): "lstm", ("generator", "memory_slots"): 1,
                                          ("generator", "memory_heads"): 2, ("generator", "memory_head_size"): 32,
                                          # maskgan's D trained at pretrain_d.learning_rate, 1e-4 in every preset
                                          ("maskgan", "discriminator_learning_rate"): 1e-4}
# Sections added later: their defaults are what runs saved before them did (a run of another method never reads them).
SECTIONS_ADDED_LATER = ("scheduled_sampling", "pg_bleu", "relaxation", "rankgan", "maligan", "leakgan", "relaxed_gan",
                        "gumbel", "relgan", "textgan", "vae", "arae", "maskgan", "data")  # data: windows, as before


def config_from_dict(data: dict[str, Any]) -> Config:
    """The Config of a COMPLETE dict (every section and field, as config_to_dict writes); validated."""
    if not isinstance(data, dict):
        raise SeqganError(f"a config must be a table of sections, got {type(data).__name__}")
    for key in data:
        if key != "preset":
            _section_fields(key)
    if "preset" not in data:
        raise SeqganError("the config is incomplete: it lacks the top-level preset name")
    sections: dict[str, Any] = {}
    for section, cls in SECTIONS.items():
        if section not in data and section not in SECTIONS_ADDED_LATER:
            raise SeqganError(f"the config is incomplete: it lacks the [{section}] section")
        values = _section_values(section, data.get(section, dataclasses.asdict(cls())))
        values = {**{name: value for (part, name), value in ADDED_LATER.items() if part == section}, **values}
        missing = [name for name in _FIELD_TYPES[section] if name not in values]
        if missing:
            raise SeqganError(f"the config is incomplete: it lacks {', '.join(f'{section}.{m}' for m in missing)}")
        sections[section] = cls(**values)
    config = Config(**sections, preset=_coerce("preset", str, data["preset"]))
    validate(config)
    return config


def _section_values(section: str, table: Any) -> dict[str, Any]:
    """A section's table checked field by field: known names, right types (coerced)."""
    if not isinstance(table, dict):
        raise SeqganError(f"{section} must be a table of settings ([{section}]), got {_show(table)}")
    return {name: _coerce(f"{section}.{name}", _field_type(section, name), value)
            for name, value in table.items()}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)  # shortest exact form, always with '.' or 'e' so it reads back as a float
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def _toml_string(text: str) -> str:
    escapes = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
    out = []
    for char in text:
        if char in escapes:
            out.append(escapes[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def config_to_toml(config: Config) -> str:
    """The complete config as TOML text (deterministic: same config, same text)."""
    data = config_to_dict(config)
    lines = ["# seqgan-music training settings (every field; see seqgan_music/config.py)",
             f"preset = {_toml_value(data['preset'])}"]
    for section in SECTIONS:
        lines += ["", f"[{section}]"]
        lines += [f"{name} = {_toml_value(value)}" for name, value in data[section].items()]
    return "\n".join(lines) + "\n"


def _parse_toml(text: str, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = " ".join(str(error).split())
        raise SeqganError(f"{where} is not valid TOML: {message}") from None


def config_from_toml(text: str) -> Config:
    """The Config of a complete TOML text (a run's saved config.toml); validated."""
    return config_from_dict(_parse_toml(text, "the config"))


def save_config(config: Config, path: Path) -> None:
    """Write the complete config to `path` atomically (temporary file, then rename)."""
    write_text_atomic(path, config_to_toml(config))


def load_config_file(path: Path, base: Config) -> Config:
    """`base` overlaid with a user's (possibly partial) TOML settings file; validated.

    Unknown sections or fields are errors. A top-level `preset = "name"` is allowed when the file is
    complete (it is then a whole config, e.g. another run's config.toml) or names `base`'s preset.
    """
    path = Path(path)
    if not path.exists():
        raise SeqganError(f"config file {path} does not exist")
    if not path.is_file():
        raise SeqganError(f"config file {path} is not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SeqganError(f"config file {path} is not UTF-8 text") from None
    except OSError as error:
        raise SeqganError(f"cannot read config file {path}: {error.strerror or error}") from None
    data = _parse_toml(text, f"config file {path}")
    try:
        result = _overlay(data, base)
        validate(result)
    except SeqganError as error:
        raise SeqganError(f"{path}: {error}") from None
    return result


def _overlay(data: dict[str, Any], base: Config) -> Config:
    changes: dict[str, dict[str, Any]] = {}
    for key, table in data.items():
        if key != "preset":
            _section_fields(key)
            changes[key] = _section_values(key, table)
    named = data.get("preset")
    if named is not None:
        named = _coerce("preset", str, named)
        complete = all(set(changes.get(s, {})) == set(_FIELD_TYPES[s]) for s in SECTIONS)
        if not complete and named != base.preset:
            raise SeqganError(f"the file names preset {named!r} but sets only some fields, laid over preset "
                              f"{base.preset!r}: choose preset {named!r} or delete the file's preset line")
    return _with(base, changes, named)
