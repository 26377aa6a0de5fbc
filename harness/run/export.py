"""Hand a finished run's model on: a directory transformers' pipeline loads, with a model card.

    harness export runs/default/aa0c7640c7 my-model
    pipeline("automatic-speech-recognition", model="my-model")("utterance.wav")

The directory is the run's model/ (weights, config, Wav2Vec2Processor: feature extractor and
CTC tokenizer, as save_pretrained wrote them) plus README.md, a model card written from the
run's own files: its test scores (scores.json), data and provenance (spec.json), training
(train_summary.json), and the command that made it. harness_run.json is the run's spec.json.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from harness.errors import UserError
from harness.files import MODEL_DIR, SCORES_FILE, SPEC_FILE, SUMMARY_FILE, building, locked

CARD = "README.md"
RUN_FILE = "harness_run.json"


def export_run(run_dir: Path, out: Path, command: str) -> Path:
    """Copy run_dir/model/ to `out` (a new directory) with its model card; `out`."""
    run_dir, out = Path(run_dir), Path(out)
    model = run_dir / MODEL_DIR
    if not (model / "config.json").is_file():
        raise UserError(f"{model}: no trained model there (a run directory holds model/ once "
                        "its training finished; see harness status)")
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out}: exists and is not empty; export into a new directory")
    about = _read_json(run_dir / SPEC_FILE, required=True)
    scores = _read_json(run_dir / SCORES_FILE, required=False)
    summary = _read_json(run_dir / SUMMARY_FILE, required=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    with locked(out), building(out) as tmp:
        shutil.copytree(model, tmp, dirs_exist_ok=True)
        shutil.copy(run_dir / SPEC_FILE, tmp / RUN_FILE)
        (tmp / CARD).write_text(model_card(about, scores, summary, command), encoding="utf-8")
    return out


def _read_json(path: Path, required: bool) -> dict | None:
    if not path.is_file():
        if required:
            raise UserError(f"{path}: not found; is {path.parent} a harness run directory?")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise UserError(f"{path}: not valid JSON ({error})") from None


def model_card(about: dict, scores: dict | None, summary: dict | None, command: str) -> str:
    """README.md with the hub's metadata header, from the run's spec.json, scores and summary."""
    spec = about.get("spec", {})
    model, text = spec.get("model", {}), spec.get("text", {})
    start = model.get("name_or_path") or f"preset {model.get('preset')} (random weights)"
    standin = " (a STAND-IN for a pretrained encoder, built by `harness standin`)" \
        if str(start).startswith("standin:") else ""
    lines = [
        "---",
        "library_name: transformers",
        "pipeline_tag: automatic-speech-recognition",
        "language: en",
        "tags: [wav2vec2, ctc, harness]",
        "---",
        f"# {about.get('suite')} / {about.get('slug')} (run {about.get('run_id')})",
        "",
        f"CTC fine-tuned from `{start}`{standin} by harness.",
        "",
        "```python",
        "from transformers import pipeline",
        'asr = pipeline("automatic-speech-recognition", model="path/to/this/directory")',
        'print(asr("utterance.wav")["text"])  # 16 kHz mono',
        "```",
        "",
        *_scores_section(scores),
        *_data_section(about, spec.get("data", {})),
        "## Normalization",
        "",
        f"- Training targets (what the model writes): rule set `{text.get('targets')}`",
        f"- Scoring: reference and hypothesis both normalized by each of "
        f"{', '.join(f'`{name}`' for name in text.get('scoring', []))}, at scoring time",
        "",
        *_training_section(spec.get("train", {}), summary),
        "## Made by",
        "",
        f"- Trained by: `harness run {about.get('suite_file')} --only {about.get('run_id')}`",
        f"- Exported by: `{command}`",
        f"- harness {about.get('harness_version')}, git {_git(about.get('git'))}; "
        + ", ".join(f"{name} {version}" for name, version in
                    sorted((about.get("versions") or {}).items())),
        "",
    ]
    return "\n".join(lines)


def _scores_section(scores: dict | None) -> list[str]:
    if not scores:
        return ["## Test scores", "", "Not scored (no scores.json in the run directory).", ""]
    rows = ["| rule set | WER | 95% interval | CER | 95% interval |",
            "| --- | --- | --- | --- | --- |"]
    for name, entry in scores.get("rule_sets", {}).items():
        rows.append(f"| `{name}` | {_pct(entry.get('wer'))} | "
                    f"{_interval(entry.get('wer_interval'))} | {_pct(entry.get('cer'))} | "
                    f"{_interval(entry.get('cer_interval'))} |")
    return ["## Test scores", "",
            f"Corpus-level rates, (S + D + I) / N over {scores.get('n_utterances')} test "
            f"utterances of {scores.get('n_speakers')} speakers; intervals: bootstrap.", "",
            *rows, ""]


def _data_section(about: dict, data: dict) -> list[str]:
    report = (about.get("data") or {}).get("report") or {}
    labeled = report.get("labeled") or {}
    lines = ["## Data", "", f"- Source: `{data.get('source')}`"
             + (f" `{data['name']}`" if data.get("name") else "")]
    if labeled:
        lines.append(f"- Labeled training audio: {labeled.get('hours', 0) * 60:.1f} min, "
                     f"{labeled.get('utterances')} utterances, {labeled.get('speakers')} "
                     "speakers")
    if data.get("labeled"):
        lines.append(f"- Requested: data.labeled = {data['labeled']} s")
    fingerprint = (about.get("data") or {}).get("fingerprint")
    if fingerprint:
        lines.append(f"- Data fingerprint: `{fingerprint[:16]}`")
    return [*lines, ""]


def _training_section(train: dict, summary: dict | None) -> list[str]:
    lines = ["## Training", "",
             f"- lr {train.get('lr')}, schedule {train.get('schedule')}, freeze "
             f"`{train.get('freeze')}`, {train.get('batch_seconds')} s of audio per batch, "
             f"seed {train.get('seed')}"]
    if summary:
        dev = summary.get("dev") or {}
        lines.append(f"- {summary.get('steps')} updates in "
                     f"{(summary.get('train_seconds') or 0) / 60:.1f} min"
                     + (f"; final dev CER {_pct(dev.get('dev_cer'))}, WER "
                        f"{_pct(dev.get('dev_wer'))}" if dev.get("dev_cer") is not None else ""))
    return [*lines, ""]


def _pct(rate) -> str:
    return "n/a" if not isinstance(rate, (int, float)) else f"{100 * rate:.2f}%"


def _interval(interval: dict | None) -> str:
    if not interval or interval.get("low") is None:
        return "-"
    return f"[{_pct(interval['low'])}, {_pct(interval['high'])}]"


def _git(git: dict | None) -> str:
    if not git or not git.get("sha"):
        return "unknown"
    return str(git["sha"])[:10] + (" (uncommitted changes)" if git.get("dirty") else "")
