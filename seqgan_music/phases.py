"""Training phases, defined once: what each is called where people read it, the word for its unit,
and which setting says how many units it runs. The trainer, the logs, the CLI's live view, the
terminal app and the run listings all read this table. Imports nothing of the package's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Phase:
    """One phase of a training method: MLE epochs, discriminator pre-training rounds, and so on."""

    name: str  # as written in metrics.jsonl, run.json and sample file names
    label: str  # as people read it
    short_label: str  # for tables that must fit 80 columns
    unit_word: str  # "epoch" or "round"
    section: str  # the config section and field holding its number of units
    field: str

    def units(self, config: Any) -> int:
        """How many units the config asks this phase for."""
        return int(getattr(getattr(config, self.section), self.field))

    def count(self, units: int) -> str:
        """'3 epochs', '1 round'."""
        return f"{units} {self.unit_word}{'' if units == 1 else 's'}"


MLE = Phase("mle", "MLE", "MLE", "epoch", "mle", "epochs")
SCHEDULED_SAMPLING = Phase("ss", "scheduled sampling", "SS", "epoch", "scheduled_sampling", "epochs")
PRETRAIN_D = Phase("pretrain_d", "D pre-train", "D pre", "round", "pretrain_d", "rounds")
ADVERSARIAL = Phase("adversarial", "adversarial", "adv", "round", "adversarial", "rounds")

PHASES: dict[str, Phase] = {phase.name: phase for phase in (MLE, SCHEDULED_SAMPLING, PRETRAIN_D, ADVERSARIAL)}


def phase_label(name: str, short: bool = False) -> str:
    """A phase name as people read it; a name this version does not know is shown as it is."""
    phase = PHASES.get(name)
    if phase is None:
        return name
    return phase.short_label if short else phase.label
