"""The n-gram language model of an `ngram` decoder: its text, a leak check, a cached ARPA file.

    lines, source = lm_lines(decoder.lm, targets="blog", training_texts=..., held_out=...)
    arpa, info = build_arpa(lines, order=4, cache_root=Path(".harness-cache"), source=source)

The text is normalized with the run's target rule set, so the LM's words are spelled as the
model's outputs are. Where it comes from (`eval.decoders[].lm.text`):
- `train`: the transcripts the run trains on (never its dev or test text);
- `synthetic`: sentences of the corpus grammar (harness.synth.sentences) from the `standin`
  bucket. The main corpus trains on `main` and tests on `test`, so these are sentences no
  training or test split of the main corpus holds: "an LM trained on separate text", as
  LibriSpeech's LM corpus is separate from its training transcripts;
- any other value: a UTF-8 text file, one sentence per line.
Whatever the source, a text holding a test or dev sentence is refused (`check_no_leak`): an LM
that has read the test set would inflate every score it gives, and one that has read the dev
set would tune alpha and beta on sentences it knows.

Kneser-Ney estimation is kaldingram's (pure Python; KenLM's `lmplz` has no wheel); KenLM
(`kenlm-ex`) reads the ARPA file for the beam search. An ARPA file is built once per (text,
order, kaldingram version) and cached by content under `<cache>/lm/<key>/`, like prepared data.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import time
from collections.abc import Callable, Iterable, Sequence
from importlib import metadata
from pathlib import Path

from harness.config.settings import LMSpec
from harness.errors import UserError
from harness.files import content_hash, locked, read_json, write_json_atomic

SOURCES = ("train", "synthetic")
LM_FILE, INFO_FILE = "lm.arpa", "lm.json"
SYNTH_BUCKET, SYNTH_STREAM = "standin", "lm"
INSTALL = ("pip install 'harness[lm]' && pip install --no-deps pyctcdecode==0.5.0 (its metadata "
           "pins numpy<2, which it runs without: see the README)")


def lm_lines(lm: LMSpec, *, targets: str, training_texts: Callable[[], Iterable[str]],
             held_out: Sequence[str], synth_seed: int = 0) -> tuple[list[str], str]:
    """The LM's sentences, normalized with `targets`, and a description of where they came
    from; UserError if any is one of `held_out` (the test and dev references, raw)."""
    from harness.text.normalize import get_rule_set

    normalize = get_rule_set(targets)
    if lm.text == "train":
        raw, source = list(training_texts()), "the run's training transcripts"
    elif lm.text == "synthetic":
        from harness.synth.sentences import sentence_stream

        raw = list(itertools.islice(
            sentence_stream(synth_seed, SYNTH_STREAM, SYNTH_BUCKET, "full"), lm.sentences))
        source = (f"{lm.sentences} sentences of the corpus grammar (seed {synth_seed}) that "
                  "no training, dev or test split reads")
    else:
        raw, source = read_text_file(Path(lm.text)), f"the text file {lm.text}"
    lines = [line for text in raw if (line := _line(normalize, text))]
    if not lines:
        raise UserError(f"the LM text ({source}) has no words after normalization with "
                        f"{targets!r}")
    check_no_leak(lines, held_out, normalize, source)
    return lines, source


def _line(normalize, text: str) -> str:
    """A sentence as the LM reads it and the leak check compares it: normalized, one space."""
    return " ".join(normalize(text).split())


def read_text_file(path: Path) -> list[str]:
    """Lines of a UTF-8 text file; a missing file or a bad byte is a UserError naming it."""
    if not path.is_file():
        raise UserError(f"LM text file {path} does not exist")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise UserError(f"{path}:{line}: not UTF-8 ({error.reason})") from None
    return text.splitlines()


def check_no_leak(lines: Sequence[str], held_out: Sequence[str], normalize, source: str) -> None:
    """Refuse an LM text that contains a test or dev sentence (compared normalized)."""
    held = {_line(normalize, text) for text in held_out}
    held.discard("")
    leaked = sorted({line for line in lines if line in held})
    if leaked:
        raise UserError(
            f"the LM text ({source}) contains {len(leaked)} of the run's test or dev sentences "
            f"(first: {leaked[0]!r}); an LM trained on them would inflate the scores it gives. "
            "Remove them from the text, or use another lm.text")


def build_arpa(lines: Sequence[str], order: int, cache_root: Path, source: str
               ) -> tuple[Path, dict]:
    """The ARPA file of a Kneser-Ney `order`-gram LM of `lines`, from the cache or built."""
    kaldingram_version = _require("kaldingram")
    text = "\n".join(lines) + "\n"
    text_sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    key = content_hash({"order": order, "text_sha256": text_sha,
                        "kaldingram": kaldingram_version})
    directory = Path(cache_root) / "lm" / key
    with locked(directory):
        if not (directory / INFO_FILE).is_file():
            started = time.time()
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "text.txt").write_text(text, encoding="utf-8")
            _kneser_ney(directory / "text.txt", order, directory / LM_FILE)
            (directory / "text.txt").unlink()
            write_json_atomic(directory / INFO_FILE, {
                "key": key, "order": order, "source": source, "sentences": len(lines),
                "words": sum(len(line.split()) for line in lines), "text_sha256": text_sha,
                "kaldingram": kaldingram_version, "build_s": round(time.time() - started, 2)})
    return directory / LM_FILE, read_json(directory / INFO_FILE)


def prebuilt(path: Path) -> tuple[Path, dict]:
    """A prebuilt LM file as given, described by its sha256 and, for ARPA, its n-gram counts.

    Its text is unknown, so no leak check can run: the record says so."""
    if not path.is_file():
        raise UserError(f"lm.arpa {path} does not exist")
    digest, counts = hashlib.sha256(), {}
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)  # an ARPA header's "ngram N=count" lines come first
        digest.update(head)
        for chunk in iter(lambda: handle.read(1 << 24), b""):
            digest.update(chunk)
    for line in head.decode("latin-1").splitlines():
        order, _, count = line.removeprefix("ngram ").partition("=")
        if line.startswith("ngram ") and order.strip().isdigit() and count.strip().isdigit():
            counts[int(order)] = int(count)
    return path, {"source": f"the prebuilt LM {path}", "arpa": str(path),
                  "sha256": digest.hexdigest(), "order": max(counts) if counts else None,
                  "ngrams": counts or None, "leak_check": "not possible: its text is not given"}


def _kneser_ney(text: Path, order: int, out: Path) -> None:
    from kaldingram import train

    temp = out.with_name(out.name + ".tmp")
    with contextlib.redirect_stderr(io.StringIO()):  # its tqdm bars, one per order
        train.main(["--ngram-order", str(order), "--text", str(text), "--lm", str(temp)])
    temp.replace(out)


def _require(package: str) -> str:
    """The installed version of an LM package; UserError with the install line when absent."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        raise UserError(f"n-gram decoding needs {package}: {INSTALL}") from None


def check_installed() -> None:
    """UserError unless pyctcdecode, kenlm and kaldingram import (before anything trains)."""
    for module, package in (("pyctcdecode", "pyctcdecode"), ("kenlm", "kenlm-ex"),
                            ("kaldingram", "kaldingram")):
        try:
            __import__(module)
        except ImportError:
            raise UserError(f"the suite decodes with an n-gram LM, which needs {package}: "
                            f"{INSTALL}") from None
