"""Reports: tables hold the fixture's numbers; failed runs, figures, no torch, determinism."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.cli.report import add_arguments, run_report
from harness.config.load import load_suite
from harness.errors import UserError
from harness.report import write_report
from harness.report.examples import aligned_lines
from harness.report.figures import hours_lines
from harness.report.load import load_results
from harness.run.store import SuiteStore
from harness.scoring.counts import align
from tests import report_fixtures as fx

REPO = Path(__file__).resolve().parent.parent
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The fixture suite on disk and its report: (suite, runs root, report path, report text)."""
    root = tmp_path_factory.mktemp("report")
    suite, runs_root = fx.build_finished_suite(root)
    path = write_report(suite, runs_root, root / "reports")
    return suite, runs_root, path, path.read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    """The markdown from `heading` up to the next heading of the same or a higher level."""
    level = heading.split(" ")[0]
    start = text.index(heading + "\n")
    rest = text[start + len(heading):]
    pattern = "^#{1," + str(len(level)) + "} "
    ends = [m.start() for m in re.finditer(pattern, rest, flags=re.M)]
    return rest[: ends[0]] if ends else rest


def tables(text: str) -> list[list[dict[str, str]]]:
    """Every markdown table in text as rows of header -> cell (unescaped, stripped)."""
    found, block = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            block.append(line)
            continue
        if block:
            cells = [[c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", row)[1:-1]]
                     for row in block]
            found.append([dict(zip(cells[0], row, strict=True)) for row in cells[2:]])
            block = []
    return found


def main_rows(text: str) -> dict[str, dict[str, str]]:
    """Rows of the main table keyed by 'labeled,lr,freeze'."""
    rows = tables(section(text, "## Results"))[0]
    return {f"{r['labeled']},{r['lr']},{r['freeze']}": r for r in rows}


def record_of(runs_root: Path, suite, slug: str) -> dict:
    run_id = next(run.id for run in suite.runs if run.slug == slug)
    return SuiteStore(runs_root / suite.name).records_by_id()[run_id]


def test_main_table_holds_the_fixture_numbers(built):
    """WER/CER cells, intervals and training figures are the stored ones; best values in bold."""
    suite, runs_root, _, text = built
    rows = main_rows(text)
    assert len(rows) == len(suite.runs) == 6
    base, small, big = rows["30min,1e-3,feature_encoder"], rows["10min,1e-3,feature_encoder"], \
        rows["1h,1e-3,feature_encoder"]
    flagged = rows["30min,3e-3,feature_encoder"]
    # Hand-computed: 16, 144 and 24 word errors over 384 reference words.
    assert base["WER % blog"].startswith("**4.17** [")
    assert big["WER % blog"].startswith("**4.17** [")  # equal to the baseline: both best
    assert small["WER % blog"].startswith("37.50 [")
    assert flagged["WER % blog"].startswith("6.25 [")
    for slug, row in (("baseline", base), ("labeled=10min", small), ("lr=3e-3", flagged)):
        entry = record_of(runs_root, suite, slug)["scores"]["rule_sets"]["blog"]
        assert entry["wer"] == pytest.approx(fx.EXPECTED_WER[slug])
        interval = entry["wer_interval"]
        assert row["WER % blog"].endswith(
            f"[{100 * interval['low']:.2f}, {100 * interval['high']:.2f}]")
        assert row["CER % blog"].replace("**", "").startswith(f"{100 * entry['cer']:.2f} [")
        whisper = record_of(runs_root, suite, slug)["scores"]["rule_sets"]["whisper"]
        assert row["WER % whisper"].replace("**", "").startswith(f"{100 * whisper['wer']:.2f}")
    assert [base["steps"], base["train min"], base["audio s/s"]] == ["100", "2.0", "25.0"]
    assert [small["train min"], small["audio s/s"]] == ["**1.0**", "**30.0**"]
    assert big["train min"] == "4.0"
    assert base["status"] == "finished" and flagged["status"] == "flagged"


def test_significance_mark_only_where_the_difference_is_clear(built):
    """10min (37.5% vs 4.2%) is marked; 1h (identical hypotheses) is +0.00 without a mark."""
    _, _, _, text = built
    rows = main_rows(text)
    small = rows["10min,1e-3,feature_encoder"]["Δ WER blog"]
    same = rows["1h,1e-3,feature_encoder"]["Δ WER blog"]
    assert small.startswith("+33.33 [") and small.endswith(" *")
    assert same == "**+0.00** [0.00, 0.00]"
    assert rows["30min,1e-3,feature_encoder"]["Δ WER blog"] == "baseline"
    assert "`*` marks a difference whose interval excludes 0" in section(text, "## Results")


def test_failed_flagged_and_missing_runs_show_with_their_reason(built):
    """The failed run shows its reason, the flagged its flag, the unrecorded one 'not run'."""
    _, _, _, text = built
    rows = {row["run"]: row for row in tables(section(text, "## Failed and flagged runs"))[0]}
    assert rows["lr=3e-4"]["status"] == "failed"
    assert rows["lr=3e-4"]["reason"] == fx.FAILED_REASON  # its '|' escaped, not a new cell
    assert rows["lr=3e-3"]["status"] == "flagged"
    assert rows["lr=3e-3"]["reason"] == f"empty_hypotheses: {fx.FLAG['message']}"
    assert rows["freeze=none"]["status"] == "not run"
    assert f"interrupted after step {fx.NOT_RUN_LAST_STEP}" in rows["freeze=none"]["reason"]
    main = main_rows(text)
    assert main["30min,3e-4,feature_encoder"]["status"] == "failed"
    assert main["30min,1e-3,none"]["status"] == "not run"


def test_one_table_per_axis(built):
    """one_at_a_time: each axis's table holds the baseline and that axis's variants only."""
    _, _, _, text = built
    axes = section(text, "## One axis at a time")
    lr = tables(section(axes, "### `train.lr`"))[0]
    assert [(r["lr"], r["status"]) for r in lr] == [
        ("1e-3", "finished"), ("3e-4", "failed"), ("3e-3", "flagged")]
    labeled = tables(section(axes, "### `data.labeled`"))[0]
    assert [r["labeled"] for r in labeled] == ["30min", "10min", "1h"]
    assert labeled[1]["Δ WER blog"].endswith(" *")
    freeze = tables(section(axes, "### `train.freeze`"))[0]
    assert [(r["freeze"], r["status"]) for r in freeze] == [
        ("feature_encoder", "finished"), ("none", "not run")]


def test_header_names_the_sources_of_the_numbers(built):
    """Question, command, date of the newest record, version, git sha, hardware, model, data."""
    _, _, _, text = built
    head = text.split("## Results")[0]
    assert fx.QUESTION in head
    assert f"`{fx.COMMAND}`" in head
    assert "2024-05-02 09:30 +0000" in head  # the newest recorded_at, not the clock
    assert "git 0123456789 with uncommitted changes" in head
    assert "1 x NVIDIA H100 80GB HBM3 (79.2 GiB), 16 CPU cores" in head
    assert "preset `tiny`" in head
    assert "synthetic espeak-ng corpus (fixture)" in head
    assert "3 finished, 1 flagged, 1 failed, 1 not run" in head


def test_data_section_per_prepared_dataset(built):
    """Each distinct dataset with its sizes; skipped utterances by reason; OOV test characters."""
    suite, _, _, text = built
    data = section(text, "## Data")
    overview, splits, skipped = tables(data)
    assert [row["dataset"] for row in overview] == suite.data_keys()
    assert all(row["test characters not in the vocabulary"] == "'é' x2" for row in overview)
    labeled = {row["dataset"]: row for row in splits if row["split"].startswith("labeled")}
    by_slug = {run.slug: run.data_key for run in suite.runs}
    assert labeled[by_slug["labeled=10min"]]["hours"] == str(
        fx.data_report(600.0)["labeled"]["hours"])
    assert {(row["reason"], row["count"]) for row in skipped} == {
        ("empty_transcript", "2"), ("shorter_than_receptive_field", "3")}


def test_figures_are_written_linked_and_non_empty(built):
    """Every linked figure exists next to the report as a non-empty PNG; all three are there."""
    _, _, path, text = built
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert sorted(Path(link).name for link in links) == [
        "loss_curves.png", "wer_per_axis.png", "wer_vs_labeled_hours.png"]
    for link in links:
        assert not Path(link).is_absolute()
        figure = path.parent / link
        data = figure.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 5000, link


def test_best_run_errors_and_aligned_examples(built):
    """The best run (baseline, tied with 1h, first in order) shows cat->bat x16 and alignments."""
    _, _, _, text = built
    best = section(text, "## Best run: baseline")
    errors = tables(section(best, "### Most frequent word errors"))[0]
    assert errors == [{"kind": "substitution", "reference": "cat", "hypothesis": "bat",
                       "count": "16"}]
    blocks = re.findall(r"```text\n(.*?)```", best, flags=re.S)
    assert len(blocks) == 5
    for block in blocks:
        ref, hyp, marks = [line for line in block.splitlines()
                           if line.startswith(("REF:", "HYP:", "    "))][:3]
        column = hyp.index(" bat") + 1
        assert ref[column:column + 3] == "cat" and marks[column] == "S"


def test_report_imports_no_torch_and_reads_only_stored_files(built, tmp_path):
    """A fresh interpreter writes the report without importing torch, transformers or datasets."""
    suite, runs_root, _, _ = built
    code = (
        "import sys, json\n"
        "from pathlib import Path\n"
        "from harness.report import write_report\n"
        "from harness.config.load import load_suite\n"
        "path = write_report(load_suite(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))\n"
        "heavy = [m for m in ('torch', 'transformers', 'datasets', 'accelerate') "
        "if m in sys.modules]\n"
        "print(json.dumps({'path': str(path), 'heavy': heavy}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(suite.path), str(runs_root),
                           str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []
    assert Path(result["path"]).is_file()


def test_report_is_deterministic(built, tmp_path):
    """Rendering the same results again gives the same markdown and the same PNG bytes."""
    suite, runs_root, path, text = built
    again = write_report(suite, runs_root, tmp_path)
    assert again.read_text(encoding="utf-8") == text
    for figure in sorted((path.parent / suite.name).glob("*.png")):
        assert (tmp_path / suite.name / figure.name).read_bytes() == figure.read_bytes()


def test_expectations_section_when_given(built, tmp_path):
    """Expectations given to write_report appear as a table of expectation, status, measured."""
    suite, runs_root, _, _ = built
    rows = [{"expectation": "10min is worse than 30min", "status": "met",
             "measured": "+33.33 pp"}]
    text = write_report(suite, runs_root, tmp_path, expectations=rows).read_text()
    assert tables(section(text, "## Expectations"))[0] == rows


def test_cli_prints_the_report_path(built, tmp_path, capsys):
    """`harness report FILE --runs-dir --reports-dir` writes the report and prints its path."""
    suite, runs_root, _, _ = built
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([str(suite.path), "--runs-dir", str(runs_root),
                              "--reports-dir", str(tmp_path)])
    assert run_report(args) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / f"{suite.name}.md")


def test_suite_without_results_is_a_user_error(tmp_path):
    """No results.jsonl yet: a UserError telling the user to run the suite first."""
    suite = load_suite(fx.write_suite_file(tmp_path))
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([str(suite.path), "--runs-dir", str(tmp_path / "runs"),
                              "--reports-dir", str(tmp_path / "reports")])
    with pytest.raises(UserError, match="no results yet.*harness run"):
        run_report(args)
    assert not (tmp_path / "reports").exists()


def test_grid_draws_a_line_per_learning_rate(tmp_path):
    """In a grid of labeled audio x lr, WER against hours has one line per lr, sorted by hours."""
    grid = {**fx.SUITE, "suite": "grid", "mode": "grid",
            "axes": {"data.labeled": ["30min", "10min"], "train.lr": ["1e-3", "3e-3"]}}
    plan = {"baseline": fx.PLAN["baseline"], "labeled=10min": fx.PLAN["labeled=10min"],
            "lr=3e-3": fx.PLAN["lr=3e-3"],
            "labeled=10min,lr=3e-3": fx.PLAN["labeled=10min"]}
    suite, runs_root = fx.build_finished_suite(tmp_path, grid, plan, not_run_slug=None)
    drawn = hours_lines(load_results(suite, runs_root))
    assert drawn.line_keys == ["train.lr"]
    assert {lr: [m.run.slug for m in members] for (lr,), members in drawn.lines.items()} == {
        "1e-3": ["labeled=10min", "baseline"],
        "3e-3": ["labeled=10min,lr=3e-3", "lr=3e-3"]}
    text = write_report(suite, runs_root, tmp_path / "reports").read_text()
    assert "A line per `train.lr`" in text
    assert "## One axis at a time" not in text


@settings(max_examples=60, deadline=None)
@given(ref=st.lists(st.sampled_from(["a", "cat", "sat", "on", "the"]), min_size=0, max_size=8),
       hyp=st.lists(st.sampled_from(["a", "bat", "sat", "in", "the"]), min_size=0, max_size=8))
def test_aligned_lines_spell_out_both_texts(ref, hyp):
    """Dropping the *** gaps from the REF and HYP lines gives back the two word sequences."""
    alignment = align([" ".join(ref)], [" ".join(hyp)], "word")
    lines = aligned_lines(alignment.tokens_ref[0], alignment.tokens_hyp[0], alignment.chunks[0])
    ref_line, hyp_line, marks = lines.split("\n")
    assert [w for w in ref_line.split()[1:] if set(w) != {"*"}] == ref
    assert [w for w in hyp_line.split()[1:] if set(w) != {"*"}] == hyp
    counts = alignment.counts
    assert marks.count("S") == counts.substitutions[0]
    assert marks.count("D") == counts.deletions[0]
    assert marks.count("I") == counts.insertions[0]
