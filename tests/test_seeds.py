"""Training seeds as a suite dimension: replicas in the plan, two-level intervals, paired tests
by seed, the report's mean ± sd (min-max) cells, and expectations over seeds."""

from __future__ import annotations

import pytest
import yaml

from harness.config.load import load_suite
from harness.config.suite import SpecError
from harness.expect.check import PASSED, check_suite
from harness.report.render import write_report
from harness.scoring import paired_over_seeds, score_predictions, seed_rates
from harness.scoring.paired import PairedSettings
from tests import report_fixtures as fx
from tests.strategies import minimal_suite

SEEDED = {**fx.SUITE, "suite": "seeded",
          "seeds": {"values": [0, 1, 2], "axes": ["data.labeled"]},
          "expect": ["wer[baseline] < wer[labeled=10min] significantly",
                     "wer[labeled=10min] > 37%"]}
# baseline: 16, 24, 12 substitutions of 384 words over seeds 0, 1, 2; 10 min: 144 on every seed;
# 1h: seed 0 only; lr=3e-3 is not replicated (only data.labeled is).
SEEDED_PLAN = {
    "baseline": fx.PLAN["baseline"],
    "baseline,seed=1": {**fx.PLAN["baseline"], "errors": "sub_every_2nd"},
    "baseline,seed=2": {**fx.PLAN["baseline"], "errors": "sub_every_4th"},
    "labeled=10min": fx.PLAN["labeled=10min"],
    "labeled=10min,seed=1": fx.PLAN["labeled=10min"],
    "labeled=10min,seed=2": fx.PLAN["labeled=10min"],
    "labeled=1h": fx.PLAN["labeled=1h"],
    "lr=3e-3": fx.PLAN["lr=3e-3"],
}


def write(tmp_path, data: dict, header: str = "") -> object:
    path = tmp_path / "suite.yaml"
    path.write_text(header + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


# --- the suite key -------------------------------------------------------------------------


def test_seeds_replicate_every_run_and_seed_0_keeps_the_unreplicated_id(tmp_path):
    """seeds: [0, 1] trains each run twice; the seed-0 replica is the run the suite had before."""
    plain = load_suite(write(tmp_path, minimal_suite({"train.lr": ["1e-3", "3e-3"]})))
    seeded = load_suite(write(tmp_path, minimal_suite({"train.lr": ["1e-3", "3e-3"]})
                              | {"seeds": [0, 1]}))
    assert [run.slug for run in seeded.runs] == ["baseline", "lr=3e-3", "baseline,seed=1",
                                                 "lr=3e-3,seed=1"]
    assert [run.spec.train.seed for run in seeded.runs] == [0, 0, 1, 1]
    assert [run.id for run in seeded.runs[:2]] == [run.id for run in plain.runs]
    assert len({run.id for run in seeded.runs}) == 4
    assert list(seeded.settings()) == ["baseline", "lr=3e-3"]
    assert seeded.seeds == (0, 1)


def test_seeds_limited_to_an_axis_leave_other_runs_single(tmp_path):
    """axes: [train.lr] replicates the baseline and the lr runs, not the freeze run."""
    data = minimal_suite({"train.lr": ["1e-3", "3e-3"], "train.freeze": ["feature_encoder",
                                                                         "none"]})
    suite = load_suite(write(tmp_path, data | {"seeds": {"values": [0, 5],
                                                         "axes": ["train.lr"]}}))
    assert {name: [run.spec.train.seed for run in runs]
            for name, runs in suite.settings().items()} == {
        "baseline": [0, 5], "lr=3e-3": [0, 5], "freeze=none": [0]}


def test_the_plan_lists_each_replica_with_its_seed(tmp_path, capsys):
    """harness plan shows every replica, its training seed, and how many settings are seeded."""
    from harness.cli import main

    path = write(tmp_path, minimal_suite({"train.lr": ["1e-3", "3e-3"]}) | {"seeds": [0, 1, 2]})
    assert main(["plan", str(path)]) == 0
    out = capsys.readouterr().out
    assert "6 runs" in out and "2 settings, 2 of them replicated over training seeds 0, 1, 2" in out
    assert "lr=3e-3,seed=2" in out and "train.seed" in out


@pytest.mark.parametrize(
    ("seeds", "message"),
    [
        ("[0, 1, 1]", "seeds: seed 1 is given twice; each seed trains once"),
        ("[0, -1]", "seeds: -1 is not a seed: seeds are whole numbers >= 0"),
        ("[]", "seeds: must be a non-empty list of training seeds"),
        ("{vals: [0, 1]}", "seeds.vals: unknown key 'vals' (did you mean 'values'?)"),
        ("{values: [0, 1], axes: [train.learning_rat]}",
         "seeds.axes: 'train.learning_rat' is not one of the suite's axes (did you mean "
         "'train.lr'?)"),
    ],
)
def test_a_bad_seeds_key_names_file_line_and_field(tmp_path, seeds, message):
    """Each mistake in seeds: is one problem, at the seeds: line of the file."""
    text = yaml.safe_dump(minimal_suite({"train.lr": ["1e-3", "3e-3"]}), sort_keys=False)
    path = tmp_path / "suite.yaml"
    path.write_text(text + f"seeds: {seeds}\n", encoding="utf-8")
    with pytest.raises(SpecError) as error:
        load_suite(path)
    number = len(text.splitlines()) + 1
    assert len(error.value.problems) == 1
    assert error.value.problems[0].startswith(f"{path}:{number}: {message}")


def test_seeds_and_a_train_seed_axis_are_one_mistake_named_at_the_axis(tmp_path):
    """train.seed as an axis next to seeds: would replicate twice over; it is refused."""
    data = minimal_suite({"train.seed": [0, 1]}) | {"seeds": [0, 1]}
    with pytest.raises(SpecError, match=r"axes\.train\.seed: train\.seed is an axis and seeds:"):
        load_suite(write(tmp_path, data))


# --- the two-level bootstrap ---------------------------------------------------------------


def records(hypotheses: list[str], references: list[str]) -> list[dict]:
    return [{"id": f"u{i}", "speaker": "s", "duration": 1.0, "reference": ref, "hypothesis": hyp}
            for i, (ref, hyp) in enumerate(zip(references, hypotheses, strict=True))]


def test_one_seed_is_the_utterance_bootstrap_exactly():
    """With one replica the two-level interval is score_predictions' interval, bit for bit."""
    refs = fx.references()
    run = records([fx.hypothesis(r, i, "sub_every_3rd") for i, r in enumerate(refs)], refs)
    single = score_predictions(run, ["blog"], n_boot=300, seed=4)["rule_sets"]["blog"]
    seeded = seed_rates([run], "blog", "wer", n_boot=300, seed=4)
    assert seeded["interval"] == single["wer_interval"]
    assert seeded["mean"] == 16 / 384 and seeded["sd"] is None and seeded["seeds"] == 1


def test_identical_replicas_add_no_seed_noise():
    """Three identical replicas: any draw of seeds averages to the same rate, so the interval
    is the one-seed interval (units are drawn first, from the same generator)."""
    refs = fx.references()
    run = records([fx.hypothesis(r, i, "sub_every_3rd") for i, r in enumerate(refs)], refs)
    assert (seed_rates([run, run, run], "blog", n_boot=300, seed=4)["interval"]
            == seed_rates([run], "blog", n_boot=300, seed=4)["interval"])


def test_seed_noise_alone_spans_the_seeds_rates():
    """One utterance (no test-set noise): seeds scoring 0% and 100% give mean 50%, sd 70.71%,
    and an interval from 0% to 100% (a quarter of the draws pick the same seed twice)."""
    right, wrong = records(["a b"], ["a b"]), records(["x y"], ["a b"])
    seeded = seed_rates([right, wrong], "none", "wer", n_boot=1000, seed=0)
    assert seeded["mean"] == 0.5 and seeded["per_seed"] == [0.0, 1.0]
    assert seeded["sd"] == pytest.approx(0.7071068, abs=1e-6)
    assert (seeded["interval"]["low"], seeded["interval"]["high"]) == (0.0, 1.0)


def test_a_difference_pairs_replicas_by_seed():
    """b - a over two seed pairs is the mean of the per-seed differences: (1 - 0 + 1 - 1) / 2."""
    right, wrong = records(["a b"], ["a b"]), records(["x y"], ["a b"])
    paired = paired_over_seeds([(right, wrong), (wrong, wrong)], "none", n_boot=200, seed=0)
    assert paired["difference"] == 0.5 and paired["seeds"] == 2
    assert (paired["interval"]["low"], paired["interval"]["high"]) == (0.0, 1.0)


def test_the_bootstrap_seed_is_not_the_training_seed(tmp_path):
    """Runs of one suite that differ in train.seed resample with the same eval.bootstrap_seed."""
    data = minimal_suite({"train.lr": ["1e-3"]}) | {"seeds": [0, 7]}
    data["base"]["eval"] = {"bootstrap_seed": 3}
    suite = load_suite(write(tmp_path, data))
    assert {PairedSettings.of(run.spec).seed for run in suite.runs} == {3}
    assert [run.spec.train.seed for run in suite.runs] == [0, 7]


# --- the report and expect: over seeds -----------------------------------------------------


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    directory = tmp_path_factory.mktemp("seeded")
    return fx.build_finished_suite(directory, SEEDED, SEEDED_PLAN, not_run_slug=None)


def row_of(text: str, first_cell: str) -> list[str]:
    """The cells of the first markdown table row whose first cell is `first_cell`."""
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r}")


def test_report_cells_are_means_over_seeds_with_spread_and_paired_deltas(seeded, tmp_path):
    """Hand-computed: baseline (16, 24, 12)/384 -> 4.51 ±1.59 (3.12-6.25); 10 min 37.50 on all
    three seeds; Δ = mean of 128, 120, 132 /384 = +32.99, significant; 1h has 1 of 3 seeds."""
    suite, runs_root = seeded
    text = write_report(suite, runs_root, tmp_path / "reports").read_text(encoding="utf-8")
    table = text.split("## Results", 1)[1].split("##", 1)[0]
    baseline, ten, hour = (row_of(table, value) for value in ("30min", "10min", "1h"))
    header = row_of(table, "labeled")
    seeds, wer, delta = (header.index(name) for name in ("seeds", "WER % blog", "Δ WER blog"))
    assert baseline[seeds] == ten[seeds] == hour[seeds] == "3"
    assert row_of(table, "30min")[header.index("lr")] == "1e-3"
    assert baseline[wer].startswith("4.51 ±1.59 (3.12-6.25) [")
    # every utterance has 3 of its 8 words wrong: no resample of utterances moves the rate
    assert ten[wer] == "37.50 ±0.00 (37.50-37.50) [37.50, 37.50]"
    assert ten[delta].startswith("+32.99 [") and ten[delta].endswith(" *")
    assert hour[wer].startswith("**4.17** (1 of 3 seeds) [")
    assert "two-level bootstrap (seeds resampled, then test utterances)" in text
    assert "utterance bootstrap): labeled=1h, lr=3e-3." in text  # Δ over seed 0 only


def test_expectations_use_the_mean_and_the_seed_paired_test(seeded):
    """significantly pairs the three seeds; the 10 min value is the mean over its seeds."""
    suite, runs_root = seeded
    rows = {row["expectation"]: row for row in check_suite(suite, runs_root)}
    significant = rows["wer[baseline] < wer[labeled=10min] significantly"]
    assert significant["status"] == PASSED
    assert "baseline 0.0451 vs labeled=10min 0.3750" in significant["measured"]
    assert "over 3 seed pairs and utterances" in significant["measured"]
    assert rows["wer[labeled=10min] > 37%"]["status"] == PASSED


def test_a_missing_seed_leaves_the_setting_unmeasured(tmp_path):
    """A mean over the seeds that happen to be done would move as others finish: error."""
    plan = {slug: p for slug, p in SEEDED_PLAN.items() if slug != "labeled=10min,seed=2"}
    suite, runs_root = fx.build_finished_suite(tmp_path, SEEDED, plan, not_run_slug=None)
    rows = {row["expectation"]: row for row in check_suite(suite, runs_root)}
    row = rows["wer[labeled=10min] > 37%"]
    assert row["status"] == "error" and "seed 2: not run yet" in row["measured"]


def test_the_default_suite_replicates_labeled_audio_and_compares_with_scratch():
    """ablations/default.yaml: baseline and the labeled runs over seeds 0-2, the from-scratch
    run once, and its expectations name them (10 min with its three replicas)."""
    from tests.test_spec import ABLATIONS_DIR

    suite = load_suite(ABLATIONS_DIR / "default.yaml")
    groups = suite.settings()
    assert [len(groups[name]) for name in ("baseline", "labeled=10min", "labeled=30min")] == [
        3, 3, 3]
    scratch = groups["labeled=10min,init=random"]
    assert len(scratch) == 1 and scratch[0].spec.model.init == "random"
    assert scratch[0].spec.data.labeled == 600.0
    by_text = {e.text: e for e in suite.expectations}
    significant = by_text["wer[baseline] < wer[labeled=10min] significantly"]
    assert [seed for seed, _ in significant.right.runs[0].replicas] == [0, 1, 2]
    versus = by_text["cer[labeled=10min,init=random] > cer[labeled=10min] significantly"]
    assert [run.slug for run in versus.left.runs] == ["labeled=10min,init=random"]
