"""Training methods, one module per family behind one interface (base.Method), and the one table of
them. A new method is a module here, an entry in METHOD_CLASSES (and its name in config.METHODS,
which validates `run.method` without importing training; a test keeps the two equal) and its tests."""

from __future__ import annotations

from typing import Any

from seqgan_music.config import Config, config_to_dict
from seqgan_music.phases import Phase
from seqgan_music.training.methods.arae import ARAE
from seqgan_music.training.methods.base import AdversarialMethod, Method
from seqgan_music.training.methods.gsgan import GSGAN
from seqgan_music.training.methods.leakgan import LeakGAN
from seqgan_music.training.methods.maligan import MaliGAN
from seqgan_music.training.methods.maskgan import MaskGAN
from seqgan_music.training.methods.mle import MaximumLikelihood
from seqgan_music.training.methods.pg_bleu import PgBleu
from seqgan_music.training.methods.rankgan import RankGAN
from seqgan_music.training.methods.reinforce import Reinforce
from seqgan_music.training.methods.relaxed import Rebar, Relax
from seqgan_music.training.methods.relgan import RelGAN
from seqgan_music.training.methods.scheduled_sampling import ScheduledSampling
from seqgan_music.training.methods.seqgan import SeqGAN
from seqgan_music.training.methods.textgan import TextGAN
from seqgan_music.training.methods.vae import VAE
from seqgan_music.training.methods.wgan import WGAN

# In the order people meet them: the baselines, then the estimators, then SeqGAN and its successors, then
# the latent-variable models.
METHOD_CLASSES: dict[str, type[Method]] = {
    method.name: method
    for method in (MaximumLikelihood, ScheduledSampling, PgBleu, Reinforce, Rebar, Relax, SeqGAN, MaliGAN, RankGAN,
                   LeakGAN, GSGAN, RelGAN, WGAN, TextGAN, VAE, ARAE, MaskGAN)
}

__all__ = ["METHOD_CLASSES", "AdversarialMethod", "Method", "method_class", "method_phases", "settings_read"]


def method_class(name: str) -> type[Method]:
    """The class of a method named by `run.method` (config validation has checked the name)."""
    return METHOD_CLASSES[name]


def method_phases(name: str) -> tuple[Phase, ...]:
    """The phases of a method; none for a name this version does not know (a damaged run.json)."""
    method = METHOD_CLASSES.get(name)
    return method.phases if method else ()


def settings_read(config: Config) -> dict[str, Any]:
    """The config as a dict without the sections that only other methods read: two runs with equal
    `settings_read` train the same way."""
    own = set(method_class(config.run.method).sections)
    others = {section for method in METHOD_CLASSES.values() for section in method.sections} - own
    return {name: values for name, values in config_to_dict(config).items() if name not in others}
