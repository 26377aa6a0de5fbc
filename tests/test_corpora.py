"""Corpus trees read from disk (TIMIT, LibriSpeech, Libri-light) and test sets scored as published.

The trees are tests/corpus_fixtures.py's: every count below is the fixture's, by construction.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from harness.config.settings import RunSpec
from harness.data.prepare import is_prepared, prepare
from harness.errors import UserError
from harness.report.data import Dataset, skipped_table
from tests.checkpoint_fixtures import hub_shaped_checkpoint
from tests.corpus_fixtures import (
    MAX_SECONDS,
    copy_tree,
    librilight_tree,
    librispeech_tree,
    timit_tree,
)


def spec_for(data: dict, targets: str = "blog") -> RunSpec:
    return RunSpec.model_validate({"data": {"source": "local", **data},
                                   "model": {"preset": "tiny"}, "train": {"max_steps": 1},
                                   "text": {"targets": targets}})


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict:
    """Every fixture tree once per module (about a second of espeak-ng)."""
    root = tmp_path_factory.mktemp("trees")
    return {"timit": timit_tree(root / "timit"),
            "timit_lower": timit_tree(root / "timit_lower", lower=True),
            "librispeech": librispeech_tree(root / "ls"),
            "librilight_ids": librilight_tree(root / "ll"),
            "librilight": root / "ll" / "librispeech_finetuning"}


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def base_checkpoint(tmp_path_factory) -> Path:
    """Wav2Vec2Config()'s full layout (95M parameters) saved as the hub ships wav2vec2-base."""
    return hub_shaped_checkpoint(tmp_path_factory.mktemp("hub") / "wav2vec2-base")


def librispeech(trees, **data) -> RunSpec:
    return spec_for({"schema": "librispeech", "path": str(trees["librispeech"]),
                     "train_split": "train-clean-100", "test_split": "test-clean",
                     "max_seconds": MAX_SECONDS, **data})


def librilight(trees, **data) -> RunSpec:
    return spec_for({"schema": "librilight", "path": str(trees["librilight"]),
                     "test_split": "test-clean", **data})


# TIMIT -----------------------------------------------------------------------------------------


def test_timit_tree_keeps_every_utterance_with_unique_ids_speakers_and_regions(trees, cache):
    """The LDC tree prepares all 7 train and 3 test utterances, ids DR/SPEAKER/UTT, speakers and
    dialect regions kept, transcripts as written without the sample offsets."""
    prepared = prepare(spec_for({"schema": "timit", "path": str(trees["timit"])}), cache)
    assert prepared.train["id"] == ["DR1/FCJF0/SA1", "DR1/FCJF0/SA2", "DR1/FCJF0/SI648",
                                    "DR1/MDAB0/SA1", "DR1/MDAB0/SX139", "DR2/FAEM0/SA1",
                                    "DR2/FAEM0/SX131"]
    assert prepared.test["id"] == ["DR1/FAKS0/SA1", "DR1/FAKS0/SX223", "DR3/MBDG0/SI1039"]
    assert prepared.train["speaker"] == ["FCJF0"] * 3 + ["MDAB0"] * 2 + ["FAEM0"] * 2
    assert prepared.train["dialect_region"] == ["DR1"] * 5 + ["DR2"] * 2
    assert prepared.test["dialect_region"] == ["DR1", "DR1", "DR3"]
    assert prepared.train["raw_text"][0] == "She had your dark suit in greasy wash water all year."
    assert prepared.train["text"][0] == "she had your dark suit in greasy wash water all year"
    assert prepared.report["pool"]["train"]["skipped_total"] == 0  # SA1.WAV.wav copies ignored
    assert prepared.report["test"]["published"] == 3


def test_lower_case_timit_tree_with_ldc_headers_prepares_the_same_rows(trees, cache):
    """train/dr1/fcjf0/sa1.wav with LDC's own SPHERE header gives the same ids, speakers,
    regions, transcripts and decoded samples as the upper-case tree."""
    upper = prepare(spec_for({"schema": "timit", "path": str(trees["timit"])}), cache)
    lower = prepare(spec_for({"schema": "timit", "path": str(trees["timit_lower"])}), cache)
    columns = ["id", "speaker", "dialect_region", "raw_text", "audio_sha1", "duration"]
    for role in ("train", "test"):
        assert (getattr(lower, role).select_columns(columns).to_list()
                == getattr(upper, role).select_columns(columns).to_list())
    assert lower.report["pool_fingerprint"] == upper.report["pool_fingerprint"]


def test_compressed_sphere_is_a_clear_error_naming_the_file(trees, tmp_path):
    """A shorten-compressed SPHERE file stops preparation with its path and how to convert it."""
    tree = copy_tree(trees["timit"], tmp_path / "timit")
    broken = tree / "TRAIN" / "DR1" / "MDAB0" / "SX139.WAV"
    header = (b"NIST_1A\n   1024\nsample_count -i 16000\nsample_rate -i 16000\n"
              b"channel_count -i 1\nsample_n_bytes -i 2\nsample_byte_format -s2 01\n"
              b"sample_coding -s26 pcm,embedded-shorten-v2.00\nend_head\n").ljust(1024, b" ")
    broken.write_bytes(header + bytes(range(256)) * 20)
    with pytest.raises(UserError, match=r"SX139\.WAV: NIST SPHERE compressed as "
                                        r"'pcm,embedded-shorten-v2\.00'.*sph2pipe"):
        prepare(spec_for({"schema": "timit", "path": str(tree)}), tmp_path / "cache")


@pytest.mark.parametrize("case", ["audio_without_transcript", "transcript_without_audio",
                                  "bad_transcript_line", "root_one_level_up", "empty_split"])
def test_broken_timit_trees_name_the_file(trees, tmp_path, case):
    """A .WAV without its .TXT, a .TXT without its .WAV, a .TXT without offsets, the tarball's
    folder above the root and a split with no utterance are UserErrors naming what is wrong."""
    tree = copy_tree(trees["timit"], tmp_path / "timit" / "TIMIT")
    speaker = tree / "TEST" / "DR3" / "MBDG0"
    path, expected = tree, ""
    if case == "audio_without_transcript":
        (speaker / "SI1039.TXT").unlink()
        expected = r"MBDG0/SI1039\.WAV: no transcript SI1039\.TXT beside it"
    elif case == "transcript_without_audio":
        (speaker / "SI1039.WAV").unlink()
        expected = r"MBDG0/SI1039\.TXT: a transcript without its audio SI1039\.WAV"
    elif case == "bad_transcript_line":
        (speaker / "SI1039.TXT").write_text("Those musicians harmonize marvelously.\n")
        expected = r"SI1039\.TXT:1: expected 'START END sentence'"
    elif case == "root_one_level_up":
        path = tree.parent
        expected = r"no TRAIN/ or TEST/ folder.*did you mean '.*timit/TIMIT'"
    else:
        for utterance in speaker.parent.parent.rglob("*.*"):
            utterance.unlink()
        expected = r"split 'test':\n  .*TEST: no <region>/<speaker>/<utt>\.WAV"
    with pytest.raises(UserError, match=expected):
        prepare(spec_for({"schema": "timit", "path": str(path)}), tmp_path / "cache")


# LibriSpeech -----------------------------------------------------------------------------------


def test_librispeech_tree_splits_are_its_folders(trees, cache):
    """train-clean-100 and test-clean are read by folder name, ids and speakers from the files."""
    prepared = prepare(librispeech(trees), cache)
    assert prepared.train["id"] == ["103-1240-0000", "103-1240-0001", "103-1240-0002",
                                    "103-1240-0003", "1034-121119-0000", "1034-121119-0001"]
    assert prepared.train["speaker"] == ["103"] * 4 + ["1034"] * 2
    assert prepared.train["dialect_region"] == [None] * 6
    assert all(text == text.upper() for text in prepared.train["raw_text"])
    assert prepared.report["source"] == f"LibriSpeech tree {trees['librispeech']}"


def test_training_filters_skip_train_utterances_but_never_test_ones(trees, cache):
    """With max_seconds 4, a 6 s utterance and one too short for its CTC target are skipped from
    train-clean-100 and kept, and decodable, in test-clean."""
    prepared = prepare(librispeech(trees), cache)
    assert prepared.report["pool"]["train"]["skipped"] == {"above_max_seconds": 1,
                                                            "ctc_infeasible": 1}
    assert "1034-121119-0002" not in prepared.train["id"]  # long
    assert "1034-121119-0003" not in prepared.train["id"]  # CTC-infeasible
    test = dict(zip(prepared.test["id"], prepared.test["duration"], strict=True))
    assert test["1089-134686-0004"] == 6.0  # longer than max_seconds
    assert test["1089-134686-0005"] == 0.3  # 14 frames for a 51-character transcript
    assert len(prepared.test) == 6


def test_report_counts_test_drops_by_reason(trees, cache):
    """Only unscorable test utterances and test_max_utterances drop test rows, and the report
    (and its skipped-utterances table) counts each reason."""
    prepared = prepare(librispeech(trees, test_max_utterances=5), cache)
    assert len(prepared.test) == 5
    assert prepared.report["test"]["published"] == 8
    assert prepared.report["test"]["skipped"] == {"empty_transcript": 1,
                                                  "test_max_utterances": 1, "unreadable": 1}
    assert prepared.report["test"]["skipped_total"] == 3
    assert prepared.report["pool"]["test"]["skipped"] == {"empty_transcript": 1,
                                                          "unreadable": 1}
    table = skipped_table([Dataset("d0", ["baseline"], prepared.report)])
    test_rows = table[table["split"] == "test"]
    assert dict(zip(test_rows["reason"], test_rows["count"], strict=True)) == {
        "empty_transcript": "1", "test_max_utterances": "1", "unreadable": "1"}


def test_dev_utterances_are_a_seeded_selection_of_the_dev_split(trees, cache):
    """With dev_split dev-clean, dev_utterances 3 picks 3 of its 5, the same each time, inside
    the 4 that dev_utterances 4 picks; the report shows it."""
    three = prepare(librispeech(trees, dev_split="dev-clean", dev_utterances=3), cache)
    again = prepare(librispeech(trees, dev_split="dev-clean", dev_utterances=3), cache)
    four = prepare(librispeech(trees, dev_split="dev-clean", dev_utterances=4), cache)
    assert len(three.dev) == 3 and three.dev["id"] == again.dev["id"]
    assert set(three.dev["id"]) < set(four.dev["id"])
    assert all(i.startswith("1272-128104-") for i in four.dev["id"])
    assert three.report["dev"]["utterances"] == 3
    assert three.report["pool"]["dev"]["utterances"] == 5
    everything = prepare(librispeech(trees, dev_split="dev-clean", dev_utterances=64), cache)
    assert len(everything.dev) == 5


def test_index_is_the_cache_key(trees, tmp_path):
    """A prepared tree is reused as it is and prepared again once a transcript line changes."""
    tree = copy_tree(trees["librispeech"], tmp_path / "LibriSpeech")
    spec = spec_for({"schema": "librispeech", "path": str(tree), "train_split": "train-clean-100",
                     "test_split": "test-other"})
    prepare(spec, tmp_path / "cache")
    assert is_prepared(spec, tmp_path / "cache")
    transcript = tree / "train-clean-100" / "103" / "1240" / "103-1240.trans.txt"
    transcript.write_text(transcript.read_text().replace("103-1240-0000 ", "103-1240-0000 A "))
    assert not is_prepared(spec, tmp_path / "cache")


@pytest.mark.parametrize("case", ["flac_without_line", "line_without_flac", "no_transcript_file",
                                  "empty_tree", "empty_split", "unknown_split"])
def test_broken_librispeech_trees_name_the_file_line_or_split(trees, tmp_path, case):
    """A flac without its transcript line, a line without its flac, a missing trans.txt, an empty
    tree or split and an unknown split name are UserErrors naming the file, line or split."""
    tree = copy_tree(trees["librispeech"], tmp_path / "LibriSpeech")
    chapter = tree / "test-other" / "1688" / "142285"
    transcript = chapter / "1688-142285.trans.txt"
    test_split = "test-other"
    if case == "flac_without_line":
        transcript.write_text(transcript.read_text().splitlines()[0] + "\n")
        expected = (r"1688-142285-0001\.flac: no line '1688-142285-0001' in "
                    r".*1688-142285\.trans\.txt")
    elif case == "line_without_flac":
        (chapter / "1688-142285-0001.flac").unlink()
        expected = (r"1688-142285\.trans\.txt:2: a transcript of 1688-142285-0001 but no "
                    r"1688-142285-0001\.flac")
    elif case == "no_transcript_file":
        transcript.unlink()
        expected = r"1688-142285-0000\.flac: no line .* \(no such file\)"
    elif case == "empty_tree":
        tree = tmp_path / "empty"
        tree.mkdir()
        expected = r"no split for data\.train_split 'train-clean-100', data\.test_split " \
                   r"'test-other' \(splits: none\)"
    elif case == "empty_split":
        for path in sorted(chapter.iterdir()):
            path.unlink()
        expected = r"split 'test-other':\n  .*test-other: no <speaker>/<chapter>/<id>\.flac"
    else:
        test_split = "test-cleen"
        expected = (r"no split for data\.test_split 'test-cleen' \(splits: dev-clean, "
                    r"test-clean, test-other, train-clean-100\); split names are the folder")
    spec = spec_for({"schema": "librispeech", "path": str(tree), "train_split": "train-clean-100",
                     "test_split": test_split})
    with pytest.raises(UserError, match=expected):
        prepare(spec, tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("pools/*/pool.json"))  # checked before decoding


# Libri-light -----------------------------------------------------------------------------------


def test_librilight_official_sizes_select_exactly_the_official_folders(trees, cache):
    """labeled 10min, 1h and 10h train on exactly 1h/0, 1h/* and 1h + 9h (3, 13, 16 utterances),
    so 10min is inside 1h inside 10h, and the report names the official set."""
    ids = trees["librilight_ids"]
    folders = {"10min": ["1h/0/clean", "1h/0/other"],
               "1h": [f"1h/{fold}/{kind}" for fold in range(6) for kind in ("clean", "other")]}
    folders["10h"] = folders["1h"] + ["9h/clean", "9h/other"]
    chosen = {}
    for size, count in (("10min", 3), ("1h", 13), ("10h", 16)):
        prepared = prepare(librilight(trees, labeled=size), cache)
        chosen[size] = set(prepared.train["id"])
        assert chosen[size] == {i for folder in folders[size] for i in ids[folder]}
        assert len(chosen[size]) == count
        assert prepared.report["labeled"]["official"] == size
        assert prepared.report["labeled"]["official_skipped"] == 0
    assert chosen["10min"] < chosen["1h"] < chosen["10h"]


def test_librilight_other_sizes_are_nested_prefixes_of_the_10h_pool(trees, cache):
    """labeled 3s and 6s are shortest seeded prefixes of the 16-utterance 10h pool, nested, and
    not called official."""
    small = prepare(librilight(trees, labeled="3s"), cache)
    large = prepare(librilight(trees, labeled="6s"), cache)
    assert set(small.train["id"]) < set(large.train["id"])
    assert 3 <= sum(small.train["duration"]) < 3 + max(small.train["duration"])
    assert "official" not in small.report["labeled"]
    assert small.report["pool"]["train"]["utterances"] == 16


def test_librilight_dev_and_test_come_from_librispeech(trees, cache):
    """Dev and test are LibriSpeech's folders: LibriSpeech/ beside librispeech_finetuning/ by
    default, the parent of both as data.path too, or data.librispeech_path."""
    beside = prepare(librilight(trees, dev_split="dev-clean", labeled="1h"), cache)
    assert beside.test["id"] == ["2300-131720-0000", "2300-131720-0001", "2300-131720-0002"]
    assert beside.dev["id"] == ["2277-149896-0000", "2277-149896-0001"]
    parent = prepare(librilight(trees, path=str(trees["librilight"].parent), labeled="1h"),
                     cache)
    assert parent.test["id"] == beside.test["id"]
    named = prepare(librilight(trees, librispeech_path=str(trees["librispeech"]),
                               labeled="1h"), cache)
    assert len(named.test) == 6 and named.test["id"][0] == "1089-134686-0000"


def test_librilight_without_librispeech_says_where_it_looked(trees, tmp_path):
    """Without LibriSpeech/ beside it, asking for test-clean names the folder and the setting."""
    alone = copy_tree(trees["librilight"], tmp_path / "librispeech_finetuning")
    with pytest.raises(UserError, match=r"no split for data\.test_split 'test-clean' \(splits: "
                                        r"train\).*not found: set data\.librispeech_path"):
        prepare(spec_for({"schema": "librilight", "path": str(alone),
                          "test_split": "test-clean"}), tmp_path / "cache")


def test_librilight_needs_its_folders_and_a_local_source(trees, tmp_path):
    """A folder without 1h/ and 9h/ is named as not librispeech_finetuning; librilight on the hub
    and librispeech_path for another schema are settings errors."""
    with pytest.raises(UserError, match=r"not Libri-light's librispeech_finetuning folder; "
                                        r"missing .*1h/0/clean"):
        prepare(spec_for({"schema": "librilight", "path": str(tmp_path)}), tmp_path / "cache")
    with pytest.raises(ValueError, match="schema: librilight reads the corpus tree"):
        RunSpec.model_validate({"data": {"source": "hf", "name": "x", "schema": "librilight"},
                                "model": {"preset": "tiny"}, "train": {"max_steps": 1}})
    with pytest.raises(ValueError, match="librispeech_path is for schema: librilight only"):
        spec_for({"schema": "librispeech", "path": "x", "librispeech_path": "y"})


# End to end ------------------------------------------------------------------------------------


def run_tree(tmp_path: Path, name: str, data: str, checkpoint: Path):
    """`harness run` of a one-run suite fine-tuning `checkpoint` for 2 updates on `data` (YAML
    flow mapping); its record and run directory."""
    from harness.cli import main
    from harness.config.load import load_suite
    from harness.run.store import suite_store

    suite = tmp_path / f"{name}.yaml"
    suite.write_text(f"""\
suite: {name}
mode: one_at_a_time
base:
  data: {data}
  model: {{name_or_path: {checkpoint}}}
  train: {{lr: 1e-3, max_steps: 2, batch_seconds: 8}}
  eval: {{bootstrap: 100}}
""")
    started = time.monotonic()
    assert main(["run", str(suite), "--runs-dir", str(tmp_path / "runs"),
                 "--cache-dir", str(tmp_path / "cache"), "--no-report"]) == 0
    print(f"harness run on the {name} tree: {time.monotonic() - started:.1f}s")
    store = suite_store(load_suite(suite), tmp_path / "runs")
    [record] = store.records()
    return record, store.run_dir(record["run_id"])


@pytest.mark.integration
def test_harness_run_trains_and_scores_a_librispeech_tree(trees, base_checkpoint, tmp_path):
    """`harness run` on a LibriSpeech tree fine-tunes wav2vec2-base's layout saved as the hub
    ships it, monitors dev_utterances of dev-clean, and scores all 6 scorable test-clean
    utterances, the 6 s one and the CTC-infeasible one included, with the test drops in the
    stored data report."""
    record, run_dir = run_tree(
        tmp_path, "librispeech",
        f"{{source: local, schema: librispeech, path: {trees['librispeech']}, "
        "train_split: train-clean-100, dev_split: dev-clean, test_split: test-clean, "
        f"dev_utterances: 2, max_seconds: {MAX_SECONDS}}}", base_checkpoint)
    assert record["status"] == "finished"
    assert record["train"]["dev"]["dev_utterances"] == 2
    report = record["data"]["report"]
    assert report["test"]["utterances"] == 6 and report["test"]["published"] == 8
    assert report["test"]["skipped"] == {"empty_transcript": 1, "unreadable": 1}
    predictions = [json.loads(line) for line in
                   (run_dir / "predictions.jsonl").read_text().splitlines()]
    durations = {row["id"]: row["duration"] for row in predictions}
    assert len(durations) == 6
    assert durations["1089-134686-0004"] == 6.0 and durations["1089-134686-0005"] == 0.3


@pytest.mark.integration
@pytest.mark.parametrize("corpus", ["timit", "librilight"])
def test_harness_run_trains_and_scores_timit_and_librilight_trees(trees, base_checkpoint,
                                                                 tmp_path, corpus):
    """`harness run` fine-tunes wav2vec2-base's layout (saved as the hub ships it) on the TIMIT
    tree (all 7 / 3 utterances) and on Libri-light's official 10min set (3 utterances) against
    LibriSpeech's test-clean beside it (3), and scores them."""
    data = {"timit": f"{{source: local, schema: timit, path: {trees['timit']}}}",
            "librilight": f"{{source: local, schema: librilight, path: {trees['librilight']}, "
                          "labeled: 10min, test_split: test-clean, dev_split: dev-clean}"}[corpus]
    record, _ = run_tree(tmp_path, corpus, data, base_checkpoint)
    assert record["status"] == "finished"
    report = record["data"]["report"]
    assert (report["labeled"]["utterances"], report["test"]["utterances"]) == {
        "timit": (7, 3), "librilight": (3, 3)}[corpus]
    assert report["labeled"].get("official") == {"timit": None, "librilight": "10min"}[corpus]
