"""A split's CTC log-probabilities, stored so decoding never needs the model again.

    outputs = LogProbs(labels, records, matrices)      # one [frames, vocab] matrix per utterance
    outputs.save(run_dir / "logprobs" / "test.npz")
    LogProbs.load(path).greedy()                      # == the hypotheses of predictions.jsonl

One .npz per split: the matrices concatenated as float16 (half the bytes of float32; a beam
search reads them as float32), the frame count of each, and a JSON header with the vocabulary
in id order and, per utterance, its id, speaker, duration and raw reference, so a rescoring
writes predictions.<decoder>.jsonl from this file alone.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import UserError
from harness.text.vocab import ctc_greedy_decode_batch

FORMAT = 1
RECORD_KEYS = ("id", "speaker", "duration", "reference")


@dataclass
class LogProbs:
    """Per utterance: its record (id, speaker, duration, reference) and [frames, V] log-probs."""

    labels: list[str]  # vocabulary tokens in id order
    records: list[dict]
    matrices: list[np.ndarray]

    def __post_init__(self) -> None:
        if len(self.records) != len(self.matrices):
            raise ValueError(f"{len(self.records)} records but {len(self.matrices)} matrices")
        for matrix in self.matrices:
            if matrix.ndim != 2 or matrix.shape[1] != len(self.labels):
                raise ValueError(f"a log-prob matrix is {matrix.shape}, expected [frames, "
                                 f"{len(self.labels)}]")

    @property
    def vocab(self) -> dict[str, int]:
        return {token: index for index, token in enumerate(self.labels)}

    def greedy(self) -> list[str]:
        """Argmax hypotheses, decoded as predictions.jsonl's are (harness.text.vocab)."""
        return [ctc_greedy_decode_batch(m.argmax(axis=-1)[None], [len(m)], self.vocab)[0]
                for m in self.matrices]

    def predictions(self, hypotheses: Sequence[str]) -> list[dict]:
        """predictions.jsonl records: each utterance's record with its hypothesis."""
        return [{**record, "hypothesis": hypothesis}
                for record, hypothesis in zip(self.records, hypotheses, strict=True)]

    def save(self, path: Path) -> None:
        """Write the .npz through a temporary sibling and os.replace (never half a file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        header = {"format": FORMAT, "labels": self.labels,
                  "records": [{key: r[key] for key in RECORD_KEYS} for r in self.records]}
        frames = np.array([len(m) for m in self.matrices], dtype=np.int64)
        stacked = (np.concatenate(self.matrices) if self.matrices
                   else np.zeros((0, len(self.labels)))).astype(np.float16)
        temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(temp, "wb") as out:
                np.savez(out, logprobs=stacked, frames=frames,
                         header=np.array(json.dumps(header, ensure_ascii=False)))
            os.replace(temp, path)
        finally:
            temp.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path) -> LogProbs:
        """Read a file `save` wrote; a missing or unreadable one is a UserError naming it."""
        path = Path(path)
        if not path.is_file():
            raise UserError(f"{path}: no stored log-probabilities (the run was decoded before "
                            "they were kept, or with no decoder but greedy: rerun it)")
        try:
            with np.load(path, allow_pickle=False) as data:
                header = json.loads(str(data["header"]))
                stacked, frames = data["logprobs"], data["frames"]
        except (OSError, ValueError, KeyError) as error:
            raise UserError(f"{path}: not a log-probability file ({error})") from None
        if header.get("format") != FORMAT:
            raise UserError(f"{path}: format {header.get('format')}, expected {FORMAT}")
        bounds = np.concatenate([[0], np.cumsum(frames)])
        matrices = [stacked[bounds[k]:bounds[k + 1]] for k in range(len(frames))]
        return cls(header["labels"], header["records"], matrices)
