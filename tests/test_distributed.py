"""Data-parallel training (training/distributed.py) on the CPU with gloo: two processes spawned by the
test, as torchrun would start them, on a tiny grammar corpus.

Tolerance: two processes sum a batch's gradient in two halves and add them in an all-reduce; one
process sums it in one go. The float32 results differ in the last bits (summation order), and Adam
carries that over the steps: after two epochs the weights (of order 0.1 to 1) agree to 7e-8 here,
and are compared to 1e-6 absolute. A wrong average is far outside it: one unweighted by the counted
tokens (the uneven last batch) is off by 6e-4, no average at all by 6e-2 (measured)."""

import os
import shutil
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as multiprocessing
from typer.testing import CliRunner

from seqgan_music.cli import app
from seqgan_music.config import METHODS, apply_overrides, preset
from seqgan_music.corpora.corpus import load_corpus
from seqgan_music.corpora.grammar import build_grammar_corpus
from seqgan_music.errors import SeqganError
from seqgan_music.training import distributed
from seqgan_music.training.build import build_discriminator, build_generator
from seqgan_music.training.checkpoint import load_checkpoint
from seqgan_music.training.launch import resume_run, start_run
from seqgan_music.training.methods.seqgan import policy_gradient_step, policy_gradient_surrogate
from seqgan_music.training.optimization import descend
from seqgan_music.training.rollout import RolloutPolicy
from seqgan_music.training.runs import STATE_FILE, read_metrics, read_run_info, run_dir
from training_helpers import TINY

WORLD = 2
BATCH = 24  # 161 training windows: global batches of 48, the last one 17 rows (9 and 8 per process)
TOLERANCE = 1e-6


def settings(method: str, *extra: str):
    return apply_overrides(preset("quick"), [*TINY, "run.threads=1", f"run.method={method}", "mle.epochs=2",
                                             f"mle.batch_size={BATCH}", "adversarial.rounds=2", "mle.eval_every=1",
                                             "adversarial.eval_every=1", *extra])


SEQGAN = ("mle.epochs=1",)
# Every method that trains on several processes (reinforce without its moving baseline); seqgan and mle
# are checked by the scenarios above.
SUPPORTED = [method for method in METHODS if method not in ("mle", "seqgan", "rebar", "relax", "maskgan")]


class StopAt:
    """Asks the trainer to stop after unit `unit` of `phase` (what Ctrl-C does in one process)."""

    def __init__(self, phase: str, unit: int) -> None:
        self.phase, self.unit, self.trainer = phase, unit, None

    def on_event(self, event) -> None:
        if event.kind == "unit" and (event.phase, event.unit) == (self.phase, self.unit):
            self.trainer.request_stop()


def _run(home: Path, run: str, config, stop: StopAt | None = None) -> str:
    trainer = start_run(home, "grammar", config, run, observer=stop)
    if stop is not None:
        stop.trainer = trainer
    return trainer.run()


def _rank(rank: int, port: int, homes: list[Path], folders: list[Path], out: Path) -> None:
    """One process of the job: what torchrun sets, then every scenario the tests check."""
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(WORLD), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    os.chdir(folders[rank])  # a folder of its own: nothing may appear in it
    shared = homes[0]
    try:
        # MLE on rank 1's own copy of the home, which it must leave as it found it
        assert _run(homes[rank], "mle", settings("mle")) == "finished"
        assert _run(shared, "whole", settings("seqgan", *SEQGAN)) == "finished"
        stop = StopAt("adversarial", 1) if rank == 0 else None  # asked on rank 0 only: both must stop
        assert _run(shared, "parts", settings("seqgan", *SEQGAN), stop) == "interrupted"
        assert resume_run(shared, "parts").run() == "finished"
        stop = StopAt("mle", 1) if rank == 0 else None
        assert _run(shared, "left", settings("seqgan", *SEQGAN), stop) == "interrupted"
        generator, policy = _one_seqgan_step(shared, rank)
        torch.save({"generator": generator.state_dict(), "policy": policy.network.state_dict()}, out / f"step-{rank}.pt")
        for method in SUPPORTED:
            _every_tensor_of(shared, method, rank, out)
        _one_rank_dies(shared, rank, out)  # last: rank 1 ends here
    finally:
        distributed.leave()


def _tensors(value, path: str = "") -> dict[str, torch.Tensor]:
    """Every tensor in nested dicts and lists, by its path."""
    if isinstance(value, torch.Tensor):
        return {path: value}
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, (list, tuple)) else ()
    return {key: tensor for name, part in items for key, tensor in _tensors(part, f"{path}/{name}").items()}


def _every_tensor_of(home: Path, method: str, rank: int, out: Path) -> None:
    """Train `method` briefly on two processes; save what this process ends with: its models, its
    optimizers, what the method keeps (a rollout network, its own optimizers)."""
    own = ["adversarial.baseline=false"] if method == "reinforce" else []  # its moving baseline is refused
    trainer = start_run(home, "grammar", settings(method, "mle.epochs=1", "adversarial.rounds=1",
                                                  "scheduled_sampling.epochs=1", *own), f"sync-{method}")
    assert trainer.run() == "finished"
    state = {"generator": trainer.generator.state_dict(), "discriminator": trainer.discriminator.state_dict(),
             "optimizers": {name: o.state_dict() for name, o in trainer.optimizers.items()},
             "method": trainer.method.state_dict()}
    torch.save(_tensors(state), out / f"sync-{method}-{rank}.pt")


def _one_rank_dies(home: Path, rank: int, out: Path) -> None:
    """Rank 1 dies in MLE epoch 2 as a crashed or killed process does (no exception, no clean-up)."""
    trainer = start_run(home, "grammar", settings("mle", "mle.epochs=3"), "crash")
    if rank == 1:
        run_unit = trainer.method.run_unit
        trainer.method.run_unit = lambda phase, unit: os._exit(3) if unit == 2 else run_unit(phase, unit)
    try:
        trainer.run()
    except distributed.PeerFailure as failure:
        (out / "failure.txt").write_text(str(failure))


def _seqgan_models(home: Path):
    config = settings("seqgan")
    corpus = load_corpus(home, "grammar")
    torch.manual_seed(3)
    generator, discriminator = build_generator(corpus, config), build_discriminator(corpus, config, corpus.length)
    optimizer = torch.optim.Adam(generator.parameters(), lr=config.adversarial.learning_rate)
    return config, corpus, generator, discriminator, RolloutPolicy(generator, config.adversarial.beta), optimizer


def _one_seqgan_step(home: Path, rank: int):
    """SeqGAN's generator step on this rank's own samples (sampling stream 10 + rank)."""
    config, corpus, generator, discriminator, policy, optimizer = _seqgan_models(home)
    policy_gradient_step(generator, optimizer, policy, discriminator, corpus.length, config.adversarial,
                         config.rollout.chunk_size, "float32", torch.Generator().manual_seed(10 + rank))
    return generator, policy


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
            for path in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """The two processes' work, once for the module: the homes, rank 1's own copy and folders, the step files."""
    root = tmp_path_factory.mktemp("distributed")
    shared, own = root / "home", root / "rank1-home"
    build_grammar_corpus("grammar", 15, count=200, seed=1).save(shared)
    shutil.copytree(shared, own)
    folders = [root / "cwd0", root / "cwd1"]
    for folder in folders:
        folder.mkdir()
    out = root / "out"
    out.mkdir()
    before = _listing(own)
    context, port = multiprocessing.get_context("spawn"), _free_port()
    processes = [context.Process(target=_rank, args=(rank, port, [shared, own], folders, out)) for rank in range(WORLD)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=600)
    assert [process.exitcode for process in processes] == [0, 3]  # rank 1 died in the last scenario, rank 0 did not
    return {"home": shared, "own": own, "own_before": before, "folders": folders, "out": out}


def _state(home: Path, run: str) -> dict:
    return load_checkpoint(run_dir(home, run) / STATE_FILE)


def _close(ours: dict, theirs: dict) -> float:
    assert ours.keys() == theirs.keys()
    return max(float((ours[key].float() - theirs[key].float()).abs().max()) for key in ours)


def test_two_processes_train_mle_as_one_process_with_the_doubled_batch(job, tmp_path):
    reference = tmp_path / "home"
    shutil.copytree(job["home"] / "corpora", reference / "corpora")
    assert _run(reference, "mle", settings("mle", f"mle.batch_size={2 * BATCH}")) == "finished"
    two, one = _state(job["home"], "mle"), _state(reference, "mle")
    assert two["world_size"] == 2 and "world_size" not in one  # one process saves what it always did
    assert _close(two["generator"], one["generator"]) < TOLERANCE
    # the same data order: the logged held-out NLL agrees to the logged digits
    assert [r.get("nll_test") for r in read_metrics(run_dir(job["home"], "mle"))] == pytest.approx(
        [r.get("nll_test") for r in read_metrics(run_dir(reference, "mle"))], abs=1e-4)
    # and the two-process run moved the weights: the comparison is not between two untrained models
    assert _close(two["generator"], build_generator(load_corpus(reference, "grammar"), settings("mle")).state_dict()) > 0.01


def test_a_seqgan_step_on_two_processes_is_the_one_process_step_on_both_batches(job):
    config, corpus, generator, discriminator, policy, optimizer = _seqgan_models(job["home"])
    losses = [policy_gradient_surrogate(generator, policy, discriminator, corpus.length, config.adversarial,
                                        config.rollout.chunk_size, "float32", torch.Generator().manual_seed(10 + rank))[0]
              for rank in range(WORLD)]
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    descend(sum(losses) / WORLD, list(generator.parameters()), optimizer, config.adversarial.grad_clip)
    policy.update(generator)
    for rank in range(WORLD):
        stepped = torch.load(job["out"] / f"step-{rank}.pt", weights_only=True)
        assert _close(stepped["generator"], generator.state_dict()) < TOLERANCE
        assert _close(stepped["policy"], policy.network.state_dict()) < TOLERANCE
    assert _close(before, generator.state_dict()) > 1e-4  # the step did move the generator


def test_a_two_process_run_stopped_and_resumed_equals_one_run_through(job):
    whole, parts = _state(job["home"], "whole"), _state(job["home"], "parts")
    for part in ("generator", "discriminator", "rollout"):
        section = whole[part]["network"] if part == "rollout" else whole[part]
        resumed = parts[part]["network"] if part == "rollout" else parts[part]
        assert all(torch.equal(section[key], resumed[key]) for key in section), part
    for rank in range(WORLD):  # every process's own random streams went on where they stopped
        assert all(torch.equal(whole["rng_ranks"][rank][name], parts["rng_ranks"][rank][name])
                   for name in ("torch", "sampling", "shuffle"))
    assert not torch.equal(whole["rng_ranks"][0]["sampling"], whole["rng_ranks"][1]["sampling"])  # seeds offset
    drop = {"elapsed"}
    assert [{k: v for k, v in r.items() if k not in drop} for r in read_metrics(run_dir(job["home"], "whole"))] == \
        [{k: v for k, v in r.items() if k not in drop} for r in read_metrics(run_dir(job["home"], "parts"))]
    info = read_run_info(run_dir(job["home"], "parts"))
    assert (info["world_size"], info["backend"], info["status"]) == (2, "gloo", "finished")


def test_only_the_first_process_writes(job):
    assert _listing(job["own"]) == job["own_before"]  # rank 1's home: not a byte written, no run folder made
    assert all(not any(folder.iterdir()) for folder in job["folders"])  # nothing in either working directory
    written = {path.name for path in (run_dir(job["home"], "mle")).iterdir()}
    assert written == {".lock", "config.toml", "run.json", "metrics.jsonl", "samples", STATE_FILE}
    assert sorted(path.name for path in (run_dir(job["home"], "mle") / "samples").iterdir()) == \
        ["final.txt", "mle-0001.txt", "mle-0002.txt"]


@pytest.mark.parametrize("method", SUPPORTED)
def test_every_method_keeps_its_processes_identical(job, method):
    ours, theirs = (torch.load(job["out"] / f"sync-{method}-{rank}.pt", weights_only=True) for rank in range(WORLD))
    assert ours.keys() == theirs.keys() and any("/generator/" in key for key in ours)
    assert [key for key in ours if not torch.equal(ours[key], theirs[key])] == []


def test_a_process_that_dies_stops_the_job_with_one_line_and_the_run_is_marked_interrupted(job):
    message = (job["out"] / "failure.txt").read_text()
    assert "\n" not in message and message.startswith("another process of this training job has stopped")
    assert message.endswith("run 'crash' is marked interrupted: resume it with the same number of processes")
    assert read_run_info(run_dir(job["home"], "crash"))["status"] == "interrupted"
    assert [r["step"] for r in read_metrics(run_dir(job["home"], "crash"))] == [1]  # epoch 1 logged, 2 never finished


def test_a_run_resumes_only_with_the_number_of_processes_that_trained_it(job):
    folder = run_dir(job["home"], "left")
    before = _listing(folder)
    with pytest.raises(SeqganError, match=r"trained by 2 process\(es\) in all .* not 1: resume it with --nproc 2"):
        resume_run(job["home"], "left")
    after = _listing(folder)
    assert {k: v for k, v in after.items() if k != ".lock"} == {k: v for k, v in before.items() if k != ".lock"}
    assert read_run_info(folder)["status"] == "interrupted"


def test_a_method_that_cannot_train_on_several_processes_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    build_grammar_corpus("grammar", 15, count=200, seed=1).save(tmp_path)
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(_free_port()))
    # a method let through would wait for a second process that never comes: fail at once instead
    monkeypatch.setattr(distributed, "join", lambda device: pytest.fail("not refused: it went on to join the job"))
    for method, extra in (("reinforce", "adversarial.baseline=true"), ("rebar", "run.seed=0"), ("relax", "run.seed=0"),
                          ("maskgan", "run.seed=0")):
        with pytest.raises(SeqganError, match=f"method {method} cannot train on several processes: .*"):
            start_run(tmp_path, "grammar", settings(method, extra), "refused")
    assert not (tmp_path / "checkpoints").exists()


def test_train_nproc_2_from_the_command_line_finishes_and_runs_lists_it(tmp_path):
    build_grammar_corpus("grammar", 15, count=200, seed=1).save(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["train", "grammar", "--method", "mle", "--preset", "quick", "--run", "cli", "--nproc",
                                 "2", "--home", str(tmp_path), *(f"--set={s}" for s in [*TINY, "mle.epochs=1",
                                                                                          "run.threads=1"])])
    assert result.exit_code == 0, result.output
    info = read_run_info(run_dir(tmp_path, "cli"))
    assert (info["status"], info["world_size"]) == ("finished", 2)
    listing = runner.invoke(app, ["runs", "--home", str(tmp_path)])
    assert listing.exit_code == 0 and "cli" in listing.output and "finished" in listing.output
