"""fp16 without a CUDA GPU is refused by harness plan and harness run before anything runs, with
the runs named; bf16 and no are accepted on a CPU."""

from __future__ import annotations

import pytest

from harness.cli import main

SUITE = """\
suite: fp16-here
base:
  data: {{source: synthetic, synth: {{train: 1min, test: 10s}}}}
  model: {{preset: tiny}}
  train: {{max_steps: 1, precision: {precision}}}
axes:
  train.lr: [1e-3, 3e-4]
"""


@pytest.fixture
def no_gpus(monkeypatch):
    """This process sees no GPU, whatever the machine has."""
    monkeypatch.setattr("harness.run.placement.gpus_without_torch", lambda *a, **k: [])
    monkeypatch.setattr("harness.run.runner.visible_gpus", lambda: [])


def test_plan_refuses_fp16_without_a_gpu_naming_the_runs(tmp_path, capsys, no_gpus):
    """harness plan exits 2 with one line naming both fp16 runs and what to use instead."""
    suite = tmp_path / "fp16.yaml"
    suite.write_text(SUITE.format(precision="fp16"))
    assert main(["plan", str(suite)]) == 2
    err = capsys.readouterr().err
    assert "train.precision fp16 needs a CUDA GPU" in err
    assert "runs: baseline, lr=3e-4" in err and "use bf16 or no" in err


def test_run_refuses_fp16_before_creating_anything(tmp_path, capsys, no_gpus):
    """harness run exits 2 without a runs directory or a prepared dataset."""
    suite = tmp_path / "fp16.yaml"
    suite.write_text(SUITE.format(precision="fp16"))
    code = main(["run", str(suite), "--runs-dir", str(tmp_path / "runs"), "--cache-dir",
                 str(tmp_path / "cache"), "--no-report"])
    assert code == 2 and "fp16 needs a CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "cache").exists()


@pytest.mark.parametrize("precision", ["bf16", '"no"', "auto"])
def test_plan_accepts_the_precisions_a_cpu_can_run(tmp_path, precision, no_gpus):
    """bf16, no and auto (no on a CPU) plan fine without a GPU."""
    suite = tmp_path / "cpu.yaml"
    suite.write_text(SUITE.format(precision=precision))
    assert main(["plan", str(suite)]) == 0
