"""The synthetic corpus: format, determinism, held-out sentences and voices, CLI; the sentence
generator's properties. Corpora are tiny (20-40 s of audio, about a second each to build)."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import json
import random
import string
import subprocess
from pathlib import Path

import pytest
import soundfile
from hypothesis import given, settings

from harness.cli.synth import add_arguments, run_synth
from harness.errors import UserError
from harness.synth import corpus as synth
from harness.synth import voices
from harness.synth.corpus import SPLITS, build_corpus
from harness.synth.sentences import (
    ALLOWED,
    LEXICONS,
    MAX_WORDS,
    MIN_WORDS,
    held_back_from_standin,
    normalized_words,
    random_sentence,
    sentence_bucket,
    sentence_stream,
)
from harness.synth.voices import POOLS
from tests.strategies import buckets, seeds, streams

TRAIN_SECONDS, TEST_SECONDS = 40.0, 20.0


def read_manifest(corpus: Path, split: str) -> list[dict]:
    with open(corpus / f"{split}.jsonl", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def pairs(speakers) -> set[tuple[str, str]]:
    return {(speaker.voice, speaker.variant) for speaker in speakers}


@pytest.fixture(scope="module")
def main_corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "main"
    build_corpus(out, train_seconds=TRAIN_SECONDS, test_seconds=TEST_SECONDS, seed=3, workers=2)
    return out


@pytest.fixture(scope="module")
def standin_corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "standin"
    build_corpus(out, train_seconds=30, test_seconds=10, seed=3, voice_pool="standin", workers=2)
    return out


def test_rebuild_is_identical_whatever_the_worker_count(main_corpus, tmp_path):
    """A second build (one worker instead of two) has the same fingerprint, manifests and wavs."""
    again = tmp_path / "again"
    corpus = build_corpus(again, train_seconds=TRAIN_SECONDS, test_seconds=TEST_SECONDS, seed=3,
                          workers=1)
    assert corpus["fingerprint"] == json.loads((main_corpus / "corpus.json").read_text())[
        "fingerprint"]
    for split in SPLITS:
        assert (again / f"{split}.jsonl").read_bytes() == \
            (main_corpus / f"{split}.jsonl").read_bytes()
        for row in read_manifest(again, split):
            assert (again / row["path"]).read_bytes() == (main_corpus / row["path"]).read_bytes()
    other_seed = build_corpus(tmp_path / "seed4", train_seconds=5, test_seconds=3, seed=4,
                              workers=1)
    assert other_seed["fingerprint"] != corpus["fingerprint"]


def test_layout_and_description(main_corpus):
    """corpus.json describes the manifests; README.md has the regenerate command; no extra wavs."""
    corpus = json.loads((main_corpus / "corpus.json").read_text())
    assert (corpus["format"], corpus["version"], corpus["seed"], corpus["voice_pool"]) == \
        ("harness-synth", synth.VERSION, 3, "main")
    assert corpus["requested"] == {"train_seconds": TRAIN_SECONDS, "test_seconds": TEST_SECONDS}
    assert corpus["espeak_ng"] and len(corpus["fingerprint"]) == 64
    for split in SPLITS:
        rows = read_manifest(main_corpus, split)
        assert all(set(row) == {"id", "path", "text", "speaker", "duration", "phonemes"}
                   for row in rows)
        assert all(row["phonemes"] and "ˈ" not in row["phonemes"] for row in rows)
        info = corpus["splits"][split]
        assert info["utterances"] == len(rows)
        assert info["seconds"] == pytest.approx(sum(row["duration"] for row in rows), abs=1e-3)
        assert info["speakers"] == sorted({row["speaker"] for row in rows})
        on_disk = {p.name for p in (main_corpus / "audio" / split).iterdir()}
        assert on_disk == {Path(row["path"]).name for row in rows}
        assert all(row["path"] == f"audio/{split}/{row['id']}.wav" for row in rows)
    card = (main_corpus / "README.md").read_text()
    command = "harness synth --hours 40s --test-minutes 20s --seed 3 --voices main"
    assert command in card and "test_held_out_voices" in card


def test_wavs_are_16k_mono_pcm16_with_manifest_durations(main_corpus):
    """Every wav is 16 kHz mono PCM16 and its length is the manifest's duration."""
    for split in SPLITS:
        for row in read_manifest(main_corpus, split):
            info = soundfile.info(main_corpus / row["path"])
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
            assert info.frames / 16000 == pytest.approx(row["duration"], abs=1e-6)
            assert row["duration"] > 0.3


def test_splits_are_the_shortest_prefix_reaching_the_request(main_corpus):
    """Each split reaches its requested seconds, and without its last utterance it would not."""
    for split, target in (("train", TRAIN_SECONDS), ("test", TEST_SECONDS),
                          ("test_held_out_voices", TEST_SECONDS)):
        durations = [row["duration"] for row in read_manifest(main_corpus, split)]
        assert sum(durations) >= target > sum(durations[:-1])


def test_test_sentences_never_in_training(main_corpus):
    """No test sentence (compared by normalized words) occurs in the training split."""
    train = {normalized_words(row["text"]) for row in read_manifest(main_corpus, "train")}
    for split in ("test", "test_held_out_voices"):
        tested = {normalized_words(row["text"]) for row in read_manifest(main_corpus, split)}
        assert tested and not tested & train
    assert len(train) == len(read_manifest(main_corpus, "train"))  # no repeats either


def test_test_splits_read_the_same_sentences_in_order(main_corpus):
    """Sentence k of `test` and of `test_held_out_voices` is the same; ids differ across splits."""
    test = read_manifest(main_corpus, "test")
    held = read_manifest(main_corpus, "test_held_out_voices")
    shared = min(len(test), len(held))
    assert [r["text"] for r in test[:shared]] == [r["text"] for r in held[:shared]]
    ids = [row["id"] for split in SPLITS for row in read_manifest(main_corpus, split)]
    assert len(ids) == len(set(ids))


def test_held_out_voices_are_disjoint_from_training_voices(main_corpus):
    """test_held_out_voices speakers never train; test speakers are the training speakers."""
    speakers = {split: {row["speaker"] for row in read_manifest(main_corpus, split)}
                for split in SPLITS}
    assert not speakers["test_held_out_voices"] & speakers["train"]
    assert speakers["test"] <= speakers["train"]
    for pool in POOLS.values():
        assert not pairs(pool.train) & pairs(pool.held_out)
    main = POOLS["main"]
    assert len(main.train) >= 6 and len(main.held_out) >= 3
    assert speakers["train"] == {s.name for s in main.train}  # 40 s is enough for every speaker


def test_speakers_take_turns(main_corpus):
    """Within a split, utterance counts per speaker differ by at most one."""
    for split in SPLITS:
        counts = {}
        for row in read_manifest(main_corpus, split):
            counts[row["speaker"]] = counts.get(row["speaker"], 0) + 1
        assert max(counts.values()) - min(counts.values()) <= 1


def test_standin_shares_no_voice_and_no_sentence_with_main(main_corpus, standin_corpus):
    """Standin speakers share no (voice, variant) with main; standin trains on no main sentence."""
    main, standin = POOLS["main"], POOLS["standin"]
    assert not pairs([*main.train, *main.held_out]) & pairs([*standin.train, *standin.held_out])
    assert len(standin.train) >= 6
    standin_train = {normalized_words(r["text"]) for r in read_manifest(standin_corpus, "train")}
    main_texts = {normalized_words(r["text"])
                  for split in SPLITS for r in read_manifest(main_corpus, split)}
    assert standin_train and not standin_train & main_texts
    standin_speakers = {r["speaker"] for split in SPLITS for r in read_manifest(standin_corpus,
                                                                                split)}
    main_speakers = {s.name for s in [*main.train, *main.held_out]}
    assert not standin_speakers & main_speakers


def test_standin_corpus_never_says_a_held_back_word(standin_corpus):
    """Every split of the stand-in corpus (its test sentences too) reads only the stand-in
    lexicon; corpus.json says which lexicon it used."""
    held = held_back_forms()
    said = {word for split in SPLITS for row in read_manifest(standin_corpus, split)
            for word in spoken_words(row["text"])}
    assert said and not said & held
    corpus = json.loads((standin_corpus / "corpus.json").read_text())
    assert corpus["sentences"]["lexicon"] == "standin"


def test_every_speaker_sounds_different():
    """At one rate, all 17 voice+variant pairs render different audio (espeak-ng ignores a
    variant on some voice names, e.g. en-gb+f1 sounds exactly like en-gb)."""
    speakers = [s for pool in POOLS.values() for s in (*pool.train, *pool.held_out)]
    digests = {hashlib.sha256(voices.render(dataclasses.replace(s, rate=170),
                                            "Testing one two.").tobytes()).hexdigest()
               for s in speakers}
    assert len(digests) == len(speakers)


def program_phonemes(speaker, text: str) -> str:
    """What `espeak-ng -q --ipa` prints for the speaker's accent, without stress marks."""
    printed = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", speaker.voice, text],
                             capture_output=True, text=True, check=True).stdout
    return " ".join(printed.replace("ˈ", "").replace("ˌ", "").split())


def test_library_rendering_matches_the_espeak_ng_program(tmp_path):
    """A batch's first utterance, rendered through libespeak-ng, is sample-identical to the
    espeak-ng program's, and its phonemes are the program's --ipa transcription; later ones in
    the batch are deterministic for the batch's content."""
    text = "Why don't we fix Zoe's quiet jukebox?"
    speakers = [POOLS["main"].train[0], POOLS["main"].held_out[2], POOLS["standin"].train[4]]
    with synth._executor(2) as pool:
        for index, speaker in enumerate(speakers):
            job = (f"u{index}", f"u{index}.wav", text, speaker)
            [(_, samples, _, phonemes)] = pool.submit(voices.render_batch, [job],
                                                      str(tmp_path)).result()
            reference = voices.render(speaker, text)
            assert phonemes == program_phonemes(speaker, text)
            written, rate = soundfile.read(tmp_path / f"u{index}.wav", dtype="int16")
            assert (rate, samples) == (16000, len(reference))
            assert (written == reference).all()
        jobs = [(f"b{i}", f"b{i}.wav", text, s) for i, s in enumerate(speakers)]
        first = pool.submit(voices.render_batch, jobs, str(tmp_path)).result()
        assert pool.submit(voices.render_batch, jobs, str(tmp_path)).result() == first


def test_rerun_reuses_the_corpus(main_corpus, monkeypatch):
    """Asking again for the same corpus returns its corpus.json and renders nothing."""
    def no_build(*args, **kwargs):
        raise AssertionError("rebuilt an existing corpus")

    monkeypatch.setattr(synth, "_build", no_build)
    corpus = build_corpus(main_corpus, train_seconds=TRAIN_SECONDS, test_seconds=TEST_SECONDS,
                          seed=3)
    assert corpus == json.loads((main_corpus / "corpus.json").read_text())


def test_user_errors(main_corpus, tmp_path, monkeypatch):
    """A foreign directory, other parameters, bad sizes or no espeak-ng are clear UserErrors."""
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not a synthetic corpus"):
        build_corpus(foreign, train_seconds=5, test_seconds=3)
    with pytest.raises(UserError, match=r"seed 3 \(asked 4\)"):
        build_corpus(main_corpus, train_seconds=TRAIN_SECONDS, test_seconds=TEST_SECONDS, seed=4)
    with pytest.raises(UserError, match="train_seconds"):
        build_corpus(tmp_path / "x", train_seconds=0, test_seconds=3)
    with pytest.raises(UserError, match="voice pool"):
        build_corpus(tmp_path / "x", train_seconds=5, test_seconds=3, voice_pool="robots")
    monkeypatch.setattr(voices.shutil, "which", lambda name: None)  # as if not installed
    with pytest.raises(UserError, match="apt-get install espeak-ng"):
        build_corpus(tmp_path / "x", train_seconds=5, test_seconds=3)
    assert not (tmp_path / "x").exists()


def test_cli_builds_then_reuses(tmp_path, capsys):
    """`harness synth` parses durations, builds, prints the splits, and reuses on a rerun."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    argv = ["--hours", "20s", "--test-minutes", "0.1", "--out", str(tmp_path / "c"),
            "--seed", "1", "--workers", "1"]
    args = parser.parse_args(argv)
    assert (args.hours, args.test_minutes, args.voices) == (20.0, 6.0, "main")
    assert run_synth(args) == 0
    printed = capsys.readouterr().out
    assert "test_held_out_voices" in printed and "built in" in printed
    assert run_synth(parser.parse_args(argv)) == 0
    assert "reused" in capsys.readouterr().out
    assert parser.parse_args(["--hours", "1h30min", "--out", "o"]).hours == 5400.0
    assert parser.parse_args(["--hours", "2.5", "--out", "o"]).hours == 9000.0
    assert parser.parse_args(["--hours", "1", "--out", "o"]).test_minutes == 600.0
    for bad in ("-1", "soon", "0"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--hours", bad, "--out", "o"])


# --- the sentence generator ---------------------------------------------------------------



@given(seed=seeds, stream=streams, bucket=buckets)
@settings(max_examples=30, deadline=None)
def test_streams_are_deterministic_distinct_and_well_formed(seed, stream, bucket):
    """A stream repeats for its seed; its sentences are distinct, 3-15 words of allowed
    characters, start with a capital, end with punctuation and belong to the asked bucket."""
    first = list(itertools.islice(sentence_stream(seed, stream, bucket), 40))
    assert first == list(itertools.islice(sentence_stream(seed, stream, bucket), 40))
    assert len({normalized_words(text) for text in first}) == len(first)
    for text in first:
        assert ALLOWED.match(text) and MIN_WORDS <= len(text.split()) <= MAX_WORDS
        assert text[0].isupper() and text[-1] in ".?!" and "  " not in text
        assert sentence_bucket(text) == bucket


def held_back_forms() -> set[str]:
    return LEXICONS["full"].forms() - LEXICONS["standin"].forms()


def spoken_words(text: str) -> set[str]:
    """Lower-cased words of a sentence, a possessive also as its owner ("zoe's" -> "zoe")."""
    words = set(normalized_words(text).split())
    return words | {word.removesuffix("'s") for word in words}


def test_the_standin_lexicon_holds_back_about_half_of_each_word_class():
    """Held back by lemma: every form of a held-back lemma goes, 35-65% of each class goes, and
    the full lexicon is the word lists whole (so main corpora did not change)."""
    full, standin = LEXICONS["full"], LEXICONS["standin"]
    for kind in ("nouns", "mass_nouns", "names", "adjectives", "verbs", "intransitive",
                 "adverbs"):
        whole, kept = getattr(full, kind), getattr(standin, kind)
        assert set(kept) < set(whole) and 0.35 <= 1 - len(kept) / len(whole) <= 0.65, kind
        for entry in whole:
            lemma = entry if isinstance(entry, str) else entry[0]
            assert (entry in kept) != held_back_from_standin(lemma)
    assert set(string.ascii_lowercase) <= set("".join(standin.forms()))


@given(seed=seeds, stream=streams, bucket=buckets)
@settings(max_examples=15, deadline=None)
def test_standin_streams_never_hold_a_held_back_word_and_full_streams_do(seed, stream, bucket):
    """What fine-tuning must teach: 200 sentences of the full lexicon use held-back words; the
    stand-in lexicon's sentences never do, whatever the seed, stream or bucket."""
    held = held_back_forms()
    standin = itertools.islice(sentence_stream(seed, stream, bucket, "standin"), 200)
    assert not set().union(*map(spoken_words, standin)) & held
    full = itertools.islice(sentence_stream(seed, stream, bucket, "full"), 200)
    assert set().union(*map(spoken_words, full)) & held


@given(seed=seeds)
@settings(max_examples=10, deadline=None)
def test_a_few_hundred_sentences_cover_every_letter_and_the_apostrophe(seed):
    """300 training sentences of any seed contain all 26 letters and an apostrophe."""
    text = " ".join(itertools.islice(sentence_stream(seed, "main/train", "main"), 300))
    assert set(string.ascii_lowercase) | {"'"} <= set(text.lower())


@given(main_seed=seeds, standin_seed=seeds)
@settings(max_examples=10, deadline=None)
def test_no_test_sentence_of_any_seed_is_trained_on(main_seed, standin_seed):
    """Test streams and training streams never meet, across pools and seeds."""
    tests = {normalized_words(t) for t in itertools.islice(
        sentence_stream(main_seed, "main/test", "test"), 300)}
    for pool in ("main", "standin"):
        trained = {normalized_words(t) for t in itertools.islice(
            sentence_stream(standin_seed, f"{pool}/train", pool), 300)}
        assert not tests & trained


@given(seed=seeds)
@settings(max_examples=30, deadline=None)
def test_bucket_is_a_property_of_the_words(seed):
    """Case and punctuation do not move a sentence to another bucket."""
    text = random_sentence(random.Random(seed))
    variant = text.upper().replace(".", "!").replace(",", "")
    assert normalized_words(variant) == normalized_words(text)
    assert sentence_bucket(variant) == sentence_bucket(text)


def test_normalized_words_example():
    """The documented example holds."""
    assert normalized_words("It's cold, Zoe!") == "it's cold zoe"


def test_a_dev_split_reads_held_out_sentences_no_test_split_reads_and_changes_nothing_else(
        main_corpus, tmp_path):
    """dev_seconds > 0 adds dev.jsonl: the training speakers reading sentences of the test bucket
    that neither test split reads; train and test come out byte for byte as without it, and a
    corpus asked for with a dev split is not the one built without."""
    from harness.synth.sentences import normalized_words, sentence_bucket

    out = tmp_path / "with-dev"
    corpus = build_corpus(out, train_seconds=TRAIN_SECONDS, test_seconds=TEST_SECONDS, seed=3,
                          workers=2, dev_seconds=8)
    assert corpus["requested"]["dev_seconds"] == 8.0
    for split in ("train", "test", "test_held_out_voices"):
        assert (out / f"{split}.jsonl").read_bytes() == \
            (main_corpus / f"{split}.jsonl").read_bytes()
    dev = read_manifest(out, "dev")
    seconds = [row["duration"] for row in dev]
    assert sum(seconds) >= 8 and sum(seconds[:-1]) < 8
    texts = {normalized_words(row["text"]) for row in dev}
    tested = {normalized_words(row["text"]) for split in ("test", "test_held_out_voices")
              for row in read_manifest(out, split)}
    trained = {normalized_words(row["text"]) for row in read_manifest(out, "train")}
    assert texts and not texts & tested and not texts & trained
    assert {sentence_bucket(row["text"]) for row in dev} == {"test"}
    assert {row["speaker"] for row in dev} <= {row["speaker"]
                                               for row in read_manifest(out, "train")}
    assert "--dev-minutes 8s" in (out / "README.md").read_text()
    with pytest.raises(UserError, match="built differently"):
        build_corpus(main_corpus, train_seconds=TRAIN_SECONDS, test_seconds=TEST_SECONDS,
                     seed=3, dev_seconds=8)
