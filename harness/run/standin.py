"""The stand-in pretrained checkpoint the offline default suite fine-tunes from.

The mission is fine-tuning a *pretrained* encoder with little labeled data. No real checkpoint
can be downloaded here, and a tiny wav2vec2 trained from random weights sits on the CTC
all-blank plateau for hundreds of updates on this CPU; wav2vec2's self-supervised objective at
this size gave a head start of only ~150-200 updates for 10 minutes of pretraining. So the stand-in
is trained SUPERVISED, with CTC, on a separate synthetic corpus (`voices: standin`: 16 espeak
voices and sentences that the default suite's corpus never uses, drawn from a lexicon without
half of the content words); the suite then loads it through `model.name_or_path` exactly like a
hub checkpoint, with a fresh CTC head. It is stated as a stand-in wherever it is used (its model
card, the report header).

Why PHONES, and why words are held back: a real pretrained encoder has learned sounds, not
spelling; the labeled data of fine-tuning teaches it how English writes them. A stand-in trained
on characters has already learned to spell every word it heard, so fine-tuning has little left
to learn from more labeled audio. So the stand-in recognizes phones (espeak-ng's IPA
transcription in the speaker's accent, the corpus's `phonemes` column), and never hears half the
content words, which fine-tuning has to learn to spell. README.md gives the measurements behind
both choices, the build time and the checkpoint's own CER.

    harness standin --out checkpoints/tiny-standin    (defaults below)
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from harness.config.settings import RunSpec
from harness.files import MODEL_DIR, building, locked, write_json
from harness.run.provenance import git_state, versions

DEFAULTS = {"hours": 3.0, "steps": 2000, "seed": 0}
TARGETS = "none"  # phoneme strings are already clean: no rule set should touch them
CARD = "README.md"
SUMMARY = "standin.json"


def standin_spec(hours: float, steps: int, seed: int) -> RunSpec:
    """The pretraining run: the tiny preset, trained end to end with CTC on the phonemes of the
    standin voices."""
    return RunSpec.model_validate({
        # Phone targets: the corpus's IPA transcription in the speaker's accent, read through the
        # manifest's `phonemes` column and kept as written (rule set `none`).
        "data": {"source": "synthetic", "columns": {"text": "phonemes"},
                 "synth": {"train": hours * 3600, "test": 300, "seed": seed + 1000,
                           "voices": "standin"}},
        "model": {"preset": "tiny"},
        # Everything trains (the conv encoder starts from random weights); the schedule is the one
        # measured to leave the plateau after ~400 updates at this size (lr 1e-3, 300 warmup).
        # 40 s batches (~16 utterances, the batch of that measurement): twice the updates of
        # 60 s batches for the same audio.
        "train": {"lr": 1e-3, "max_steps": steps, "warmup_steps": min(300, steps // 3),
                  "batch_seconds": 40, "freeze": "none", "seed": seed,
                  "checkpoint_every": 200, "eval_every": max(steps // 4, 1)},
        "text": {"targets": TARGETS, "scoring": [TARGETS]},
    })


def build_standin(out: Path, cache_root: Path, *, hours: float = DEFAULTS["hours"],
                  steps: int = DEFAULTS["steps"], seed: int = DEFAULTS["seed"],
                  on_progress=None) -> dict:
    """Train the stand-in, score it on its own held-out sentences, write it to `out` whole."""
    from harness.data.prepare import prepare
    from harness.run.execute import train_evaluate_score

    spec = standin_spec(hours, steps, seed)
    out, cache_root = Path(out), Path(cache_root)
    started = time.time()
    prepared = prepare(spec, cache_root)
    run_dir = cache_root / "standin-runs" / f"{prepared.key}-{steps}-{seed}"
    results = train_evaluate_score(spec, prepared, run_dir, {}, on_progress=on_progress)
    summary, scored = results["train"], results["scores"]
    scores = scored["rule_sets"][TARGETS]
    result = {
        "what": "stand-in for a pretrained wav2vec2 encoder: the tiny preset trained supervised "
                "with CTC to recognize PHONES (espeak-ng's IPA, not spelling) in synthetic speech "
                "of voices and sentences that the default suite never uses, without half of the "
                "content words; fine-tuning has to teach it English spelling",
        "command": f"harness standin --out {out} --hours {hours} --steps {steps} --seed {seed}",
        "spec": spec.model_dump(mode="json", by_alias=True),
        "data": prepared.report,
        "data_fingerprint": prepared.fingerprint,
        "steps": summary["steps"],
        "train_seconds": round(summary["train_seconds"], 1),
        "wall_seconds": round(time.time() - started, 1),
        "test": {"cer": scores["cer"], "wer": scores["wer"], "utterances": scored["n_utterances"],
                 "targets": "IPA phones"},
        "versions": versions(),
        "git": git_state(),
    }
    with locked(out), building(out) as tmp:
        shutil.copytree(run_dir / MODEL_DIR, tmp, dirs_exist_ok=True)
        write_json(tmp / SUMMARY, result)
        (tmp / CARD).write_text(model_card(result), encoding="utf-8")
    return result


def model_card(result: dict) -> str:
    """A short README for the checkpoint directory, from the build's own figures."""
    data, test = result["data"], result["test"]
    return "\n".join([
        "# tiny-standin: a STAND-IN pretrained checkpoint",
        "",
        result["what"] + ".",
        "",
        f"- Training audio: {data['labeled']['hours'] * 60:.0f} min, "
        f"{data['labeled']['utterances']} utterances, {data['labeled']['speakers']} speakers",
        f"- Updates: {result['steps']} ({result['train_seconds'] / 60:.1f} min of training)",
        f"- Its own held-out test sentences ({test['utterances']} utterances), scored on "
        f"{test.get('targets', 'characters')}: CER {test['cer']:.3f}, WER {test['wer']:.3f}",
        f"- Data fingerprint: `{result['data_fingerprint'][:16]}`",
        "",
        f"Rebuild: `{result['command']}`",
        "",
    ])

