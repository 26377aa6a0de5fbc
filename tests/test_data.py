"""Data preparation on local corpora in real schemas: nesting, resampling, skips, cache reuse."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.data.prepare import is_prepared, prepare
from harness.errors import UserError
from tests.data_fixtures import (
    TRAIN_SENTENCES,
    common_voice_like,
    librispeech_audiofolder,
    manifest_corpus,
    spec_for,
    timit_like,
)


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("corpora")
    return {"timit": timit_like(root), "common_voice": common_voice_like(root)}


@pytest.mark.parametrize("schema", ["timit", "common_voice"])
def test_nested_subsets_resampling_skips_and_cache(corpora, schema, tmp_path):
    cache = tmp_path / "cache"
    data = {"source": "local", "path": str(corpora[schema]), "schema": schema}
    small_spec = spec_for({**data, "labeled": "10s"})
    large_spec = spec_for({**data, "labeled": "30s"})
    assert not is_prepared(small_spec, cache)

    small = prepare(small_spec, cache)
    large = prepare(large_spec, cache)

    # Nested: the 10 s subset is a prefix of the same seeded order as the 30 s one.
    small_ids, large_ids = set(small.train["id"]), set(large.train["id"])
    assert small_ids < large_ids
    assert 10 <= sum(small.train["duration"]) < 10 + max(small.train["duration"])
    assert 30 <= sum(large.train["duration"]) < 30 + max(large.train["duration"])
    assert small.report["labeled"]["utterances"] == len(small.train)

    # Resampled to 16 kHz mono: samples match durations; the 48 kHz stereo clip too.
    for row in large.train.select(range(len(large.train))):
        assert len(row["input_values"]) == pytest.approx(row["duration"] * 16000, abs=1)
        values = np.asarray(row["input_values"])
        assert abs(values.mean()) < 1e-3 and abs(values.std() - 1) < 1e-2  # normalized

    # Every bad row is skipped with its reason and counted; nothing else is dropped.
    skipped = large.report["pool"]["train"]["skipped"]
    assert skipped == {"empty_transcript": 1, "shorter_than_receptive_field": 1,
                       "unreadable": 1}
    assert large.report["pool"]["train"]["utterances"] == TRAIN_SENTENCES
    assert large.report["pool"]["test"]["skipped_total"] == 0

    # Targets are normalized, raw transcripts kept; labels decode to the targets.
    assert all(t == t.lower() and "." not in t and "!" not in t for t in large.train["text"])
    assert large.train["raw_text"][0] != large.train["text"][0]

    # Cache: both entries reused, the pool decoded once.
    assert is_prepared(small_spec, cache) and is_prepared(large_spec, cache)
    pools = list((cache / "pools").iterdir())
    assert len([p for p in pools if p.is_dir()]) == 1
    pool_json = next(p for p in pools if p.is_dir()) / "pool.json"
    before = pool_json.stat().st_mtime_ns
    again = prepare(large_spec, cache)
    assert pool_json.stat().st_mtime_ns == before
    assert again.fingerprint == large.fingerprint
    assert again.train["id"] == large.train["id"]


def test_common_voice_stereo_48k_is_downmixed(corpora, tmp_path):
    spec = spec_for({"source": "local", "path": str(corpora["common_voice"]),
                     "schema": "common_voice"})
    prepared = prepare(spec, tmp_path / "cache")
    row = prepared.train.filter(lambda r: r["id"] == "common_voice_en_train_0.wav")[0]
    assert row["speaker"] == "client0"
    assert len(row["input_values"]) == pytest.approx(row["duration"] * 16000, abs=1)
    assert 0.5 < row["duration"] < 10


def test_a_dialect_region_column_is_kept_on_every_row(corpora, tmp_path):
    """A saved dataset with timit_asr's dialect_region column keeps it in the prepared splits."""
    spec = spec_for({"source": "local", "path": str(corpora["timit"]), "schema": "timit"})
    prepared = prepare(spec, tmp_path / "cache")
    assert set(prepared.train["dialect_region"]) == {"DR1"}
    assert set(prepared.test["dialect_region"]) == {"DR1"}


def test_asking_for_more_than_the_pool_is_a_clear_error(corpora, tmp_path):
    spec = spec_for({"source": "local", "path": str(corpora["timit"]), "schema": "timit",
                     "labeled": "5h"})
    with pytest.raises(UserError, match=r"data.labeled asks for 5h .* pool holds"):
        prepare(spec, tmp_path / "cache")


def test_test_audio_inside_the_training_pool_is_an_error(tmp_path):
    corpus = manifest_corpus(tmp_path, test_from_train=2)
    spec = spec_for({"source": "local", "path": str(corpus)})
    with pytest.raises(UserError, match="same audio as training"):
        prepare(spec, tmp_path / "cache")
    assert not list((tmp_path / "cache" / "pools").glob("*/pool.json"))  # nothing cached


def test_manifest_source_and_report(tmp_path):
    corpus = manifest_corpus(tmp_path)
    prepared = prepare(spec_for({"source": "local", "path": str(corpus)}), tmp_path / "cache")
    assert len(prepared.train) == 8 and len(prepared.test) == 3
    assert prepared.report["train"]["speakers"] == 2
    assert len(prepared.dev) == 3  # a slice of the test split, never of the pool
    assert set(prepared.dev["id"]) <= set(prepared.test["id"])
    assert prepared.processor.tokenizer.get_vocab() == prepared.vocab
    assert json.dumps(prepared.report)  # the report is stored in records: plain JSON


def _set_transcripts(manifest: Path, texts: list[str]) -> None:
    """Give the manifest's utterances `texts` in turn (the audio stays as it is)."""
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    rows = [{**row, "text": texts[i % len(texts)]} for i, row in enumerate(rows)]
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_vocabulary_comes_from_training_text_only_and_reports_test_characters(tmp_path):
    """A character only the test transcripts have is left out of the prepared vocabulary and
    processor, encodes to [UNK], and is named with its count in the data report."""
    corpus = manifest_corpus(tmp_path)
    _set_transcripts(corpus / "train.jsonl", ["a cat sat", "the dog ran"])
    _set_transcripts(corpus / "test.jsonl", ["the zoo", "a cat", "zero"])
    prepared = prepare(spec_for({"source": "local", "path": str(corpus)}), tmp_path / "cache")
    assert "z" not in prepared.vocab, "the vocabulary was built from test text"
    # Specials, then the training characters a c d e g h n o r s t in code-point order.
    assert prepared.vocab == {"[PAD]": 0, "[UNK]": 1, "|": 2, "a": 3, "c": 4, "d": 5, "e": 6,
                              "g": 7, "h": 8, "n": 9, "o": 10, "r": 11, "s": 12, "t": 13}
    assert prepared.processor.tokenizer.get_vocab() == prepared.vocab
    assert prepared.report["oov_test_characters"] == {"z": 2}  # one in "the zoo", one in "zero"
    assert prepared.report["vocab_size"] == 14
    labels = dict(zip(prepared.test["text"], prepared.test["labels"], strict=True))
    assert labels["the zoo"] == [13, 8, 6, 2, 1, 10, 10]  # t h e | [UNK] o o


def test_balanced_subsets_spread_over_speakers(corpora, tmp_path):
    data = {"source": "local", "path": str(corpora["timit"]), "schema": "timit",
            "labeled": "10s", "balance_speakers": True}
    prepared = prepare(spec_for(data), tmp_path / "cache")
    assert prepared.report["labeled"]["speakers"] == min(4, len(prepared.train))


def test_manifest_errors_name_the_line(tmp_path):
    corpus = manifest_corpus(tmp_path)
    with (corpus / "train.jsonl").open("a") as handle:
        handle.write("{not json\n")
    with pytest.raises(UserError, match=r"train.jsonl:9: not valid JSON"):
        prepare(spec_for({"source": "local", "path": str(corpus)}), tmp_path / "cache")


def test_missing_path_and_unknown_layout(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        prepare(spec_for({"source": "local", "path": str(tmp_path / "nope")}), tmp_path / "c")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="not a save_to_disk dataset"):
        prepare(spec_for({"source": "local", "path": str(tmp_path / "empty")}), tmp_path / "c")


def test_audiofolder_in_librispeech_schema(tmp_path):
    corpus = librispeech_audiofolder(tmp_path)
    prepared = prepare(spec_for({"source": "local", "path": str(corpus),
                                 "schema": "librispeech"}), tmp_path / "cache")
    assert sorted(prepared.train["speaker"]) == ["100", "100", "100", "101", "101", "101"]
    assert all(i.startswith(("100-7-train", "101-7-train")) for i in prepared.train["id"])
    assert prepared.report["pool"]["train"]["skipped_total"] == 0
    assert len(prepared.test) == 2


def test_hub_loader_with_a_data_dir(tmp_path):
    # source: hf goes through datasets.load_dataset(name, config, split=..., data_dir=...), the
    # call that loads timit_asr from its data_dir; here the packaged csv builder stands in for a
    # hub script, with TIMIT's columns (`file` holds the audio path).
    corpus = librispeech_audiofolder(tmp_path)
    hub_dir = tmp_path / "hub"
    hub_dir.mkdir()
    for split in ("train", "test"):
        rows = (corpus / split / "metadata.csv").read_text().splitlines()[1:]
        lines = ["file,text,speaker_id,id"] + [
            f"{corpus / split / r.split(',')[0]},{r.split(',')[1]},{r.split(',')[2]},{i}"
            for i, r in enumerate(rows)]
        (hub_dir / f"{split}.csv").write_text("\n".join(lines) + "\n")
    prepared = prepare(spec_for({"source": "hf", "name": "csv", "data_dir": str(hub_dir),
                                 "schema": "timit"}), tmp_path / "cache")
    assert len(prepared.train) == 6 and len(prepared.test) == 2
    assert prepared.report["source"] == "hub dataset csv"


def test_unreachable_hub_dataset_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    spec = spec_for({"source": "hf", "name": "timit_asr", "data_dir": str(tmp_path)})
    with pytest.raises(UserError, match="data.name 'timit_asr'.*could not be loaded"):
        prepare(spec, tmp_path / "cache")


def test_harness_prepare_prepares_each_dataset_once(tmp_path, capsys):
    from harness.cli import main

    corpus = manifest_corpus(tmp_path)
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"""\
suite: prep
mode: one_at_a_time
base:
  data: {{source: local, path: {corpus}, labeled: 5s}}
  model: {{preset: tiny}}
  train: {{max_steps: 1}}
axes:
  train.lr: [1e-3, 3e-4]
  data.labeled: [5s, 10s]
""")
    cache = tmp_path / "cache"
    assert main(["prepare", str(suite), "--cache-dir", str(cache)]) == 0
    assert "2 dataset(s) prepared, 0 reused" in capsys.readouterr().out
    assert main(["prepare", str(suite), "--cache-dir", str(cache)]) == 0
    assert "0 dataset(s) prepared, 2 reused" in capsys.readouterr().out
