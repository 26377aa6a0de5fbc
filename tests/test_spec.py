"""Suite files: expansion, run ids, round trips and every error message a user can hit."""

from __future__ import annotations

import math
import random
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.config.load import load_suite
from harness.config.settings import RunSpec, field_paths
from harness.config.suite import SpecError
from tests.strategies import minimal_suite, suite_axes

ABLATIONS_DIR = Path(__file__).parent.parent / "ablations"
ABLATIONS = sorted(ABLATIONS_DIR.glob("*.yaml"))


def write_suite(data: dict | str, directory: Path | None = None, name: str = "suite.yaml") -> Path:
    """Write a suite mapping (or raw text) to a YAML file and return its path."""
    directory = directory or Path(tempfile.mkdtemp())
    path = directory / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def problems_of(data: dict | str, directory: Path | None = None) -> list[str]:
    """The problems load_suite reports for a suite (fails if it reports none)."""
    with pytest.raises(SpecError) as caught:
        load_suite(write_suite(data, directory))
    return caught.value.problems


# --- properties -------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(axes=suite_axes())
def test_grid_size_is_product_of_axis_lengths(axes):
    """A grid suite has exactly one run per combination of axis values."""
    suite = load_suite(write_suite(minimal_suite(axes, mode="grid")))
    assert len(suite.runs) == math.prod(len(values) for values in axes.values())


@settings(max_examples=40, deadline=None)
@given(axes=suite_axes())
def test_one_at_a_time_size(axes):
    """A one-at-a-time suite has the baseline plus one run per non-baseline axis value."""
    suite = load_suite(write_suite(minimal_suite(axes)))
    assert len(suite.runs) == 1 + sum(len(values) - 1 for values in axes.values())


@settings(max_examples=30, deadline=None)
@given(axes=suite_axes(), mode=st.sampled_from(["grid", "one_at_a_time"]), seed=st.integers(0, 99))
def test_ids_unique_deterministic_and_key_order_free(axes, mode, seed):
    """Run ids are unique within a suite, the same on reload, and blind to key order."""
    data = minimal_suite(axes, mode=mode)
    first = load_suite(write_suite(data))
    again = load_suite(write_suite(data))
    ids = [run.id for run in first.runs]
    assert len(set(ids)) == len(ids)
    assert ids == [run.id for run in again.runs]
    shuffled = _shuffled(data, random.Random(seed))
    assert {run.id for run in load_suite(write_suite(shuffled)).runs} == set(ids)


def _shuffled(value, rng: random.Random):
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {key: _shuffled(item, rng) if key != "axes" else item for key, item in items}
    return value


def test_id_ignores_formatting_of_equal_values():
    """'10min' and '600s', '3e-4' and 0.0003 give the same run id."""
    a = minimal_suite({"data.labeled": ["10min"], "train.lr": ["3e-4"]})
    b = minimal_suite({"data.labeled": ["600s"], "train.lr": [0.0003]})
    assert load_suite(write_suite(a)).baseline.id == load_suite(write_suite(b)).baseline.id


def test_id_ignores_settings_that_cannot_change_results():
    """Logging cadence and scoring rule sets do not change the run id; the lr does."""
    base = minimal_suite({"train.lr": ["1e-3"]})
    chatty = minimal_suite({"train.lr": ["1e-3"]})
    chatty["base"]["train"]["log_every"] = 1
    other_lr = minimal_suite({"train.lr": ["2e-3"]})
    ids = [load_suite(write_suite(d)).baseline.id for d in (base, chatty, other_lr)]
    assert ids[0] == ids[1] != ids[2]


def test_id_follows_the_weights_of_a_local_checkpoint(tmp_path):
    """A checkpoint rebuilt in place gets new run ids (its old results must not be reused); the
    same bytes written again, or a changed model card, keep them; a hub name has no files."""
    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text("{}")
    (checkpoint / "model.safetensors").write_bytes(b"weights one")
    suite = minimal_suite({"train.lr": ["1e-3"]})
    suite["base"]["model"] = {"name_or_path": str(checkpoint)}

    def baseline_id():
        return load_suite(write_suite(suite, tmp_path)).baseline.id

    first = baseline_id()
    (checkpoint / "model.safetensors").write_bytes(b"weights one")
    (checkpoint / "README.md").write_text("a new model card")
    assert baseline_id() == first
    (checkpoint / "model.safetensors").write_bytes(b"weights two")
    second = baseline_id()
    assert second != first
    suite["base"]["model"] = {"name_or_path": "facebook/wav2vec2-base"}
    assert baseline_id() not in (first, second)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(axes=suite_axes(), mode=st.sampled_from(["grid", "one_at_a_time"]))
def test_spec_dict_spec_round_trip(axes, mode):
    """Every run spec survives spec -> dict -> spec unchanged."""
    for run in load_suite(write_suite(minimal_suite(axes, mode=mode))).runs:
        dumped = run.spec.model_dump(mode="json", by_alias=True)
        assert RunSpec.model_validate(dumped) == run.spec


BAD_VALUES = [{"nested": 1}, "not-a-value", [1, 2], -7]


@settings(max_examples=60, deadline=None)
@given(key=st.sampled_from(sorted(field_paths())), bad=st.sampled_from(BAD_VALUES),
       typo=st.booleans())
def test_corrupted_spec_names_the_corrupted_key(key, bad, typo):
    """Corrupting one setting (wrong value or misspelt key) yields a SpecError naming it."""
    data = minimal_suite({"train.lr": ["1e-3"]})
    *parents, leaf = key.split(".")
    node = data["base"]
    for part in parents:
        node = node.setdefault(part, {})
    if typo:
        node[leaf + "x"] = node.pop(leaf, 1)
        expected = leaf + "x"
    else:
        node[leaf] = bad
        expected = f"base.{key}"
    try:
        load_suite(write_suite(data))
    except SpecError as error:
        section = "base." + ".".join(parents)
        # Constraints between settings (exactly one of two) are reported on their section and
        # name the setting in the message.
        assert expected in str(error) or (f"{section}: " in str(error) and leaf in str(error))
    else:
        # A few settings accept any of these values (a free string, a dict of columns):
        # then the corruption was not one, and the spec must still be valid and typed.
        assert not typo
        assert isinstance(bad, (str, dict))


# --- examples of every message ----------------------------------------------------------------


def test_typo_key_suggests_the_closest(tmp_path):
    """A misspelt key is named with its file, line and the closest known key."""
    text = ("suite: s\nbase:\n  model: {preset: tiny}\n  train:\n    lr: 1e-3\n"
            "    max_step: 10\n")
    problems = problems_of(text, tmp_path)
    assert len(problems) == 1
    where = f"{tmp_path / 'suite.yaml'}:6"
    assert f"{where}: base.train.max_step: unknown key 'max_step'" in problems[0]
    assert "did you mean 'max_steps'?" in problems[0]


def test_all_problems_reported_together(tmp_path):
    """Every problem of a file is reported in one go, each with its dotted key."""
    text = """suite: s
mode: sideways
base:
  model: {preset: huge}
  train: {lr: fast, max_steps: 10, freeze: sometimes}
  data: {labeled: 10 minutes}
axes:
  train.lrr: [1e-3]
  train.seed: []
  train.log_every: [1, 2]
"""
    joined = "\n".join(problems_of(text, tmp_path))
    for fragment in ["mode: unknown mode 'sideways'", "base.model.preset", "base.train.lr",
                     "base.train.freeze: unknown freezing policy 'sometimes'",
                     "base.data.labeled: cannot read '10 minutes' as a duration",
                     "axes.train.lrr: no such setting 'train.lrr' (did you mean 'train.lr'?)",
                     "axes.train.seed: an axis needs at least one value",
                     "axes.train.log_every: does not change results"]:
        assert fragment in joined


def test_bad_axis_value_names_axis_and_index(tmp_path):
    """A bad value inside an axis is reported at axes.<key>[index]."""
    data = minimal_suite({"data.labeled": ["10min", "ten minutes"]})
    problems = problems_of(data, tmp_path)
    assert len(problems) == 1 and "axes.data.labeled[1]" in problems[0]


def test_baseline_must_be_an_axis_value(tmp_path):
    """`baseline:` may only pick a value that its axis lists."""
    data = minimal_suite({"train.lr": ["1e-3", "3e-4"]})
    data["baseline"] = {"train.lr": "5e-4", "train.seed": 1}
    joined = "\n".join(problems_of(data, tmp_path))
    assert "baseline.train.lr: '5e-4' is not among the axis values" in joined
    assert "baseline.train.seed: 'train.seed' is not one of the axes" in joined


def test_baseline_choice_reorders_runs(tmp_path):
    """The baseline takes the named axis value and the other values become single changes."""
    data = minimal_suite({"train.lr": ["1e-3", "3e-4", "3e-3"]})
    data["baseline"] = {"train.lr": "3e-4"}
    suite = load_suite(write_suite(data, tmp_path))
    assert suite.baseline.spec.train.lr == pytest.approx(3e-4)
    assert [run.slug for run in suite.runs] == ["baseline", "lr=1e-3", "lr=3e-3"]


def test_same_value_written_twice_is_an_error(tmp_path):
    """Two axis values that parse to the same setting would be the same run: an error."""
    problems = problems_of(minimal_suite({"data.labeled": ["10min", "600s"]}), tmp_path)
    assert any("same settings written two ways" in problem for problem in problems)


def test_missing_required_and_exclusive_settings(tmp_path):
    """A missing section, and settings that exclude each other, are named."""
    text = "suite: s\nbase:\n  model: {preset: tiny, name_or_path: x}\n"
    joined = "\n".join(problems_of(text, tmp_path))
    assert "base.model: give exactly one of model.name_or_path and model.preset" in joined
    assert "base.train: required setting is missing" in joined


def test_unknown_rule_set_lists_available(tmp_path):
    """An unknown text rule set is an error that lists the available ones."""
    data = minimal_suite({"train.lr": ["1e-3"]})
    data["base"]["text"] = {"targets": "blogg"}
    joined = "\n".join(problems_of(data, tmp_path))
    assert "base.text.targets" in joined and "blog" in joined and "librispeech" in joined


def test_invalid_yaml_names_the_line(tmp_path):
    """A YAML syntax error is reported with the file and line, not a traceback."""
    path = write_suite("suite: s\nbase: {model: [\n", tmp_path)
    with pytest.raises(Exception) as caught:
        load_suite(path)
    assert f"{path}:" in str(caught.value) and "invalid YAML" in str(caught.value)


def test_extends_merges_and_overrides(tmp_path):
    """A suite extending a shared base file inherits its settings and may override them."""
    write_suite(minimal_suite({"train.lr": ["1e-3", "3e-4"]}), tmp_path, "shared.yaml")
    child = {"extends": "shared.yaml", "suite": "child",
             "base": {"train": {"max_steps": 20}}}
    suite = load_suite(write_suite(child, tmp_path, "child.yaml"))
    assert suite.name == "child"
    assert suite.baseline.spec.train.max_steps == 20
    assert [run.slug for run in suite.runs] == ["baseline", "lr=3e-4"]


def test_circular_extends_is_an_error(tmp_path):
    """Two files extending each other are reported, not followed forever."""
    write_suite({"extends": "b.yaml", "suite": "a"}, tmp_path, "a.yaml")
    write_suite({"extends": "a.yaml", "suite": "b"}, tmp_path, "b.yaml")
    with pytest.raises(SpecError, match="circular extends"):
        load_suite(tmp_path / "a.yaml")


def test_explicit_runs_and_slugs(tmp_path):
    """Explicit runs apply their changes to the baseline; slugs say what differs."""
    data = minimal_suite({"data.labeled": ["10min", "1h"], "train.lr": ["1e-3", "3e-4"]})
    data["runs"] = [{"data.labeled": "1h", "train.lr": "3e-4"}]
    suite = load_suite(write_suite(data, tmp_path))
    assert [run.slug for run in suite.runs] == ["baseline", "labeled=1h", "lr=3e-4",
                                                "labeled=1h,lr=3e-4"]
    assert len(suite.data_keys()) == 2


def test_header_gives_question_and_command(tmp_path):
    """The header comment's Question and Command lines are read into the suite."""
    text = ("# Question: does lr matter?\n# Command:  harness run x.yaml\n"
            + yaml.safe_dump(minimal_suite({"train.lr": ["1e-3"]})))
    suite = load_suite(write_suite(text, tmp_path))
    assert suite.question == "does lr matter?" and suite.command == "harness run x.yaml"


@pytest.mark.parametrize("path", ABLATIONS, ids=[p.name for p in ABLATIONS])
def test_every_shipped_suite_validates(path):
    """Every suite in ablations/ loads, expands and has a baseline."""
    suite = load_suite(path)
    assert suite.runs and suite.baseline.slug == "baseline"


# --- the command line ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ABLATIONS, ids=[p.name for p in ABLATIONS])
def test_harness_plan_accepts_every_shipped_suite(path, capsys):
    """`harness plan` exits 0 on every suite in ablations/, the GPU reference suites included,
    without touching the hub or their data."""
    assert main(["plan", str(path)]) == 0
    assert f"{len(load_suite(path).runs)} runs" in capsys.readouterr().out


def test_reference_suites_keep_their_published_settings():
    """timit-base is the blog recipe, librilight-limited the paper's per-split settings."""
    timit = {run.slug: run for run in load_suite(ABLATIONS_DIR / "timit-base.yaml").runs}
    spec = timit["baseline"].spec
    assert spec.model.name_or_path == "facebook/wav2vec2-base"
    assert (spec.train.lr, spec.train.epochs, spec.train.warmup_steps) == (1e-4, 30, 1000)
    assert (spec.train.weight_decay, spec.train.max_batch_size) == (0.005, 32)
    assert spec.train.freeze == "feature_encoder" and spec.text.targets == "blog"
    assert spec.train.adam_betas == (0.9, 0.999)  # the Trainer's AdamW, not fairseq's 0.98
    assert (spec.data.source, spec.data.schema_name, spec.data.test_split) == \
        ("local", "timit", "test")  # the LDC tree from disk: no loading script
    libri = {run.slug.split(",")[0]: run.spec for run in
             load_suite(ABLATIONS_DIR / "librilight-limited.yaml").runs}
    for slug, steps, channel_mask, layerdrop in (("baseline", 13000, 0.25, 0.1),
                                                 ("labeled=1h", 13000, 0.25, 0.1),
                                                 ("labeled=10h", 20000, 0.5, 0.05)):
        spec = libri[slug]
        assert (spec.train.lr, spec.train.max_steps) == (5e-5, steps)
        assert spec.train.freeze == "encoder_for_steps:10000"
        assert (spec.model.mask_time_prob, spec.model.mask_feature_prob) == (0.65, channel_mask)
        assert spec.model.layerdrop == layerdrop
        assert (spec.data.schema_name, spec.data.dev_split, spec.data.test_split) == \
            ("librilight", "dev-other", "test-clean")  # the official sets, as in the paper


def test_plan_prints_the_run_table(capsys):
    """`harness plan` prints a row per run and the count of datasets to prepare."""
    assert main(["plan", str(ABLATIONS[0])]) == 0
    out = capsys.readouterr().out
    suite = load_suite(ABLATIONS[0])
    for run in suite.runs:
        assert run.id in out and run.slug in out
    assert f"{len(suite.data_keys())} distinct prepared dataset(s) needed" in out


def test_cli_typo_is_one_line_and_exit_2(tmp_path, capsys):
    """A typo'd key gives a one-line error with the suggestion and exit code 2."""
    path = write_suite("suite: s\nbase:\n  model: {preset: tiny}\n  train: {lr: 1e-3, "
                       "max_steps: 5, lr_schedul: linear}\n", tmp_path)
    assert main(["plan", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "base.train.lr_schedul: unknown key 'lr_schedul'" in err[0]
    assert "Traceback" not in err[0]


def test_cli_missing_file(tmp_path, capsys):
    """A missing suite file is a one-line error, exit code 2."""
    assert main(["plan", str(tmp_path / "nope.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_the_default_suites_run_ids_and_data_keys_stay_what_its_results_are_stored_under():
    """Adding settings must not re-key stored results: the default suite's baseline keeps the
    id and data key its committed report was run under (a deliberate change updates these)."""
    suite = load_suite(ABLATIONS_DIR / "default.yaml")
    # Re-keyed on purpose: train.feature_cache (on by default) trains on unpadded frozen
    # features, which changes results (aa0c7640c7 before it); the synthetic corpus's dev split
    # (data.dev_split: dev, for tuning the LM decoder) changes the data (023ab67692 before it).
    assert (suite.baseline.id, suite.baseline.data_key) == ("15e7eee1ec", "3e92c75c42")


def test_a_setting_added_later_is_in_the_id_only_away_from_its_default(tmp_path):
    """data.librispeech_path (added after results existed) leaves ids alone at its default and
    changes them when set."""
    from harness.config.ids import data_key, run_id
    from harness.config.settings import RunSpec

    base = {"data": {"source": "local", "path": "/data/ll", "schema": "librilight"},
            "model": {"preset": "tiny"}, "train": {"max_steps": 1}}
    plain = RunSpec.model_validate(base)
    default = RunSpec.model_validate({**base, "data": {**base["data"], "librispeech_path": None}})
    elsewhere = RunSpec.model_validate({**base, "data": {**base["data"],
                                                         "librispeech_path": "/data/LS"}})
    assert (run_id(plain), data_key(plain)) == (run_id(default), data_key(default))
    assert run_id(plain) != run_id(elsewhere) and data_key(plain) != data_key(elsewhere)


# --- issue 18: names, numbers, misspellings, relative paths -----------------------------------


@pytest.mark.parametrize("name", ["../../evil", "a/b", ".hidden", "a..b", "", "x" * 101,
                                  "with space", "caf\u00e9"])
def test_a_suite_name_must_be_a_file_name(tmp_path, name):
    """A suite name that is not one plain file name (it names runs/<suite>/) is a file:line
    error."""
    text = yaml.safe_dump(minimal_suite({"train.lr": ["1e-3"]}) | {"suite": name})
    problems = problems_of("# a comment\n" + text, tmp_path)
    line = text.splitlines().index(yaml.safe_dump({"suite": name}).strip().splitlines()[0]) + 2
    assert len(problems) == 1
    assert problems[0].startswith(f"{tmp_path / 'suite.yaml'}:{line}: suite: ")


def test_plain_suite_names_are_accepted(tmp_path):
    """Letters, digits, '-', '_' and an inner '.' make a suite name."""
    data = minimal_suite({"train.lr": ["1e-3"]}) | {"suite": "lr-sweep_2.v1"}
    assert load_suite(write_suite(data, tmp_path)).name == "lr-sweep_2.v1"


def test_a_suite_named_outside_the_runs_dir_is_refused_by_the_cli(tmp_path, capsys):
    """`suite: ../../evil` stops `harness plan` with exit 2 at the suite's line."""
    path = write_suite("suite: ../../evil\nbase:\n  model: {preset: tiny}\n"
                       "  train: {lr: 1e-3, max_steps: 5}\n", tmp_path)
    assert main(["plan", str(path)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {path}:1: suite: '../../evil' cannot "
                                              "name a file")


def test_booleans_are_not_numbers(tmp_path):
    """`max_steps: true` (and yes/no, in a base or an axis) is an error, not 1 or 0."""
    text = ("suite: s\nbase:\n  model: {preset: tiny, mask_time_prob: no}\n"
            "  train: {lr: 1e-3, max_steps: true}\naxes:\n  train.seed: [0, yes]\n")
    where = tmp_path / "suite.yaml"
    assert problems_of(text, tmp_path) == [
        f"{where}:3: base.model.mask_time_prob: expected a number, got false",
        f"{where}:4: base.train.max_steps: expected a number, got true",
        f"{where}:6: axes.train.seed[1]: expected a number, got true",
    ]


def test_booleans_still_set_boolean_settings(tmp_path):
    """A boolean setting (balance_speakers) takes true as before."""
    data = minimal_suite({"train.lr": ["1e-3"]})
    data["base"]["data"]["balance_speakers"] = True
    assert load_suite(write_suite(data, tmp_path)).baseline.spec.data.balance_speakers is True


@pytest.mark.parametrize("text, expected", [
    ("suite: s\nbase:\n  model: {preset: tiny}\n  trian: {lr: 1e-3, max_steps: 10}\n"
     "axes:\n  train.lr: [1e-3, 3e-4]\n",
     "4: base.trian: unknown key 'trian' (did you mean 'train'?)"),
    ("suite: s\nbsae:\n  model: {preset: tiny}\n  train: {lr: 1e-3, max_steps: 10}\n"
     "axes:\n  train.lr: [1e-3, 3e-4]\n",
     "2: bsae: unknown key 'bsae' (did you mean 'base'?)"),
    ("siute: s\nbase:\n  model: {preset: tiny}\n  train: {lr: 1e-3, max_steps: 10}\n",
     "1: siute: unknown key 'siute' (did you mean 'suite'?)"),
    ("suite: s\nbase:\n  model: {preset: tiny}\n  train: {lr: 1e-3, max_steps: 10}\n"
     "axes:\n  trian.lr: [1e-3, 3e-4]\nbaseline:\n  train.lr: 3e-4\n",
     "6: axes.trian.lr: no such setting 'trian.lr' (did you mean 'train.lr'?)"),
    ("suite: s\nbase:\n  model: {preset: tiny}\n  train: {lr: 1e-3, max_steps: 10}\n"
     "axis:\n  train.lr: [1e-3, 3e-4]\nbaseline:\n  train.lr: 3e-4\n",
     "5: axis: unknown key 'axis' (did you mean 'axes'?)"),
    ("extend: shared.yaml\nsuite: s\n",
     "1: extend: unknown key 'extend' (did you mean 'extends'?)"),
])
def test_a_misspelt_key_is_reported_once(tmp_path, text, expected):
    """A one-key typo gives one error, its did-you-mean, and none of its knock-on errors."""
    assert problems_of(text, tmp_path) == [f"{tmp_path / 'suite.yaml'}:{expected}"]


def test_an_axis_still_reports_its_own_section_problems(tmp_path):
    """With a sound base, an axis value that breaks its section is still reported."""
    data = minimal_suite({"train.max_steps": [10, None]})
    problems = problems_of(data, tmp_path)
    assert len(problems) == 1
    assert "axes.train.max_steps[1]: train: give exactly one of train.max_steps" in problems[0]


def local_suite(path_line: str) -> str:
    """A suite reading a local manifest, with the given data.path line."""
    return ("suite: s\nbase:\n  data:\n    source: local\n    " + path_line + "\n"
            "  model: {preset: tiny}\n  train: {lr: 1e-3, max_steps: 10}\n")


def test_a_relative_data_path_is_read_from_the_suite_files_directory(tmp_path, monkeypatch):
    """`path: data/m.csv` names <suite dir>/data/m.csv whatever the working directory, and the
    run id and data key hash it as written: the same in any clone."""
    ids = set()
    for clone in ("one", "two"):
        suites = tmp_path / clone / "ablations"
        suites.mkdir(parents=True)
        path = write_suite(local_suite("path: data/m.csv"), suites)
        monkeypatch.chdir(tmp_path)
        suite = load_suite(path.relative_to(tmp_path))
        assert suite.baseline.spec.data.path == str(suites / "data/m.csv")
        ids.add((suite.baseline.id, suite.baseline.data_key))
    assert len(ids) == 1


def test_absolute_and_home_data_paths_are_kept_as_written(tmp_path):
    """`~/...` and absolute paths are not joined to the suite's directory."""
    for value in ("~/data/timit/TIMIT", "/data/m.csv"):
        suite = load_suite(write_suite(local_suite(f"path: {value}"), tmp_path))
        assert suite.baseline.spec.data.path == value


def test_data_paths_of_a_parent_suite_are_read_from_its_directory(tmp_path):
    """A relative data.path given by an `extends:` parent in another folder names a file beside
    the parent, as its `extends:` would."""
    (tmp_path / "shared").mkdir()
    (tmp_path / "suites").mkdir()
    write_suite(local_suite("path: ../data/m.csv"), tmp_path / "shared", "base.yaml")
    child = write_suite("extends: ../shared/base.yaml\nsuite: child\n", tmp_path / "suites")
    spec = load_suite(child).baseline.spec
    assert Path(spec.data.path).resolve() == (tmp_path / "data" / "m.csv").resolve()


def test_a_data_dir_is_local_only_if_it_is_there(tmp_path):
    """data.data_dir names a folder beside the suite if one exists; else it is passed on as
    written (a folder inside a hub dataset's repository)."""
    text = ("suite: s\nbase:\n  data: {source: hf, name: org/set, data_dir: en}\n"
            "  model: {preset: tiny}\n  train: {lr: 1e-3, max_steps: 10}\n")
    path = write_suite(text, tmp_path)
    assert load_suite(path).baseline.spec.data.data_dir == "en"
    (tmp_path / "en").mkdir()
    assert load_suite(path).baseline.spec.data.data_dir == str(tmp_path / "en")
