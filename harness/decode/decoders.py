"""A run's decoders beyond greedy, run over its stored log-probabilities (no model, no retraining).

    results = decode_stored(spec, run_dir, cache_root, training_texts=lambda: texts)
    # -> {decoder name: {"decoder": settings used, "lm": ARPA info, "tuning": dev grid}}

Each decoder writes run_dir/predictions.<name>.jsonl, in predictions.jsonl's format, which
scoring reads like any other predictions. Called at the end of a run (harness.run.execute) and
by `harness score RUN_DIR --decoder NAME` to re-decode a finished run with other settings.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from harness.config.settings import GREEDY, DecoderSpec, RunSpec
from harness.decode.beam import BeamSearch, tune
from harness.decode.lm import build_arpa, lm_lines, prebuilt
from harness.decode.logprobs import LogProbs
from harness.decode.predict import write_predictions
from harness.errors import UserError
from harness.files import LOGPROBS_DIR, SPEC_FILE, decoded_predictions_file, read_json

TEST_OUTPUTS, DEV_OUTPUTS = "test.npz", "dev.npz"


def extra_decoders(spec: RunSpec) -> list[DecoderSpec]:
    """The run's decoders other than greedy (greedy is predictions.jsonl itself)."""
    return [decoder for decoder in spec.eval.decoders if decoder.kind != GREEDY]


def logprobs_paths(run_dir: Path) -> tuple[Path, Path]:
    """Where a run keeps its test and dev log-probabilities."""
    directory = Path(run_dir) / LOGPROBS_DIR
    return directory / TEST_OUTPUTS, directory / DEV_OUTPUTS


def decode_stored(spec: RunSpec, run_dir: Path, cache_root: Path,
                  training_texts: Callable[[], Iterable[str]],
                  decoders: Sequence[DecoderSpec] | None = None) -> dict[str, dict]:
    """Decode the stored test outputs with each decoder (the run's extra ones by default),
    tuning alpha and beta on the stored dev outputs; write predictions.<name>.jsonl."""
    decoders = extra_decoders(spec) if decoders is None else list(decoders)
    if not decoders:
        return {}
    test_path, dev_path = logprobs_paths(run_dir)
    test = LogProbs.load(test_path)
    dev = LogProbs.load(dev_path) if dev_path.is_file() else None
    held_out = [r["reference"] for r in test.records] + \
        [r["reference"] for r in (dev.records if dev else [])]
    results = {}
    for decoder in decoders:
        started = time.time()
        arpa, lm_info = None, None
        if decoder.kind == "ngram":
            if decoder.lm.arpa is not None:
                arpa, lm_info = prebuilt(Path(decoder.lm.arpa))
            else:
                lines, source = lm_lines(decoder.lm, targets=spec.text.targets,
                                         training_texts=training_texts, held_out=held_out,
                                         synth_seed=spec.data.synth.seed)
                arpa, lm_info = build_arpa(lines, decoder.lm.order, cache_root, source)
        search = BeamSearch(test.labels, arpa)
        tuning = tune(search, dev, decoder, spec.text.scoring[0]) if arpa else None
        alpha, beta = (tuning["alpha"], tuning["beta"]) if tuning else (None, None)
        hypotheses = search.decode(test, decoder.beam_width, alpha, beta)
        write_predictions(test.predictions(hypotheses),
                          Path(run_dir) / decoded_predictions_file(decoder.name))
        grid = {"alpha_grid": list(decoder.alpha), "beta_grid": list(decoder.beta)} if arpa \
            else {"alpha_grid": None, "beta_grid": None}
        settings = decoder.model_dump(mode="json")
        if decoder.lm is not None and decoder.lm.arpa is not None:
            settings["lm"] = {"arpa": decoder.lm.arpa}  # text and order are the file's
        results[decoder.name] = {
            "decoder": {**settings, "alpha": alpha, "beta": beta, **grid},
            "lm": lm_info, "tuning": tuning, "decode_s": round(time.time() - started, 3)}
    return results


def redecode_spec(run_dir: Path, name: str, *, text: Sequence[str] | None = None,
                  lm_text: str | None = None, lm_order: int | None = None,
                  lm_arpa: str | None = None,
                  alpha: Sequence[float] | None = None, beta: Sequence[float] | None = None,
                  beam_width: int | None = None) -> tuple[RunSpec, DecoderSpec]:
    """A finished run's spec (spec.json) and the decoder `name` of it, changed by the given
    options; a name the spec lacks makes a new decoder (ngram with lm_text, else beam)."""
    from pydantic import ValidationError

    spec_path = Path(run_dir) / SPEC_FILE
    if not spec_path.is_file():
        raise UserError(f"{run_dir}: no {SPEC_FILE} (not a run directory?)")
    raw_spec = read_json(spec_path)["spec"]
    if text:
        raw_spec["text"]["scoring"] = list(text)
    base = next((d for d in raw_spec.get("eval", {}).get("decoders", [])
                 if d.get("name") == name), None)
    if name == GREEDY:
        raise UserError("greedy is predictions.jsonl itself: rescore it with --text")
    decoder = dict(base or {"name": name})
    if lm_arpa is not None:
        decoder.update(lm={"arpa": str(Path(lm_arpa).resolve())}, kind="ngram")
    elif lm_text is not None or lm_order is not None:
        lm = {k: v for k, v in (decoder.get("lm") or {}).items() if k != "arpa" and v is not None}
        lm.update({k: v for k, v in (("text", lm_text), ("order", lm_order)) if v is not None})
        if lm.get("text") not in (None, "train", "synthetic"):
            lm["text"] = str(Path(lm["text"]).resolve())
        decoder.update(lm=lm, kind="ngram")
    decoder.update({k: v for k, v in (("alpha", alpha), ("beta", beta),
                                      ("beam_width", beam_width)) if v is not None})
    raw_spec["eval"]["decoders"] = [d for d in raw_spec["eval"].get("decoders", [])
                                    if d.get("name") != name] + [decoder]
    try:
        spec = RunSpec.model_validate(raw_spec)
    except ValidationError as error:
        problems = "; ".join(
            ".".join(map(str, e["loc"])) + ": " * bool(e["loc"])
            + e["msg"].removeprefix("Value error, ") for e in error.errors())
        raise UserError(f"decoder {name!r}: {problems}") from None
    return spec, spec.eval.decoder(name)
