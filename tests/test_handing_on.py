"""One tiny run of the stand-in, as a user would run it with `--log-with tensorboard`: the
figures reach TensorBoard, the console shows our one-line head note and progress lines instead
of transformers' tables, the report draws dev curves, and `harness export` hands on a model that
transformers' pipeline loads and that transcribes the test set as the run itself did."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from harness.cli import main
from harness.config.load import load_suite
from harness.files import LOG_FILE, MODEL_DIR, PREDICTIONS_FILE
from tests.train_fixtures import tiny_suite

pytestmark = pytest.mark.integration

SUITE = tiny_suite("tiny", "can the run be followed and handed on?", "harness run tiny.yaml") \
    .replace("model: {preset: tiny}", 'model: {name_or_path: "standin:tiny"}') \
    .replace("log_every: 1}", "log_every: 1, eval_every: 3}") \
    .replace("lr: 1e-3, max_steps: 6,", "lr: 1e-6, max_steps: 6,")
# lr 1e-6 keeps the fresh head near its random start for six updates: at 1e-3 it collapses to
# all-blank output, and empty transcripts would match whatever model the pipeline loaded.


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """`harness run tiny.yaml --log-with tensorboard` in a child process (stderr not a tty)."""
    root = tmp_path_factory.mktemp("handing-on")
    suite_file = root / "tiny.yaml"
    suite_file.write_text(SUITE)
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", str(suite_file), "--runs-dir",
         str(root / "runs"), "--cache-dir", str(root / "cache"), "--reports-dir",
         str(root / "reports"), "--log-with", "tensorboard"],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    suite = load_suite(suite_file)
    run_dir = root / "runs" / "tiny" / suite.baseline.id
    log = [json.loads(line) for line in (run_dir / LOG_FILE).read_text().splitlines()]
    return root, suite, run_dir, log, done


def test_tensorboard_holds_every_logged_figure_and_the_settings(ran):
    """runs/tiny/tensorboard/baseline/ has train/loss, lr, grad norm and audio-s/s at every
    logged update and dev WER/CER at each dev evaluation, equal to train_log.jsonl, and the
    run's settings as hyperparameters."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    root, _, _, log, _ = ran
    events = EventAccumulator(str(root / "runs" / "tiny" / "tensorboard" / "baseline"))
    events.Reload()
    train = [r for r in log if "loss" in r]
    dev = [r for r in log if "dev_cer" in r]
    assert [r["step"] for r in train] == [1, 2, 3, 4, 5, 6] and [r["step"] for r in dev] == [3, 6]
    for tag, key, records in (("train/loss", "loss", train), ("train/lr", "lr", train),
                              ("train/grad_norm", "grad_norm", train),
                              ("train/audio_seconds_per_s", "audio_seconds_per_s", train),
                              ("dev/dev_wer", "dev_wer", dev), ("dev/dev_cer", "dev_cer", dev)):
        logged = [(e.step, e.value) for e in events.Scalars(tag)]
        assert logged == [(r["step"], pytest.approx(r[key], rel=1e-6)) for r in records], tag
    (hparams,) = (root / "runs" / "tiny" / "tensorboard" / "baseline").glob("*/hparams.yml")
    text = hparams.read_text()
    assert "train.lr: 1.0e-06" in text and "slug: baseline" in text and "suite: tiny" in text


def test_the_console_says_one_line_for_the_head_and_shows_progress(ran):
    """No LOAD REPORT table or MISMATCH row: one line with the run's head size and the stand-in's
    52; off a terminal, a progress line at the dev evaluation and at the last update."""
    _, _, run_dir, _, done = ran
    outputs = len(json.loads((run_dir / MODEL_DIR / "vocab.json").read_text()))
    assert f"new CTC head: {outputs} outputs, checkpoint had 52" in done.stderr
    assert "LOAD REPORT" not in done.stderr and "MISMATCH" not in done.stderr
    progress = [line for line in done.stderr.splitlines() if "baseline: update " in line]
    assert any(line.startswith("    baseline: update 3/6, loss ") and "dev CER" in line
               for line in progress), progress
    assert any(line.startswith("    baseline: update 6/6, ") for line in progress), progress


def test_the_report_links_dev_curves(ran):
    """reports/tiny.md links tiny/dev_curves.png, a PNG next to it."""
    root = ran[0]
    report = (root / "reports" / "tiny.md").read_text()
    assert "(tiny/dev_curves.png)" in report
    assert (root / "reports" / "tiny" / "dev_curves.png").read_bytes().startswith(b"\x89PNG")


def test_exported_model_transcribes_the_test_set_as_the_run_did(ran, tmp_path, capsys):
    """`harness export` writes a directory that pipeline('automatic-speech-recognition')
    loads; on every test utterance it gives the run's own hypothesis (predictions.jsonl), and
    its model card carries the run's test WER, the targets rule set and the command."""
    from transformers import pipeline

    from harness.data.prepare import prepare

    root, suite, run_dir, _, _ = ran
    out = tmp_path / "exported"
    assert main(["export", str(run_dir), str(out)]) == 0
    asr = pipeline("automatic-speech-recognition", model=str(out))
    test = prepare(suite.baseline.spec, root / "cache").test
    hypotheses = {r["id"]: r["hypothesis"] for r in map(
        json.loads, (run_dir / PREDICTIONS_FILE).read_text().splitlines())}
    heard = {row["id"]: asr({"raw": np.asarray(row["input_values"], dtype=np.float32),
                             "sampling_rate": 16000})["text"] for row in test}
    assert heard == hypotheses and any(heard.values())
    card = (out / "README.md").read_text()
    scores = json.loads((run_dir / "scores.json").read_text())["rule_sets"]["blog"]
    assert f"| `blog` | {100 * scores['wer']:.2f}% |" in card
    assert "rule set `blog`" in card and f"harness export {run_dir} {out}" in card
    assert f"--only {suite.baseline.id}" in card
    capsys.readouterr()
    assert main(["export", str(run_dir), str(out)]) == 2  # never over an earlier export
    assert f"error: {out}: exists and is not empty" in capsys.readouterr().err
