"""The terminal app's sweep view on an oracle corpus: the oracle's own entropy (the real data's
NLL_oracle) drawn as the floor line under the curves, ticked with its value, labelled and named in
the legend, as `seqgan-music sweep` draws it."""

from __future__ import annotations

from pathlib import Path

import torch
from textual.pilot import Pilot
from textual.widgets import Input, SelectionList

from seqgan_music.corpora.corpus import load_corpus
from seqgan_music.corpora.oracle import build_oracle_corpus, corpus_oracle
from seqgan_music.plotting import LEVEL
from seqgan_music.run_evaluation.sweep import FLOOR_LABEL
from seqgan_music.tui.app import SeqganApp
from seqgan_music.tui.evaluate import EvaluatePane, SweepPlot
from training_helpers import train
from tui_helpers import drive, messages, screen_lines, settle


def test_the_sweep_view_draws_the_oracle_entropy_as_a_floor(tmp_path: Path) -> None:
    build_oracle_corpus("oracle", seed=2, train=200, held_out=100, length=8).save(tmp_path)
    train(tmp_path, "oracle", "few", epochs=1)
    train(tmp_path, "oracle", "more", epochs=3)
    corpus = load_corpus(tmp_path, "oracle")  # 50 valid sequences, fewer than the samples: all are scored
    entropy = corpus_oracle(corpus).nll(torch.as_tensor(corpus.splits["valid"], dtype=torch.long)).mean().item()
    shown: dict[str, object] = {}

    async def script(app: SeqganApp, pilot: Pilot) -> None:
        runs = app.query_one("#evaluate-runs", SelectionList)
        await pilot.press("space", "down", "space")
        assert runs.selected == ["few", "more"]
        app.query_one("#evaluate-samples", Input).value = "60"
        app.query_one("#evaluate-temperatures", Input).value = "0.8,1.2"
        await pilot.press("s")
        await settle(pilot)
        assert not messages(app, "error"), messages(app, "error")
        plot = app.query_one(SweepPlot)
        assert plot.display and "nll_oracle against nll_test" in str(plot.border_title)
        shown["lines"], shown["screen"] = plot.plain_lines(), "\n".join(screen_lines(app))

    drive(tmp_path, script, size=(120, 40), panes=(EvaluatePane,))
    lines = shown["lines"]
    floor = [line for line in lines if f"│{LEVEL * 2} {FLOOR_LABEL} {LEVEL}" in line]
    assert len(floor) == 1 and floor[0].split("│")[0].strip() == f"{entropy:.3g}"  # at the computed entropy
    assert f"{LEVEL * 2} {FLOOR_LABEL} {entropy:.3g}" in "\n".join(lines[-2:])  # in the legend
    assert f"{LEVEL * 2} {FLOOR_LABEL} {LEVEL}" in shown["screen"]  # and on the screen
