"""Decoders in the report: a column pair per decoder, what each is, a Decoders section, a line
per decoder in the labeled-audio figure, all read from hand-made records and predictions.

Two runs (baseline = 30 min, labeled=1h) on the same 10 test utterances of 4 words (40 words),
each decoded greedily (predictions.jsonl) and by an `ngram` decoder (predictions.ngram.jsonl).
A "miss" substitutes an utterance's first word (1 word error), so the WERs are counts / 40:

    run          greedy misses     WER       ngram misses   WER
    baseline     all 10            25.00 %   utt 0, 1       5.00 %
    labeled=1h   utt 0-3           10.00 %   utt 2, 3, 4    7.50 %

Δ greedy (1h - baseline) = -15.00: 1h is better on 6 utterances and worse on none, so the paired
interval lies below 0 (`*`). Δ ngram = 7.50 - 5.00 = +2.50, better on 2 and worse on 3: the
interval holds 0. Baseline ngram - greedy = -20.00, better on 8, worse on none: `*`.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest

from harness.config.load import load_suite
from harness.report import write_report
from harness.report.figures import hours_figure
from harness.report.load import load_results
from harness.report.render import results_table
from harness.run.record import run_record
from harness.run.store import SuiteStore
from harness.scoring import score_run_dir
from tests import report_fixtures as fx
from tests.test_report import section, tables

N = 10
REFERENCES = [" ".join(fx.WORDS[(i + k) % len(fx.WORDS)] for k in range(4)) for i in range(N)]
DECODER = {"name": "ngram", "beam_width": 8, "lm": {"text": "train", "order": 3},
           "alpha": [0.5, 1.0], "beta": [0.0, 1.0]}
SUITE = dict(fx.SUITE, suite="decoders", axes={"data.labeled": ["30min", "1h"]})
SUITE["base"] = dict(fx.SUITE["base"],
                     data={"source": "synthetic", "labeled": "30min", "dev_split": "dev"},
                     eval={"bootstrap": 200, "decoders": [DECODER]})
# The baseline's dev grid: (0.5, 1.0) has the lowest dev WER and was chosen.
GRID = [{"alpha": 0.5, "beta": 0.0, "dev_wer": 0.30}, {"alpha": 0.5, "beta": 1.0, "dev_wer": 0.20},
        {"alpha": 1.0, "beta": 0.0, "dev_wer": 0.25}, {"alpha": 1.0, "beta": 1.0, "dev_wer": 0.22}]
PLAN = {"baseline": {"greedy": set(range(N)), "ngram": {0, 1}},
        "labeled=1h": {"greedy": {0, 1, 2, 3}, "ngram": {2, 3, 4}}}


def predictions_text(misses: set[int]) -> str:
    """predictions.jsonl of the 10 utterances, the first word substituted where listed."""
    lines = []
    for i, ref in enumerate(REFERENCES):
        hyp = ("zebra " + ref.split(" ", 1)[1]) if i in misses else ref
        lines.append(json.dumps({"id": f"utt{i:03d}", "speaker": f"spk{i % 2}", "duration": 2.0,
                                 "reference": ref, "hypothesis": hyp}))
    return "\n".join(lines) + "\n"


def decoder_scores(run_dir: Path, misses: set[int], scratch: Path) -> dict:
    """scores.decoders.ngram as the decoding pipeline stores it: predictions.ngram.jsonl scored
    like predictions.jsonl (scored in a scratch dir under that name: the same bytes, the same
    sha256), with what the decoder was and the dev grid it was tuned on."""
    text = predictions_text(misses)
    (run_dir / "predictions.ngram.jsonl").write_text(text, encoding="utf-8")
    scratch.mkdir(parents=True)
    (scratch / "predictions.jsonl").write_text(text, encoding="utf-8")
    scores = score_run_dir(scratch, ["blog", "whisper"], n_boot=200, seed=0)
    shutil.rmtree(scratch)
    scores["predictions"] = {**scores.get("predictions", {}), "file": "predictions.ngram.jsonl"}
    scores["decoder"] = {"name": "ngram", "kind": "ngram", "beam_width": 8, "alpha": 0.5,
                         "beta": 1.0, "lm": {"text": "train", "order": 3, "sentences": 20000}}
    scores["tuning"] = {"grid": GRID, "rule_set": "blog", "dev_utterances": 16}
    return scores


def build_decoder_suite(directory: Path, plan: dict = PLAN, suite_data: dict = SUITE) -> tuple:
    """The suite on disk, each run decoded as `plan` says (ngram None: not decoded by it);
    returns (suite, runs root, records by id)."""
    suite = load_suite(fx.write_suite_file(directory, suite_data))
    runs_root = directory / "runs"
    store = SuiteStore(runs_root / suite.name)
    by_slug = {run.slug: run for run in suite.runs}
    with mock.patch("harness.run.record.hardware", lambda: fx.HARDWARE), \
            mock.patch("harness.run.record.git_state", lambda: fx.GIT):
        for slug, decoded in plan.items():
            run = by_slug[slug]
            run_dir = store.run_dir(run.id)
            run_dir.mkdir(parents=True)
            (run_dir / "predictions.jsonl").write_text(predictions_text(decoded["greedy"]),
                                                       encoding="utf-8")
            scores = score_run_dir(run_dir, ["blog", "whisper"], n_boot=200, seed=0)
            if decoded.get("ngram") is not None:
                scores["decoders"] = {"ngram": decoder_scores(run_dir, decoded["ngram"],
                                                              directory / "scratch")}
            prepared = SimpleNamespace(fingerprint=run.data_key * 6,
                                       report=fx.data_report(run.spec.data.labeled))
            store.put(run_record(suite, run, prepared, status="finished", reason=None,
                                 train=fx.train_summary({"train_seconds": 60.0, "speed": 25.0}),
                                 scores=scores, timings={"train_s": 1.0}))
    return suite, runs_root, store.records_by_id()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The suite, its results and its report text."""
    root = tmp_path_factory.mktemp("decoders")
    suite, runs_root, _ = build_decoder_suite(root)
    path = write_report(suite, runs_root, root / "reports")
    return suite, load_results(suite, runs_root), path.read_text(encoding="utf-8")


def test_a_decoded_view_reads_the_decoders_scores_and_predictions(built):
    """decoded('ngram') reads scores.decoders.ngram and predictions.ngram.jsonl; greedy is the
    run itself; the suite's decoders are greedy then ngram."""
    _, results, _ = built
    baseline = results.baseline
    assert results.decoders == ["greedy", "ngram"]
    assert baseline.decoded("greedy") is baseline
    ngram = baseline.decoded("ngram")
    assert (baseline.rate("blog"), ngram.rate("blog")) == (10 / 40, 2 / 40)
    assert ngram.predictions_path.name == "predictions.ngram.jsonl"
    assert sum(p["hypothesis"].startswith("zebra") for p in ngram.predictions) == 2
    assert ngram.score_notes == []  # stored sha256 matches the file: not rescored
    assert ngram.decoder_entry["alpha"] == 0.5 and ngram.tuning["grid"] == GRID
    view = results.decoded("ngram")
    assert [r.rate("blog") for r in view.runs] == [2 / 40, 3 / 40]
    assert view.decoded("ngram") is view and view.rule_sets == ["blog", "whisper"]


def test_main_table_adds_a_wer_and_delta_column_per_decoder(built):
    """The ngram columns hold 5.00 / 7.50 and Δ +2.50 without `*`; greedy's -15.00 has one."""
    _, results, text = built
    rows = {row["labeled"]: row for row in tables(section(text, "## Results"))[0]}
    headers = list(rows["30min"])
    assert headers[headers.index("CER % whisper") + 1:][:2] == ["WER % blog ngram",
                                                                 "Δ WER blog ngram"]
    assert "WER % whisper ngram" not in headers  # the first rule set only
    base, hour = rows["30min"], rows["1h"]
    assert base["WER % blog"].startswith("25.00") and hour["WER % blog"].startswith("**10.00**")
    assert base["WER % blog ngram"].startswith("**5.00**")
    assert hour["WER % blog ngram"].startswith("7.50")
    assert base["Δ WER blog ngram"] == base["Δ WER blog"] == "baseline"
    assert re.fullmatch(r"-15\.00 \[-\S+, -\S+\] \*", hour["Δ WER blog"])
    assert re.fullmatch(r"\+2\.50 \[-\S+, \d\S*\]", hour["Δ WER blog ngram"])  # holds 0
    assert results_table(results) in text


def test_the_notes_say_what_the_decoder_is_and_what_dev_chose(built):
    """The note names the beam, the LM's order and text, α and β and the grid's size."""
    text = section(built[2], "## Results")
    note = next(line for line in text.splitlines() if line.startswith("- Decoder `ngram`"))
    assert note == (
        "- Decoder `ngram`: prefix beam search (width 8) with a 3-gram LM of the run's training "
        "transcripts. α (LM weight) 0.5 and β (word bonus) 1 chosen for the baseline from a "
        "grid of 4 (α, β) pairs, dev WER under blog, 16 dev utterances; tuned on the dev set "
        "only, never on test.")


def test_the_decoders_section_compares_each_decoder_with_greedy(built):
    """Baseline: greedy 25.00, ngram 5.00, Δ -20.00 `*`; the dev grid with the chosen pair."""
    text = section(built[2], "## Decoders")
    summary, grid = tables(text)
    assert [row["decoder"] for row in summary] == ["greedy", "ngram"]
    greedy, ngram = summary
    assert greedy["WER % blog"].startswith("25.00") and ngram["WER % blog"].startswith("5.00")
    assert greedy["Δ WER blog to greedy"] == ""
    assert re.fullmatch(r"-20\.00 \[-\S+, -\S+\] \*", ngram["Δ WER blog to greedy"])
    assert grid == [{"α": "0.5", "β": "0", "dev WER %": "30.00"},
                    {"α": "**0.5**", "β": "**1**", "dev WER %": "**20.00**"},
                    {"α": "1", "β": "0", "dev WER %": "25.00"},
                    {"α": "1", "β": "1", "dev WER %": "22.00"}]


def test_the_axis_table_carries_the_decoder_columns(built):
    """One axis at a time shows the ngram WER beside greedy's."""
    text = section(built[2], "### `data.labeled`")
    (rows,) = tables(text)
    assert [row["WER % blog ngram"][:4] for row in rows] == ["**5.", "7.50"]


def test_the_labeled_audio_figure_draws_a_line_per_decoder(built):
    """Two lines, labeled greedy and ngram, through each decoder's WERs at 30 min and 1 h."""
    _, results, text = built
    figure, caption = hours_figure(results)
    blog = figure.axes[0]
    lines = {container.get_label(): container.lines[0].get_ydata().tolist()
             for container in blog.containers}
    assert lines == {"greedy": pytest.approx([25.0, 10.0]), "ngram": pytest.approx([5.0, 7.5])}
    xs = [container.lines[0].get_xdata().tolist() for container in blog.containers]
    assert xs[0] == xs[1] and xs[0][0] < xs[0][1]
    assert "A line per decoder." in caption and "Decoders: greedy, ngram" in caption
    legend = [t.get_text() for t in blog.get_legend().get_texts()]
    assert legend.count("baseline") == 1


def test_a_decoder_no_run_has_scores_for_adds_nothing(tmp_path):
    """ngram in eval.decoders but never decoded: no columns, no section, one figure line."""
    plan = {slug: {"greedy": runs["greedy"], "ngram": None} for slug, runs in PLAN.items()}
    suite, runs_root, _ = build_decoder_suite(tmp_path, plan)
    results = load_results(suite, runs_root)
    assert results.decoders == ["greedy"]
    assert results.baseline.decoded("ngram").scored is False
    text = write_report(suite, runs_root, tmp_path / "reports").read_text(encoding="utf-8")
    assert "ngram" not in section(text, "## Results") and "## Decoders" not in text
    figure, _ = hours_figure(results)
    assert [c.get_label() for c in figure.axes[0].containers] == ["labeled audio"]


def test_a_changed_decoder_prediction_file_is_rescored_and_said(tmp_path):
    """Edit predictions.ngram.jsonl after scoring: the report shows its WER from the file."""
    suite, runs_root, _ = build_decoder_suite(tmp_path)
    run_dir = SuiteStore(runs_root / suite.name).run_dir(suite.baseline.id)
    (run_dir / "predictions.ngram.jsonl").write_text(predictions_text({0, 1, 2, 3}), "utf-8")
    results = load_results(suite, runs_root)
    ngram = results.baseline.decoded("ngram")
    assert ngram.rate("blog") == 4 / 40
    assert any("predictions.ngram.jsonl changed since it was scored" in n
               for n in ngram.score_notes)
    text = write_report(suite, runs_root, tmp_path / "reports").read_text(encoding="utf-8")
    assert "predictions.ngram.jsonl changed since it was scored: rescored" in text


def test_the_api_gives_each_decoders_rates(built):
    """harness.api.results has wer[blog.ngram] beside wer[blog] (the stored rates)."""
    from harness.api import results as api_results

    suite, results, _ = built
    frame = api_results(suite.path, results.store.root.parent)
    assert frame["wer[blog]"].tolist() == [10 / 40, 4 / 40]
    assert frame["wer[blog.ngram]"].tolist() == [2 / 40, 3 / 40]
    assert "wer[whisper.ngram]" in frame.columns


SEEDED = dict(SUITE, seeds=[0, 1])
# Seed 1 repeats seed 0's decodings: the baseline's ngram fixes 8 utterances for both seeds.
SEEDED_PLAN = {**PLAN, "baseline,seed=1": PLAN["baseline"],
               "labeled=1h,seed=1": PLAN["labeled=1h"]}


def test_with_seeds_the_decoders_section_pairs_by_seed_and_utterance(tmp_path):
    """Two seeds: the baseline's ngram - greedy is -20.00 over both, its test two-level."""
    suite, runs_root, _ = build_decoder_suite(tmp_path, SEEDED_PLAN, SEEDED)
    text = write_report(suite, runs_root, tmp_path / "reports").read_text(encoding="utf-8")
    decoders = section(text, "## Decoders")
    assert "paired by utterance and training seed" in decoders
    ngram = tables(decoders)[0][1]
    assert ngram["WER % blog"].startswith("5.00 ±0.00 (5.00-5.00)")
    assert re.fullmatch(r"-20\.00 \[-\S+, -\S+\] \*", ngram["Δ WER blog to greedy"])
