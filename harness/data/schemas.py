"""Column layouts of the corpora people fine-tune on, mapped to the harness's four roles.

A role is what preparation needs of a row: `audio` (the sound), `text` (the transcript),
`speaker` (for per-speaker scores and balancing) and `id` (unique within the corpus, used to
prove that no test utterance is in the training pool). Every source yields its rows as
`RawUtterance`s in these roles.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from harness.data.audio import AudioRef
from harness.errors import UserError

ROLES = ("audio", "text", "speaker", "id")

SCHEMAS: dict[str, dict[str, str]] = {
    # timit_asr: file, audio, text, phonetic_detail, word_detail, dialect_region, sentence_type,
    # speaker_id, id. Its `id` is the SENTENCE id (SA1 is read by every speaker), so the file
    # path is what identifies an utterance.
    "timit": {"audio": "audio", "text": "text", "speaker": "speaker_id", "id": "file"},
    # librispeech_asr: file, audio, text, speaker_id, chapter_id, id ("1272-128104-0000").
    "librispeech": {"audio": "audio", "text": "text", "speaker": "speaker_id", "id": "id"},
    # Libri-light's fine-tuning sets are LibriSpeech utterances: the same columns.
    "librilight": {"audio": "audio", "text": "text", "speaker": "speaker_id", "id": "id"},
    # common_voice: client_id, path, audio (48 kHz MP3), sentence, up_votes, ..., locale.
    "common_voice": {"audio": "audio", "text": "sentence", "speaker": "client_id", "id": "path"},
    # Our manifests, audiofolders and the synthetic corpus; `path` is accepted for audio too.
    "generic": {"audio": "audio", "text": "text", "speaker": "speaker", "id": "id"},
}

# A corpus-specific column kept on every prepared row when the source has it (TIMIT: DR1..DR8).
DIALECT_COLUMN = "dialect_region"


@dataclass(frozen=True)
class RawUtterance:
    """One row of a source, before decoding; `row` is where it came from (file:line, index)."""

    id: str
    speaker: str | None
    text: str | None
    audio: AudioRef
    row: str
    dialect_region: str | None = None


# Columns that hold a file path rather than an Audio feature, tried when `audio` is absent.
PATH_COLUMNS = ("path", "file", "file_name", "audio_path", "audio_filepath")


def column_map(schema: str, overrides: Mapping[str, str]) -> dict[str, str]:
    """Role -> source column for a schema, with the suite's `data.columns` overrides applied."""
    unknown = sorted(set(overrides) - set(ROLES))
    if unknown:
        raise UserError(
            f"data.columns: unknown role(s) {', '.join(unknown)}; roles are {', '.join(ROLES)}"
        )
    return {**SCHEMAS[schema], **overrides}


def resolve_columns(mapping: Mapping[str, str], available: list[str], where: str) -> dict:
    """Role -> the column actually present; `audio` falls back to a path column, ids/speakers
    may be absent (row number / no speaker), a missing transcript column is an error."""
    resolved: dict[str, str | None] = {}
    audio = mapping["audio"]
    if audio not in available:
        audio = next((c for c in PATH_COLUMNS if c in available), None)
    if audio is None:
        raise UserError(
            f"{where}: no audio column {mapping['audio']!r} (columns: {column_names(available)}); "
            "set data.columns.audio"
        )
    if mapping["text"] not in available:
        raise UserError(
            f"{where}: no transcript column {mapping['text']!r} (columns: "
            f"{column_names(available)});"
            " set data.columns.text or data.schema"
        )
    resolved["audio"], resolved["text"] = audio, mapping["text"]
    resolved["speaker"] = mapping["speaker"] if mapping["speaker"] in available else None
    resolved["id"] = mapping["id"] if mapping["id"] in available else None
    return resolved


def column_names(names: list[str]) -> str:
    """Column names for a message, each with repr where it holds an invisible or surrounding
    character a plain print would hide: `path, '\\ufeffid', 'text '`."""
    return ", ".join(name if name.isprintable() and name == name.strip() and name else repr(name)
                     for name in map(str, names))
