"""Broken local data as a hostile user brings it (issue 18): malformed CSV and JSONL manifests,
dangling symlinks, missing and silent audio, stray files beside the manifests, killed builds.
Each is a file:line error or a named skip, never a traceback, a silently changed dataset or a
preparation that repeats itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli.prepare import describe
from harness.data.prepare import is_prepared, prepare
from harness.data.schemas import column_map, resolve_columns
from harness.data.sources import ManifestSource
from harness.errors import UserError
from harness.files import content_hash, locked
from tests.corpus_fixtures import timit_tree
from tests.data_fixtures import (
    add_clip,
    append_rows,
    copy_corpus,
    dangling_symlink,
    manifest_corpus,
    manifests_to_csv,
    set_line,
    silence,
    spec_for,
)

TRAIN_IDS = [f"train-{i}" for i in range(8)]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return manifest_corpus(tmp_path_factory.mktemp("pristine"))


@pytest.fixture
def corpus(pristine, tmp_path) -> Path:
    """A fresh copy of the 8 + 3 utterance manifest corpus (train.jsonl, test.jsonl, audio/)."""
    return copy_corpus(pristine, tmp_path / "manifests")


def local(corpus: Path, **data) -> object:
    return spec_for({"source": "local", "path": str(corpus), **data})


def error_of(spec, cache: Path) -> str:
    with pytest.raises(UserError) as caught:
        prepare(spec, cache)
    return str(caught.value)


# 3. CSV manifests whose rows are not what they look like ---------------------------------------


def test_an_unbalanced_quote_that_swallows_rows_is_an_error_at_its_line(corpus, tmp_path):
    """A quote opened on line 3 and closed on line 5 would make rows 3-5 one utterance whose
    transcript holds the two rows after it: an error naming the line where it opened."""
    manifests_to_csv(corpus)
    manifest = corpus / "train.csv"
    set_line(manifest, 3, 'audio/train-1.wav,"the dog ran,s1,train-1')
    set_line(manifest, 5, 'audio/train-3.wav,a fish swam",s1,train-3')
    assert error_of(local(corpus), tmp_path / "cache") == (
        f"{manifest}:3: a quoted field runs on to line 5, swallowing the rows in between "
        "(an unbalanced quote?)")


def test_a_quote_left_open_at_the_end_of_a_csv_manifest_is_an_error(corpus, tmp_path):
    """A quote opened on the last row and never closed is an error naming that row's line."""
    manifests_to_csv(corpus)
    manifest = corpus / "train.csv"
    set_line(manifest, 9, 'audio/train-7.wav,"never closed,s1,train-7')
    assert error_of(local(corpus), tmp_path / "cache") == (
        f"{manifest}:9: unexpected end of data (an unbalanced quote?)")


def test_a_csv_row_with_more_fields_than_the_header_is_an_error_at_its_line(corpus, tmp_path):
    """An unquoted comma in a transcript gives a row more fields than the header: an error."""
    manifests_to_csv(corpus)
    manifest = corpus / "train.csv"
    set_line(manifest, 4, "audio/train-2.wav,a bird,sang,s0,train-2")
    assert error_of(local(corpus), tmp_path / "cache") == (
        f"{manifest}:4: 5 field(s), the header has 4 (path, text, speaker, id): ['train-2'] "
        "beyond it")


def test_a_csv_row_with_fewer_fields_than_the_header_is_an_error_at_its_line(corpus, tmp_path):
    """A row cut short is an error naming its line, not a row with empty speaker and id."""
    manifests_to_csv(corpus)
    manifest = corpus / "test.csv"
    set_line(manifest, 2, "audio/test-0.wav,a bird sang")
    assert error_of(local(corpus), tmp_path / "cache") == (
        f"{manifest}:2: 2 field(s), the header has 4 (path, text, speaker, id)")


# 7. A byte order mark ----------------------------------------------------------------------------


def test_csv_manifests_with_a_utf8_bom_read_as_without_one(corpus, tmp_path):
    """Manifests saved as Excel's "CSV UTF-8" (a BOM before the header) prepare every row."""
    manifests_to_csv(corpus, bom=True)
    prepared = prepare(local(corpus), tmp_path / "cache")
    assert prepared.train["id"] == TRAIN_IDS
    assert prepared.test["id"] == ["test-0", "test-1", "test-2"]


def test_invisible_characters_in_column_names_are_shown_in_the_message():
    """A column name holding an invisible character is printed with repr, so it can be seen."""
    with pytest.raises(UserError) as caught:
        resolve_columns(column_map("generic", {}), ["\ufeffpath", "text ", "speaker"], "m.csv")
    assert str(caught.value) == ("m.csv: no audio column 'audio' (columns: '\\ufeffpath', "
                                 "'text ', speaker); set data.columns.audio")


# 12. JSONL values that are not what a manifest holds ----------------------------------------------


def test_a_numeric_transcript_and_a_null_path_are_errors_at_their_lines(corpus, tmp_path):
    """`"text": 123` and `"path": null` are errors naming file:line, reported together."""
    manifest = corpus / "train.jsonl"
    append_rows(manifest, [{"path": "audio/train-0.wav", "text": 123, "id": "n1"},
                           {"path": None, "text": "hello there", "id": "n2"}])
    assert error_of(local(corpus), tmp_path / "cache") == (
        f"{manifest}:9: text must be a string, got 123\n"
        f"{manifest}:10: path must be an audio file path, got None")


# 4 and 12. Missing files and dangling symlinks --------------------------------------------------


def test_a_dangling_symlink_the_manifests_never_name_is_ignored(corpus, tmp_path):
    """Dangling symlinks beside the manifests and the audio change nothing: all 8 utterances."""
    dangling_symlink(corpus / "audio" / "old-take.wav")
    dangling_symlink(corpus / "notes.csv", "../gone.csv")
    prepared = prepare(local(corpus), tmp_path / "cache")
    assert prepared.train["id"] == TRAIN_IDS
    assert prepared.report["pool"]["train"]["skipped"] == {}


def test_a_missing_audio_file_is_skipped_as_missing_with_its_path(corpus, tmp_path):
    """A row whose file is gone is a `missing` skip naming the path, not `unreadable`."""
    (corpus / "audio" / "train-3.wav").unlink()
    prepared = prepare(local(corpus), tmp_path / "cache")
    assert prepared.report["pool"]["train"]["skipped"] == {"missing": 1}
    example = prepared.report["skipped_examples"]["train"]["missing"][0]
    assert example["detail"] == f"missing: {corpus / 'audio' / 'train-3.wav'}: no such file"


def test_a_named_dangling_symlink_is_skipped_as_missing_with_its_target(corpus, tmp_path):
    """A row naming a dangling symlink is a `missing` skip naming the link and its target."""
    dangling_symlink(corpus / "audio" / "train-5.wav", "elsewhere/train-5.wav")
    prepared = prepare(local(corpus), tmp_path / "cache")
    assert prepared.report["pool"]["train"]["skipped"] == {"missing": 1}
    example = prepared.report["skipped_examples"]["train"]["missing"][0]
    assert example["detail"] == (f"missing: {corpus / 'audio' / 'train-5.wav'}: no such file "
                                 "(a symlink to 'elsewhere/train-5.wav', which does not exist)")


def test_a_dangling_symlink_in_a_corpus_tree_is_an_error_naming_it(tmp_path):
    """A TIMIT .WAV that is a dangling symlink stops preparation with its name, no traceback."""
    tree = timit_tree(tmp_path / "timit")
    wav = next(tree.glob("TRAIN/DR1/FCJF0/SA2.WAV"))
    dangling_symlink(wav, "SA2-original.WAV")
    message = error_of(spec_for({"source": "local", "schema": "timit", "path": str(tree)}),
                       tmp_path / "cache")
    assert f"{wav}: a dangling symlink to 'SA2-original.WAV'" in message


def test_a_test_split_without_a_usable_utterance_fails_at_preparation(corpus, tmp_path):
    """A test split whose every file is gone fails before training, naming the skip reasons."""
    for name in ("test-0", "test-1", "test-2"):
        (corpus / "audio" / f"{name}.wav").unlink()
    assert error_of(local(corpus), tmp_path / "cache") == (
        f"manifests in {corpus}: split 'test' has no usable utterance (skipped: {{'missing': 3}})")


# 12. Silence -----------------------------------------------------------------------------------


def test_silent_training_utterances_are_skipped_as_silent(corpus, tmp_path):
    """All-zero audio and a constant offset are `silent` skips of the training split."""
    add_clip(corpus, "train", "zeros", silence(1.0), "nothing to hear")
    add_clip(corpus, "train", "offset", silence(1.0, level=0.1), "nothing either")
    prepared = prepare(local(corpus), tmp_path / "cache")
    assert prepared.train["id"] == TRAIN_IDS
    assert prepared.report["pool"]["train"]["skipped"] == {"silent": 2}
    example = prepared.report["skipped_examples"]["train"]["silent"][0]
    assert example == {"id": "zeros", "row": f"{corpus / 'train.jsonl'}:9",
                       "detail": "1.00s with every sample the same value"}


def test_silent_test_utterances_are_kept_and_counted(corpus, tmp_path):
    """A silent test utterance is scored as published, and the report counts it."""
    add_clip(corpus, "test", "hush", silence(1.0), "was anything said")
    prepared = prepare(local(corpus), tmp_path / "cache")
    assert prepared.test["id"] == ["test-0", "test-1", "test-2", "hush"]
    assert prepared.report["test"]["skipped"] == {}
    assert prepared.report["test"]["silent_kept"] == 1
    assert prepared.report["pool"]["test"]["silent_kept"] == 1


# 9. What keys the cache, what is cleaned up ------------------------------------------------------


def test_files_the_manifests_do_not_name_never_prepare_again(corpus, tmp_path):
    """runs/, reports/ and an unnamed wav beside the manifests leave the dataset prepared."""
    cache = tmp_path / "cache"
    spec = local(corpus)
    prepare(spec, cache)
    (corpus / "runs" / "default").mkdir(parents=True)
    (corpus / "runs" / "default" / "results.jsonl").write_text("{}\n")
    (corpus / "reports").mkdir()
    (corpus / "reports" / "default.md").write_text("# default\n")
    add_clip(corpus, "dev", "unused", silence(0.5, 0.2), "a dev manifest no run reads")
    assert is_prepared(spec, cache)


@pytest.mark.parametrize("edit", ["audio", "train manifest", "test manifest"])
def test_a_named_audio_file_or_a_read_manifest_that_changes_prepares_again(corpus, tmp_path,
                                                                            edit):
    """Touching an audio file a manifest names, or a manifest preparation reads, re-prepares."""
    cache = tmp_path / "cache"
    spec = local(corpus)
    prepare(spec, cache)
    changed = {"audio": corpus / "audio" / "train-4.wav", "train manifest": corpus / "train.jsonl",
               "test manifest": corpus / "test.jsonl"}[edit]
    os.utime(changed, ns=(1_000_000_000, 1_000_000_000))
    assert not is_prepared(spec, cache)


def test_the_synthetic_corpus_keeps_its_directory_listing_key(corpus):
    """The synthetic source's key is still the listing of its directory (so existing pools stay
    valid), and a dangling symlink in it is left out instead of raising."""
    dangling_symlink(corpus / "audio" / "stray.wav")
    files = {"train": corpus / "train.jsonl", "test": corpus / "test.jsonl"}
    source = ManifestSource(files, local(corpus).data, "synthetic corpus", tree_key=True)
    listed = [corpus / "test.jsonl", corpus / "train.jsonl",
              *sorted(p for p in (corpus / "audio").iterdir() if p.name != "stray.wav")]
    listing = [(str(p.relative_to(corpus)), p.stat().st_size, p.stat().st_mtime_ns)
               for p in listed]
    assert source.cache_key() == content_hash({"manifests": sorted(map(str, files.values())),
                                               "files": [listing]})


def test_an_edited_manifest_replaces_its_pool_and_removes_the_superseded_one(corpus, tmp_path):
    """After an edit, the dataset keeps one pool and one subset: the old ones are removed, while
    the pool of other settings (max_seconds 12) stays."""
    cache = tmp_path / "cache"
    spec, other = local(corpus), local(corpus, max_seconds=12)
    first = prepare(spec, cache)
    kept = prepare(other, cache)
    set_line(corpus / "train.jsonl", 1, (corpus / "train.jsonl").read_text().splitlines()[0]
             .replace('"speaker": "s0"', '"speaker": "s9"'))
    second = prepare(spec, cache)

    def entries(folder: str) -> set[str]:
        return {p.name for p in (cache / folder).iterdir() if p.is_dir()}

    assert first.report["pool_key"] != second.report["pool_key"]
    assert entries("pools") == {second.report["pool_key"], kept.report["pool_key"]}
    assert entries("prepared") == {second.key, kept.key}


def test_a_killed_build_leaves_a_temporary_pool_that_the_next_preparation_removes(corpus,
                                                                                   tmp_path):
    """SIGKILL mid-pool leaves `.<key>.tmp-*`; the next preparation removes it and builds."""
    cache = tmp_path / "cache"
    spec = local(corpus)
    script = ("import sys; from harness.config.settings import RunSpec; "
              "from harness.data.prepare import prepare; "
              "prepare(RunSpec.model_validate_json(sys.argv[1]), sys.argv[2])")
    killed = subprocess.run([sys.executable, "-c", script, spec.model_dump_json(), str(cache)],
                            env={**os.environ, "HARNESS_INJECT_FAULT": "sigkill@prepare:3"},
                            capture_output=True, timeout=300)
    assert killed.returncode == -9
    assert len(list((cache / "pools").glob(".*.tmp-*"))) == 1
    prepared = prepare(spec, cache)
    assert list((cache / "pools").glob(".*.tmp-*")) == []
    assert prepared.train["id"] == TRAIN_IDS


def test_a_temporary_entry_whose_build_holds_its_lock_is_kept(corpus, tmp_path):
    """Only temporary entries nobody is building are removed: one under a held lock stays."""
    cache = tmp_path / "cache"
    (cache / "pools" / ".cafe.tmp-00000000").mkdir(parents=True)
    (cache / "pools" / ".beef.tmp-11111111").mkdir(parents=True)
    with locked(cache / "pools" / "cafe"):
        prepare(local(corpus), cache)
    assert sorted(p.name for p in (cache / "pools").glob(".*.tmp-*")) == [".cafe.tmp-00000000"]


# 12. What `harness prepare` says -----------------------------------------------------------------


def test_the_prepare_summary_gives_skip_reasons_per_split():
    """A dataset's line names each split's skips by reason, the test drops and silent tests."""
    report = {
        "labeled": {"hours": 0.0125, "utterances": 8, "speakers": 2},
        "pool": {"train": {"skipped": {"silent": 2, "missing": 1}},
                 "test": {"skipped": {"unreadable": 1}}},
        "test": {"utterances": 3, "silent_kept": 1,
                 "skipped": {"unreadable": 1, "test_max_utterances": 1}},
    }
    assert describe("abc", report, reused=False) == (
        "data abc: train 0.8 min / 8 utt / 2 spk, test 3 utt, 1 silent kept; skipped train "
        "(missing 1, silent 2), test (test_max_utterances 1, unreadable 1); prepared")


def test_harness_prepare_prints_the_reasons(corpus, tmp_path, capsys):
    """`harness prepare` on a corpus with a missing file names the reason and its count."""
    from harness.cli import main

    (corpus / "audio" / "train-3.wav").unlink()
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"suite: reasons\nbase:\n  data: {{source: local, path: {corpus}}}\n"
                     "  model: {preset: tiny}\n  train: {max_steps: 1}\n")
    assert main(["prepare", str(suite), "--cache-dir", str(tmp_path / "cache")]) == 0
    assert "skipped train (missing 1), test (none); prepared" in capsys.readouterr().out
