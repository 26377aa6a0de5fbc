"""Trackers are asked for by name (train.log_with or --log-with), change no run id, and a
missing tracker package is refused before anything runs, saying what to install."""

from __future__ import annotations

import importlib.util

import pytest

from harness.cli import main
from harness.cli.run import tracked
from harness.config.load import load_suite
from harness.config.suite import SpecError
from harness.errors import UserError
from harness.train import trackers
from harness.train.trackers import check_installed, hyperparameters
from tests.train_fixtures import tiny_suite

SUITE = tiny_suite("tiny", "are trackers optional?", "harness run tiny.yaml",
                   axes="axes:\n  train.lr: [1e-3, 3e-4]\n")


@pytest.fixture
def nothing_installed(monkeypatch):
    """No tracker package can be imported."""
    monkeypatch.setattr(trackers.importlib.util, "find_spec", lambda name: None)


def test_a_missing_package_names_the_tracker_and_how_to_install_it(nothing_installed):
    """tensorboard -> pip install 'harness[tensorboard]'; wandb -> pip install wandb."""
    with pytest.raises(UserError) as caught:
        check_installed(["tensorboard", "wandb"])
    assert str(caught.value) == (
        "train.log_with: tracker package not installed (tensorboard: pip install "
        "'harness[tensorboard]'; wandb: pip install wandb)")


def test_run_with_a_missing_tracker_stops_before_anything_runs(nothing_installed, tmp_path,
                                                              capsys):
    """`harness run --log-with wandb` without wandb exits 2 naming the flag; no run starts."""
    suite_file = tmp_path / "tiny.yaml"
    suite_file.write_text(SUITE)
    code = main(["run", str(suite_file), "--runs-dir", str(tmp_path / "runs"),
                 "--cache-dir", str(tmp_path / "cache"), "--log-with", "wandb"])
    assert code == 2
    assert "--log-with / train.log_with: tracker package not installed (wandb: pip install " \
           "wandb)" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "cache").exists()


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None,
                    reason="tensorboard not installed (pip install 'harness[tensorboard]')")
def test_log_with_joins_the_suite_setting_and_keeps_every_run_id(tmp_path):
    """--log-with tensorboard adds to each run's train.log_with (once) and no id changes."""
    suite_file = tmp_path / "tiny.yaml"
    suite_file.write_text(SUITE.replace("log_every: 1}", "log_every: 1, log_with: [tensorboard]}"))
    plain = load_suite(suite_file)
    logged = tracked(plain, ["tensorboard", "tensorboard"])
    assert [run.spec.train.log_with for run in logged.runs] == [("tensorboard",)] * 2
    assert [run.id for run in logged.runs] == [run.id for run in plain.runs]
    suite_file.write_text(SUITE)
    assert [run.id for run in load_suite(suite_file).runs] == [run.id for run in plain.runs]


def test_an_unknown_tracker_in_a_suite_file_is_an_error_naming_the_setting(tmp_path):
    """train.log_with: [tensorbored] is refused when the file is read, naming the setting."""
    suite_file = tmp_path / "tiny.yaml"
    suite_file.write_text(SUITE.replace("log_every: 1}", "log_every: 1, log_with: [tensorbored]}"))
    with pytest.raises(SpecError, match=r"train\.log_with"):
        load_suite(suite_file)


def test_hyperparameters_are_flat_scalars_of_every_setting(tmp_path):
    """Every setting appears under its dotted name as a bool, number or string (None and
    lists as text), with suite, slug and run id."""
    suite_file = tmp_path / "tiny.yaml"
    suite_file.write_text(SUITE)
    run = load_suite(suite_file).baseline
    flat = hyperparameters(run.spec, "tiny", run.slug, run.id)
    assert flat["train.lr"] == 1e-3 and flat["model.preset"] == "tiny"
    assert flat["model.name_or_path"] == "null" and flat["text.scoring"] == '["blog", "none"]'
    assert (flat["suite"], flat["slug"], flat["run_id"]) == ("tiny", "baseline", run.id)
    assert all(isinstance(value, (bool, int, float, str)) for value in flat.values())
    assert "train.max_steps" in flat and "data.synth.train" in flat
