"""Bounds on every setting, checked before a run folder is made: out-of-range settings, a model too
large for the machine, names Windows cannot hold or that differ from another only in case, paths too
long for the file system, and a corpus with nothing held out. Each gives one line, never a traceback,
and leaves no run folder behind."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seqgan_music.cli import app
from seqgan_music.config import apply_overrides, preset
from seqgan_music.corpora.grammar import build_grammar_corpus
from seqgan_music.corpora.split import SplitPlan
from seqgan_music.errors import SeqganError
from seqgan_music.paths import check_name
from seqgan_music.training import budget
from seqgan_music.training.budget import check_budget, estimate_memory

runner = CliRunner()
# Small enough that a run that is (wrongly) allowed to start gets to its failure within a second or two.
FAST = ["--set", "run.device=cpu", "--set", "mle.epochs=1", "--set", "pretrain_d.rounds=0",
        "--set", "adversarial.rounds=1", "--set", "adversarial.negatives=32", "--set", "generator.hidden=8",
        "--set", "discriminator.filter_scale=0.05", "--set", "run.samples=1"]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    build_grammar_corpus("grammar", 15, count=200, seed=1).save(tmp_path)
    return tmp_path


def train(home: Path, *args: str):
    return runner.invoke(app, ["train", "grammar", "--preset", "quick", *FAST, *args, "--home", str(home)])


def assert_one_line_refusal(result, *words: str) -> None:
    """Exit status 1, one `error:` line naming `words`, and no traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # not an escaped exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    for word in words:
        assert word in lines[0], result.output


def run_folders(home: Path) -> list[str]:
    folder = home / "checkpoints"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@pytest.mark.parametrize("setting, words", [
    ("generator.hidden=100000", ("generator.hidden=100000", "GB", "for its weights alone", "use at most")),
    ("generator.embedding=2147483648", ("generator.embedding", "<= 1000000", "2147483648")),
    ("adversarial.rollouts=1000000000", ("adversarial.rollouts", "<= 10000")),
])
def test_an_out_of_range_setting_gives_one_line_and_no_run_folder(home, setting, words):
    assert_one_line_refusal(train(home, "--set", setting, "--run", "big"), *words)
    assert run_folders(home) == []


@pytest.mark.parametrize("setting, words", [
    # Both used to get past the start: 100000 threads crashed the process (exit 139, no message, the
    # run left `running`) and two billion evaluation samples hung. In a process of its own, so that the
    # crash or the hang cannot take the test session with it.
    ("run.threads=100000", ("run.threads", "<= 4096")),
    ("run.eval_samples=2000000000", ("run.eval_samples", "<= 1000000")),
])
def test_a_setting_that_crashed_or_hung_is_refused_in_its_own_process(home, setting, words):
    command = [sys.executable, "-m", "seqgan_music", "train", "grammar", "--preset", "quick", *FAST,
               "--set", setting, "--run", "big", "--home", str(home)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=90,
                              env={**os.environ, "COLUMNS": "1000"})
    except subprocess.TimeoutExpired:
        pytest.fail(f"{setting} was not refused: the run was still going after 90 s")
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert all(word in lines[0] for word in words), done.stderr
    assert run_folders(home) == []


def test_threads_beyond_the_machines_cores_are_refused_with_how_many_it_has(monkeypatch):
    monkeypatch.setattr(budget, "machine_cores", lambda: 2)
    config = apply_overrides(preset("quick"), ["run.threads=3"])
    refusal = r"run\.threads=3 is more than this machine's 2 cores: use at most run\.threads=2"
    with pytest.raises(SeqganError, match=refusal):
        check_budget(config, 20, 15)
    check_budget(apply_overrides(preset("quick"), ["run.threads=2"]), 20, 15)


def test_the_memory_estimate_grows_with_the_sizes_and_names_what_fits(monkeypatch):
    quick = preset("quick")
    assert estimate_memory(quick, 80, 64).total < 200e6  # the presets need little
    huge = apply_overrides(quick, ["generator.hidden=100000"])
    assert estimate_memory(huge, 80, 64).generator_weights > 150e9  # 4 x 100000^2 LSTM weights, 4 bytes each
    monkeypatch.setattr(budget, "machine_memory", lambda: 2 * 10**9)
    with pytest.raises(SeqganError) as refused:
        check_budget(apply_overrides(quick, ["adversarial.rollouts=5000"]), 80, 64)
    message = str(refused.value)
    assert "adversarial.rollouts=5000" in message and "2.0 GB" in message, message
    fits = int(message.rsplit("adversarial.rollouts=", 1)[1])
    assert 0 < fits < 5000
    assert estimate_memory(apply_overrides(quick, [f"adversarial.rollouts={fits}"]), 80, 64).total <= 2e9
    assert estimate_memory(apply_overrides(quick, [f"adversarial.rollouts={fits + 1}"]), 80, 64).total > 2e9


@pytest.mark.parametrize("setting", [
    "generator.layers=65", "discriminator.embedding=1000001", "discriminator.filter_counts=[100001]",
    "mle.batch_size=1000001", "mle.epochs=1000001", "pretrain_d.negatives=10000001", "adversarial.rounds=1000001",
    "adversarial.d_steps=10001", "run.samples=10001", "rollout.every=\"9999999\"", "sampling.top_k=1000001",
])
def test_every_size_and_count_has_an_upper_bound(setting):
    with pytest.raises(SeqganError, match=rf"^{setting.split('=')[0]} must be"):
        apply_overrides(preset("quick"), [setting])


@pytest.mark.parametrize("name", ["CON", "nul", "Com1", "LPT9", "aux.txt", "trailing."])
def test_names_windows_cannot_hold_are_refused(home, name):
    with pytest.raises(SeqganError, match="invalid run name"):
        check_name(name, "run")
    assert_one_line_refusal(train(home, "--run", name), name)
    assert run_folders(home) == []


def test_a_run_name_differing_only_in_case_from_another_is_refused(home):
    (home / "checkpoints" / "Demo").mkdir(parents=True)
    assert_one_line_refusal(train(home, "--run", "demo"), "'Demo'", "only in case")
    assert run_folders(home) == ["Demo"]


def test_a_corpus_name_differing_only_in_case_from_another_is_refused(home):
    text = home / "lines.txt"
    text.write_text("a b c\nb c a\nc a b\n" * 20)
    result = runner.invoke(app, ["corpus", "build", "text", str(text), "--name", "Grammar", "--home", str(home)])
    assert_one_line_refusal(result, "'grammar'", "only in case")
    assert sorted(p.name for p in (home / "corpora").iterdir()) == ["grammar"]


LONG = "x" * 300


@pytest.mark.parametrize("args", [
    ["train", "grammar", "--config", f"{{tmp}}/{LONG}.toml"],
    ["train", "grammar", "--run", LONG],
    ["corpus", "build", "text", f"{{tmp}}/{LONG}.txt", "--name", "t"],
    ["corpus", "build", "midi", f"{{tmp}}/{LONG}", "--name", "m"],
    ["export", f"{{tmp}}/{LONG}.json", "--out", "{tmp}/out"],
    ["compose", "--primer", f"{{tmp}}/{LONG}.mid", "--out", "{tmp}/out"],
    ["runs", "--home", f"{{tmp}}/{LONG}"],
    ["demo", "--out", f"{{tmp}}/{LONG}"],  # refused before it builds a corpus and trains, not after
], ids=["train --config", "train --run", "corpus build text", "corpus build midi", "export", "compose --primer",
        "--home", "demo --out"])
def test_a_300_character_name_or_path_gives_one_line(home, args):
    args = [arg.replace("{tmp}", str(home)) for arg in args]
    result = runner.invoke(app, args if "--home" in args else [*args, "--home", str(home)])
    assert_one_line_refusal(result)
    assert run_folders(home) == [] and sorted(p.name for p in (home / "corpora").iterdir()) == ["grammar"]


def test_a_corpus_with_nothing_held_out_logs_no_nll_test_instead_of_zero(tmp_path):
    build_grammar_corpus("all-train", 15, count=100, seed=1, plan=SplitPlan((1.0, 0.0, 0.0))).save(tmp_path)
    result = runner.invoke(app, ["train", "all-train", "--preset", "quick", "--method", "mle", *FAST, "--set",
                                 "mle.keep_best=false", "--run", "r", "--home", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "no test or validation windows: NLL_test is not measured" in " ".join(result.output.split())
    records = [json.loads(line) for line in (tmp_path / "checkpoints" / "r" / "metrics.jsonl").read_text().splitlines()]
    assert records and all("nll_test" not in record for record in records), records
    evaluated = runner.invoke(app, ["evaluate", "r", "--references", "train", "--samples", "20", "--permutations", "10",
                                    "--device", "cpu", "--home", str(tmp_path)])
    assert evaluated.exit_code == 0, evaluated.output
    assert "BLEU-4" in evaluated.output and "NLL_test" not in evaluated.output, evaluated.output


def test_keep_best_without_validation_data_is_refused_before_the_run_folder(tmp_path):
    build_grammar_corpus("all-train", 15, count=100, seed=1, plan=SplitPlan((1.0, 0.0, 0.0))).save(tmp_path)
    result = runner.invoke(app, ["train", "all-train", "--preset", "quick", "--method", "mle", *FAST,
                                 "--run", "r", "--home", str(tmp_path)])
    assert_one_line_refusal(result, "no validation windows", "mle.keep_best", "--split 80/10/10")
    assert run_folders(tmp_path) == []
