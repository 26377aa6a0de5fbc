"""The report's dev curves: dev WER and CER from each run's train_log.jsonl dev lines, against
updates, one line per run."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from harness.report import figures
from harness.report.load import read_train_log


def _write_log(path: Path, dev: dict[int, tuple[float, float]]) -> None:
    """Loss lines every 10 updates and dev lines as harness.train.loop writes them."""
    lines = [{"step": step, "loss": 2.0, "lr": 1e-3} for step in range(10, 101, 10)]
    lines += [{"step": step, "dev_utterances": 8, "dev_cer": cer, "dev_wer": wer,
               "blank_share": 0.5, "empty_share": 0.0} for step, (wer, cer) in dev.items()]
    path.write_text("\n".join(map(json.dumps, lines)) + "\n")


def _run(slug: str, log_path: Path):
    return SimpleNamespace(run=SimpleNamespace(slug=slug), state="finished",
                           train_log=read_train_log(log_path))


def test_dev_curves_plot_each_runs_dev_wer_and_cer_in_percent(tmp_path, monkeypatch):
    """Two runs: one line each in the WER panel and the CER panel, at the updates they were
    evaluated, in percent; a run without dev lines is named in the caption."""
    _write_log(tmp_path / "a.jsonl", {50: (0.8, 0.4), 100: (0.5, 0.2)})
    _write_log(tmp_path / "b.jsonl", {50: (0.9, 0.45), 100: (0.6, 0.25)})
    (tmp_path / "c.jsonl").write_text(json.dumps({"step": 10, "loss": 1.0}) + "\n")
    results = SimpleNamespace(runs=[_run("baseline", tmp_path / "a.jsonl"),
                                    _run("lr=3e-4", tmp_path / "b.jsonl"),
                                    _run("lr=3e-3", tmp_path / "c.jsonl")])
    drawn = []
    monkeypatch.setattr(figures, "_save", lambda figure, path: drawn.append((figure, path)))
    made = figures.dev_curves(results, tmp_path / "out")
    assert made.name == "dev_curves.png" and "No dev evaluation logged: lr=3e-3." in made.caption
    (figure, path), = drawn
    assert path == tmp_path / "out" / "dev_curves.png"
    wer_panel, cer_panel = figure.axes
    assert [(line.get_label(), list(line.get_xdata()), list(line.get_ydata()))
            for line in wer_panel.get_lines()] == [
        ("baseline (finished)", [50, 100], [80.0, 50.0]),
        ("lr=3e-4 (finished)", [50, 100], [90.0, 60.0])]
    assert [list(line.get_ydata()) for line in cer_panel.get_lines()] == [[40.0, 20.0],
                                                                         [45.0, 25.0]]


def test_no_dev_lines_no_figure(tmp_path):
    """Runs that never evaluated on a dev set give no dev-curve figure (and no broken link)."""
    (tmp_path / "c.jsonl").write_text(json.dumps({"step": 10, "loss": 1.0}) + "\n")
    results = SimpleNamespace(runs=[_run("baseline", tmp_path / "c.jsonl")])
    assert figures.dev_curves(results, tmp_path / "out") is None
    assert not (tmp_path / "out").exists()
