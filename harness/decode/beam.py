"""Beam search over stored CTC log-probabilities, with or without an n-gram LM (pyctcdecode).

    search = BeamSearch(outputs.labels, arpa_path)          # arpa_path None: no LM
    hypotheses = search.decode(outputs, beam_width=32, alpha=0.5, beta=1.0)
    choice = tune(search, dev_outputs, decoder_spec, rule_set="blog")

pyctcdecode's prefix beam search adds the probabilities of every frame path that collapses to a
prefix, so even without an LM it can differ from greedy's single best path (both are exact
where one path dominates each frame). With an LM, a word's score is
log p_ctc + alpha * log p_lm + beta * (words), alpha and beta chosen on the dev set only.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from harness.config.settings import DecoderSpec
from harness.decode.lm import INSTALL
from harness.decode.logprobs import LogProbs
from harness.errors import UserError
from harness.scoring.counts import count_edits
from harness.text.vocab import PAD, UNK, WORD_DELIMITER

UNK_MARK = "⁇"  # pyctcdecode's spelling of an unknown token; read back as [UNK]


def pyctcdecode_labels(labels: Sequence[str]) -> list[str]:
    """The vocabulary as pyctcdecode reads it: blank '', word delimiter ' '."""
    special = {PAD: "", WORD_DELIMITER: " ", UNK: UNK_MARK}
    return [special.get(token, token) for token in labels]


class BeamSearch:
    """A pyctcdecode decoder over one vocabulary, with one LM (or none) loaded once."""

    def __init__(self, labels: Sequence[str], arpa: Path | None = None):
        try:
            from pyctcdecode import build_ctcdecoder
        except ImportError:
            raise UserError(f"beam-search decoding needs pyctcdecode: {INSTALL}") from None
        import logging

        # "Only N unigrams passed as vocabulary", "faster if you build a binary file": true
        # of every miniature LM, and said on every load
        logging.getLogger("pyctcdecode").setLevel(logging.ERROR)
        with _quiet_stderr():  # KenLM prints its ARPA loading progress bar from C++
            self.decoder = build_ctcdecoder(pyctcdecode_labels(labels),
                                            kenlm_model_path=str(arpa) if arpa else None)
        self.has_lm = arpa is not None

    def decode(self, outputs: LogProbs, beam_width: int, alpha: float | None = None,
               beta: float | None = None) -> list[str]:
        """The best beam of every utterance, spaces collapsed, unknown tokens as [UNK]."""
        if self.has_lm:
            self.decoder.reset_params(alpha=alpha, beta=beta)
        return [" ".join(self.decoder.decode(matrix.astype(np.float32), beam_width=beam_width)
                         .replace(UNK_MARK, UNK).split())
                for matrix in outputs.matrices]


def tune(search: BeamSearch, dev: LogProbs, decoder: DecoderSpec, rule_set: str) -> dict:
    """alpha and beta from the decoder's grid with the lowest dev WER under `rule_set`
    (ties: the first in grid order); every point's dev WER is kept for the report."""
    from harness.text.normalize import get_rule_set

    grid = decoder.grid
    if len(grid) == 1:
        alpha, beta = grid[0]
        return {"alpha": alpha, "beta": beta, "grid": [], "rule_set": rule_set,
                "dev_utterances": len(dev.records) if dev else 0}
    if dev is None or not dev.records:
        raise UserError(f"decoder {decoder.name!r} tunes alpha and beta on a dev split, and the "
                        "run has none (its dev curve reads test utterances, which tuning must "
                        "never see): set data.dev_split, or give the decoder one alpha and one "
                        "beta")
    normalize = get_rule_set(rule_set)
    references = [normalize(record["reference"]) for record in dev.records]
    rows = []
    for alpha, beta in grid:
        hypotheses = [normalize(h) for h in search.decode(dev, decoder.beam_width, alpha, beta)]
        rows.append({"alpha": alpha, "beta": beta,
                     "dev_wer": count_edits(references, hypotheses, "word").rate()})
    best = min(rows, key=lambda row: (row["dev_wer"] is None, row["dev_wer"] or 0.0))
    return {"alpha": best["alpha"], "beta": best["beta"], "grid": rows, "rule_set": rule_set,
            "dev_utterances": len(dev.records)}


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """File descriptor 2 into a temporary file for the block; its text is re-raised on error."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to silence
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException as error:
            os.dup2(saved, 2)
            sink.seek(0)
            said = sink.read().decode("utf-8", "replace").strip()
            if said:
                error.add_note(f"stderr: {said[-2000:]}")
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
