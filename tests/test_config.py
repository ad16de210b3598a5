"""Settings: presets, TOML round trips, overrides, partial config files, validation, atomic saving."""

from __future__ import annotations

import dataclasses
import tomllib

import pytest

from seqgan_music import atomic, config as config_module
from seqgan_music.config import (
    METHODS,
    PRESET_DESCRIPTIONS,
    PRESETS,
    SECTIONS,
    AdversarialConfig,
    Config,
    DiscriminatorConfig,
    MLEConfig,
    config_from_dict,
    config_from_toml,
    config_to_dict,
    config_to_toml,
    load_config_file,
    preset,
    save_config,
    validate,
    apply_overrides,
)
from seqgan_music.errors import SeqganError


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message and message
    return message


# ------------------------------------------------------------------------------------------ presets
def test_defaults_are_the_reference_implementation_schedule():
    c = preset("paper-oracle")
    assert c.preset == "paper-oracle"
    assert (c.generator.embedding, c.generator.hidden, c.generator.layers) == (32, 32, 1)
    assert c.discriminator.filter_widths == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20]
    assert c.discriminator.filter_counts == [100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160]
    assert (c.discriminator.embedding, c.discriminator.dropout_keep, c.discriminator.l2) == (64, 0.75, 0.2)
    assert (c.mle.epochs, c.mle.batch_size, c.mle.learning_rate, c.mle.grad_clip) == (120, 64, 0.01, 5.0)
    assert (c.pretrain_d.rounds, c.pretrain_d.epochs, c.pretrain_d.negatives) == (50, 3, 10_000)
    a = c.adversarial
    assert (a.rounds, a.g_steps, a.d_steps, a.d_epochs, a.rollouts, a.beta, a.baseline) == (200, 1, 5, 3, 16, 0.8, False)
    assert dataclasses.replace(c, preset="custom") == Config()


def test_presets_are_valid_described_and_named():
    assert set(PRESETS) == set(PRESET_DESCRIPTIONS) == {"paper-oracle", "cpu-oracle", "folk", "quick", "grammar",
                                                        "folk-tunes", "tunes-quick", "coco"}
    for name in PRESETS:
        c = preset(name)
        validate(c)
        assert c.preset == name
        assert "\n" not in PRESET_DESCRIPTIONS[name]


def test_preset_values():
    cpu = preset("cpu-oracle")
    assert cpu.generator == preset("paper-oracle").generator and cpu.discriminator == DiscriminatorConfig()
    assert (cpu.mle.epochs, cpu.pretrain_d.rounds, cpu.pretrain_d.epochs, cpu.pretrain_d.negatives) == (30, 10, 2, 5000)
    assert (cpu.adversarial.rounds, cpu.adversarial.d_steps, cpu.adversarial.d_epochs) == (35, 3, 1)
    assert (cpu.adversarial.rollouts, cpu.adversarial.beta) == (16, 0.8)  # the paper's rollout
    assert cpu.rollout.precision == "auto"  # bfloat16 only where the hardware has bf16 units
    folk = preset("folk")
    assert (folk.generator.embedding, folk.generator.hidden, folk.discriminator.filter_scale) == (64, 128, 0.5)
    assert (folk.mle.epochs, folk.mle.learning_rate, folk.adversarial.rollouts, folk.run.eval_samples) == (40, 0.005, 8, 2000)
    quick = preset("quick")
    assert (quick.mle.epochs, quick.adversarial.rounds, quick.adversarial.rollouts, quick.run.checkpoint_every) == (15, 5, 4, 5)
    for music in (folk, quick):  # smaller PG steps with a baseline than the paper's, measured on the folk corpus
        assert (music.adversarial.learning_rate, music.adversarial.baseline) == (0.001, True)
    assert cpu.adversarial.learning_rate == 0.01 and not cpu.adversarial.baseline  # the paper's update


def test_presets_are_fresh_copies():
    first = preset("folk")
    first.discriminator.filter_widths.append(99)
    first.mle.epochs = 1
    assert preset("folk") == PRESETS["folk"]() and preset("folk").mle.epochs == 40
    assert preset("folk").discriminator.filter_widths[-1] == 20


def test_unknown_preset_lists_the_valid_ones():
    with pytest.raises(SeqganError) as error:
        preset("papr")
    message = _one_line(error)
    assert all(name in message for name in PRESETS)


def test_custom_preset_is_the_defaults():
    assert preset("custom") == Config()


# --------------------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("name", list(PRESETS))
def test_toml_round_trip(name):
    c = preset(name)
    text = config_to_toml(c)
    assert config_from_toml(text) == c
    assert config_to_toml(config_from_toml(text)) == text
    assert config_from_dict(config_to_dict(c)) == c


def test_round_trip_keeps_awkward_values():
    c = apply_overrides(preset("quick"), ["adversarial.learning_rate=1e-7", "mle.learning_rate=0.1",
                                          "sampling.temperature=0.30000000000000004", "run.device=cuda:1",
                                          "adversarial.baseline=true", "run.seed=4294967295"])
    c.preset = 'odd "name" \\ with\ttab and é'
    back = config_from_toml(config_to_toml(c))
    assert back == c
    assert isinstance(back.mle.grad_clip, float) and isinstance(back.adversarial.baseline, bool)


def test_saved_config_must_be_complete():
    data = tomllib.loads(config_to_toml(preset("quick")))
    del data["adversarial"]["beta"]
    with pytest.raises(SeqganError, match="adversarial.beta"):
        config_from_dict(data)
    data = config_to_dict(preset("quick"))
    del data["rollout"]
    with pytest.raises(SeqganError, match="rollout"):
        config_from_dict(data)
    data = config_to_dict(preset("quick"))
    data["mle"]["warmup"] = 3
    with pytest.raises(SeqganError, match="mle.warmup"):
        config_from_dict(data)


def test_config_from_toml_rejects_bad_toml_in_one_line():
    with pytest.raises(SeqganError) as error:
        config_from_toml("[mle\nepochs = 3\n")
    assert "line" in _one_line(error)


def test_every_field_has_a_validation_rule():
    for section, cls in SECTIONS.items():
        assert set(config_module._RULES[section]) == {f.name for f in dataclasses.fields(cls)}


# ---------------------------------------------------------------------------------------- overrides
def test_overrides_of_each_type():
    base = preset("paper-oracle")
    c = apply_overrides(base, ["adversarial.rounds=50", "mle.learning_rate=1", "adversarial.baseline=true",
                               "discriminator.filter_widths=[1,2,3]", "discriminator.filter_counts = [4, 5, 6]",
                               "run.device=cpu", 'run.method="mle"', "rollout.precision='bfloat16'"])
    assert c.adversarial.rounds == 50
    assert c.mle.learning_rate == 1.0 and isinstance(c.mle.learning_rate, float)
    assert c.adversarial.baseline is True
    assert c.discriminator.filter_widths == [1, 2, 3] and c.discriminator.filter_counts == [4, 5, 6]
    assert (c.run.device, c.run.method, c.rollout.precision) == ("cpu", "mle", "bfloat16")
    assert c.preset == "paper-oracle"
    assert base == preset("paper-oracle")  # the input is untouched


def test_overrides_return_a_copy_that_shares_no_lists():
    base = preset("quick")
    c = apply_overrides(base, [])
    c.discriminator.filter_widths.append(30)
    assert base.discriminator.filter_widths[-1] == 20


def test_later_override_wins():
    assert apply_overrides(preset("quick"), ["mle.epochs=3", "mle.epochs=4"]).mle.epochs == 4


def test_beta_zero_is_allowed():
    assert apply_overrides(preset("quick"), ["adversarial.beta=0"]).adversarial.beta == 0.0


@pytest.mark.parametrize("assignment, named", [
    ("advesarial.rounds=5", "advesarial"),
    ("adversarial.roundz=5", "adversarial.roundz"),
    ("adversarial.rounds=abc", "adversarial.rounds"),
    ("adversarial.rounds=1.5", "adversarial.rounds"),
    ("adversarial.rounds=true", "adversarial.rounds"),
    ("adversarial.baseline=1", "adversarial.baseline"),
    ("adversarial.baseline=yes", "adversarial.baseline"),
    ("mle.learning_rate=fast", "mle.learning_rate"),
    ("mle.learning_rate=true", "mle.learning_rate"),
    ("discriminator.filter_widths=[1, 2.5]", "discriminator.filter_widths"),
    ("discriminator.filter_widths=3", "discriminator.filter_widths"),
    ("run.method=42", "run.method"),
    ("adversarial.beta=1", "adversarial.beta"),
    ("adversarial.beta=-0.1", "adversarial.beta"),
    ("adversarial.beta=nan", "adversarial.beta"),
    ("discriminator.dropout_keep=0", "discriminator.dropout_keep"),
    ("discriminator.dropout_keep=1.5", "discriminator.dropout_keep"),
    ("sampling.temperature=0", "sampling.temperature"),
    ("sampling.temperature=inf", "sampling.temperature"),
    ("sampling.top_k=-1", "sampling.top_k"),
    ("adversarial.rounds=-1", "adversarial.rounds"),
    ("mle.epochs=-3", "mle.epochs"),
    ("mle.batch_size=0", "mle.batch_size"),
    ("adversarial.rollouts=0", "adversarial.rollouts"),
    ("mle.learning_rate=0", "mle.learning_rate"),
    ("adversarial.grad_clip=-1", "adversarial.grad_clip"),
    ("discriminator.filter_widths=[1,2,3]", "filter_widths"),
    ("discriminator.filter_counts=[]", "discriminator.filter_counts"),
    ("discriminator.filter_widths=[0]", "discriminator.filter_widths"),
    ("run.device=gpu", "run.device"),
    ("run.device=cuda:x", "run.device"),
    ("run.method=gail", "run.method"),
    ("rollout.precision=float16", "rollout.precision"),
    ("run.seed=-1", "run.seed"),
    ("run.checkpoint_every=0", "run.checkpoint_every"),
])
def test_bad_overrides_name_the_field(assignment, named):
    with pytest.raises(SeqganError) as error:
        apply_overrides(preset("paper-oracle"), [assignment])
    assert named in _one_line(error)


def test_unknown_names_list_the_valid_choices():
    with pytest.raises(SeqganError) as error:
        apply_overrides(preset("quick"), ["advesarial.rounds=5"])
    message = _one_line(error)
    assert all(section in message for section in SECTIONS) and "did you mean adversarial" in message
    with pytest.raises(SeqganError) as error:
        apply_overrides(preset("quick"), ["adversarial.roundz=5"])
    message = _one_line(error)
    assert "rollouts" in message and "did you mean rounds" in message


@pytest.mark.parametrize("assignment", ["adversarial.rounds", "adversarial=5", "=5", "mle.epochs=3\nmle.batch_size=2",
                                        "mle.epochs=3 \n x = 1"])
def test_malformed_assignments(assignment):
    with pytest.raises(SeqganError) as error:
        apply_overrides(preset("quick"), [assignment])
    _one_line(error)


def test_mismatched_filter_lists_name_both_fields():
    with pytest.raises(SeqganError) as error:
        apply_overrides(preset("quick"), ["discriminator.filter_counts=[1, 2]"])
    message = _one_line(error)
    assert "filter_widths" in message and "filter_counts" in message


def test_validate_catches_directly_built_configs():
    with pytest.raises(SeqganError, match="mle.epochs"):
        validate(Config(mle=MLEConfig(epochs="5")))  # type: ignore[arg-type]
    with pytest.raises(SeqganError, match="adversarial.baseline"):
        validate(Config(adversarial=AdversarialConfig(baseline=0)))  # type: ignore[arg-type]
    validate(Config(mle=MLEConfig(learning_rate=1)))  # an int is a fine float


def test_methods_is_an_extensible_tuple():
    assert isinstance(METHODS, tuple) and {"mle", "seqgan"} <= set(METHODS)
    for method in METHODS:
        assert apply_overrides(preset("quick"), [f"run.method={method}"]).run.method == method


# ------------------------------------------------------------------------------------- config files
def test_partial_config_file_overlays_the_base(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text("# my settings\n[adversarial]\nrounds = 7\nbeta = 0\n\n[run]\ndevice = \"cpu\"\n", encoding="utf-8")
    base = preset("folk")
    c = load_config_file(path, base)
    assert (c.adversarial.rounds, c.adversarial.beta, c.run.device) == (7, 0.0, "cpu")
    assert isinstance(c.adversarial.beta, float)
    expected = config_to_dict(base)
    expected["adversarial"].update(rounds=7, beta=0.0)
    expected["run"]["device"] = "cpu"
    assert config_to_dict(c) == expected and c.preset == "folk"
    assert base == preset("folk")


def test_a_saved_config_can_be_reused_as_a_config_file(tmp_path):
    path = tmp_path / "config.toml"
    save_config(preset("quick"), path)
    assert load_config_file(path, preset("folk")) == preset("quick")


def test_partial_file_naming_another_preset_is_refused(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('preset = "quick"\n[mle]\nepochs = 3\n', encoding="utf-8")
    with pytest.raises(SeqganError, match="quick"):
        load_config_file(path, preset("folk"))
    assert load_config_file(path, preset("quick")).mle.epochs == 3


@pytest.mark.parametrize("text, named", [
    ("[adversarial]\nroundz = 3\n", "adversarial.roundz"),
    ("[advesarial]\nrounds = 3\n", "advesarial"),
    ("[adversarial]\nrounds = 1.5\n", "adversarial.rounds"),
    ("[adversarial]\nbeta = 1.0\n", "adversarial.beta"),
    ("[adversarial]\nbaseline = 1\n", "adversarial.baseline"),
    ("adversarial = 3\n", "adversarial"),
    ("seed = 3\n", "seed"),
])
def test_bad_config_files_name_the_field_and_file(tmp_path, text, named):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SeqganError) as error:
        load_config_file(path, preset("quick"))
    message = _one_line(error)
    assert named in message and "bad.toml" in message


def test_malformed_toml_file_is_one_line_with_its_position(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[mle]\nepochs = 3\nbatch_size = = 4\n", encoding="utf-8")
    with pytest.raises(SeqganError) as error:
        load_config_file(path, preset("quick"))
    message = _one_line(error)
    assert "broken.toml" in message and "line 3" in message


def test_missing_or_unreadable_config_file(tmp_path):
    with pytest.raises(SeqganError, match="does not exist"):
        load_config_file(tmp_path / "nope.toml", preset("quick"))
    with pytest.raises(SeqganError, match="not a file"):
        load_config_file(tmp_path, preset("quick"))
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00[mle]")
    with pytest.raises(SeqganError) as error:
        load_config_file(binary, preset("quick"))
    _one_line(error)


# -------------------------------------------------------------------------------------- save_config
def test_save_config_writes_the_complete_config(tmp_path):
    path = tmp_path / "run" / "config.toml"
    save_config(preset("cpu-oracle"), path)
    assert config_from_toml(path.read_text(encoding="utf-8")) == preset("cpu-oracle")
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]


def test_save_config_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "config.toml"
    save_config(preset("quick"), path)
    before = path.read_bytes()

    def fail_midway(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", fail_midway)
    with pytest.raises(OSError):
        save_config(preset("folk"), path)
    assert path.read_bytes() == before  # the old file is whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]  # no temporary left behind

    fresh = tmp_path / "fresh.toml"
    with pytest.raises(OSError):
        save_config(preset("folk"), fresh)
    assert not fresh.exists()



def test_a_config_saved_before_a_field_existed_loads_with_the_old_behaviour():
    from seqgan_music.config import config_from_toml, config_to_toml, preset

    old = "\n".join(line for line in config_to_toml(preset("folk")).splitlines() if not line.startswith("keep_best"))
    assert "keep_best" not in old
    assert config_from_toml(old).mle.keep_best is False


def test_a_relaxation_section_saved_before_the_control_field_loads_the_control_it_was_trained_with():
    from seqgan_music.config import apply_overrides, config_from_toml, config_to_toml, preset

    old = "\n".join(line for line in config_to_toml(preset("grammar")).splitlines() if not line.startswith("control"))
    assert "control" not in old
    assert config_from_toml(old).relaxation.control == "sequence"
    assert preset("grammar").relaxation.control == "token"
    assert apply_overrides(preset("grammar"), ["relaxation.control=sequence"]).relaxation.control == "sequence"
    with pytest.raises(SeqganError, match="relaxation.control.*one of token, sequence"):
        apply_overrides(preset("grammar"), ["relaxation.control=joint"])


def test_a_config_saved_before_the_baseline_sections_existed_loads_with_their_defaults():
    from seqgan_music.config import config_from_toml, config_to_toml, preset

    text = config_to_toml(preset("cpu-oracle"))
    kept, skipping = [], False
    for line in text.splitlines():
        if line.startswith("["):
            skipping = line in ("[scheduled_sampling]", "[pg_bleu]")
        if not skipping:
            kept.append(line)
    old = config_from_toml("\n".join(kept))
    assert old == preset("cpu-oracle")
    with pytest.raises(SeqganError, match=r"lacks the \[adversarial\] section"):
        config_from_toml(text.replace("[adversarial]", "[adversarial_gone]").split("[adversarial_gone]")[0])
