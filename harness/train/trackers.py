"""Experiment trackers through accelerate: TensorBoard, W&B, MLflow, Aim, Comet, ClearML, ...

    train.log_with: [tensorboard]   (or `harness run --log-with tensorboard`, several allowed)

One tracker run per harness run, named by the run's slug and grouped by its suite: TensorBoard
writes runs/<suite>/tensorboard/<slug>/ (point `tensorboard --logdir runs/<suite>/tensorboard`
at it), W&B and the others get project (or experiment) = suite, run name = slug. Logged: every
train_log.jsonl record as scalars (train/loss, train/lr, train/grad_norm,
train/audio_seconds_per_s, ...; dev/dev_wer, dev/dev_cer, ...) at its update, and the run's
settings as hyperparameters. Only the main process logs.

The tracker classes are accelerate's own (`accelerate.tracking.LOGGER_TYPE_TO_CLASS`, what
`Accelerator.init_trackers` builds), started here because the run's name and directory are
known only once training starts. A resumed run appends to the same tracker run; updates logged
after its last checkpoint by the interrupted attempt appear twice there (train_log.jsonl drops
them).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from harness.config.settings import TRACKERS, RunSpec
from harness.errors import UserError
from harness.files import SPEC_FILE

# tracker -> the packages that provide it (any one), and what to install.
PACKAGES: dict[str, tuple[tuple[str, ...], str]] = {
    "tensorboard": (("tensorboard", "tensorboardX"), "pip install 'harness[tensorboard]'"),
    "wandb": (("wandb",), "pip install wandb"),
    "mlflow": (("mlflow",), "pip install mlflow"),
    "aim": (("aim",), "pip install aim"),
    "comet_ml": (("comet_ml",), "pip install comet_ml"),
    "clearml": (("clearml",), "pip install clearml"),
    "dvclive": (("dvclive",), "pip install dvclive"),
    "swanlab": (("swanlab",), "pip install swanlab"),
    "trackio": (("trackio",), "pip install trackio"),
}
assert set(PACKAGES) == set(TRACKERS)  # config/settings.TRACKERS lists the same names


def check_installed(names: Iterable[str], where: str = "train.log_with") -> None:
    """A UserError naming each requested tracker whose package is missing, and how to add it."""
    missing = [name for name in names
               if not any(importlib.util.find_spec(package) for package in PACKAGES[name][0])]
    if missing:
        hints = "; ".join(f"{name}: {PACKAGES[name][1]}" for name in missing)
        raise UserError(f"{where}: tracker package not installed ({hints})")


def _constructor_args(name: str, suite: str, slug: str, logging_dir: Path) -> dict[str, Any]:
    """accelerate's tracker arguments that make 'one run named slug, grouped by suite'."""
    if name == "tensorboard":
        return {"run_name": slug, "logging_dir": str(logging_dir / "tensorboard")}
    if name == "wandb":
        return {"run_name": suite, "name": slug, "group": suite}
    if name == "mlflow":
        return {"experiment_name": suite, "run_name": slug}
    if name == "aim":
        return {"run_name": slug, "logging_dir": str(logging_dir), "experiment": suite}
    if name == "clearml":
        return {"run_name": suite, "task_name": slug}
    if name == "swanlab":
        return {"run_name": suite, "experiment_name": slug}
    if name == "trackio":
        return {"run_name": suite, "name": slug}
    if name == "dvclive":
        return {"dir": str(logging_dir / "dvclive" / slug)}
    return {"run_name": f"{suite}/{slug}"}  # comet_ml: a project per run name


class Trackers:
    """The started trackers of one run; `log` takes train_log.jsonl records."""

    def __init__(self, trackers: list[Any]):
        self.trackers = trackers

    def log(self, record: dict[str, Any]) -> None:
        """A train record under train/, a dev record (it has dev_cer) under dev/, at its update."""
        prefix = "dev/" if "dev_cer" in record or "dev_utterances" in record else "train/"
        values = {prefix + key: float(value) for key, value in record.items()
                  if key != "step" and isinstance(value, (int, float))
                  and not isinstance(value, bool)}
        for tracker in self.trackers:
            tracker.log(values, step=int(record["step"]))

    def finish(self) -> None:
        for tracker in self.trackers:
            tracker.finish()


def with_trackers(report: Callable[[dict], None], trackers: Trackers | None
                  ) -> Callable[[dict], None]:
    """`report`, also logging each record to the trackers (the record as it was written)."""
    if trackers is None:
        return report

    def both(record: dict) -> None:
        trackers.log(record)
        report(record)

    return both


def start_trackers(spec: RunSpec, run_dir: Path, is_main_process: bool) -> Trackers | None:
    """The run's trackers, started with its settings as hyperparameters; None when none asked.

    Suite and slug come from the run's spec.json (written by the runner before training);
    without one (a run trained outside a suite), the run directory's parent and name.
    """
    names = tuple(dict.fromkeys(spec.train.log_with))
    if not names or not is_main_process:
        return None
    check_installed(names)
    from accelerate.tracking import LOGGER_TYPE_TO_CLASS

    run_dir = Path(run_dir)
    stored = run_dir / SPEC_FILE
    about = json.loads(stored.read_text()) if stored.is_file() else {}
    suite = str(about.get("suite", run_dir.parent.name))
    slug = str(about.get("slug", run_dir.name))
    started = []
    for name in names:
        tracker = LOGGER_TYPE_TO_CLASS[name](**_constructor_args(name, suite, slug,
                                                                 run_dir.parent))
        tracker.start()
        tracker.store_init_configuration(hyperparameters(spec, suite, slug, run_dir.name))
        started.append(tracker)
    return Trackers(started)


def hyperparameters(spec: RunSpec, suite: str, slug: str, run_id: str) -> dict[str, Any]:
    """The run's settings flattened to dotted names (train.lr, ...), values as trackers take
    them: numbers, booleans and strings; None and lists as text."""
    flat: dict[str, Any] = {"suite": suite, "slug": slug, "run_id": run_id}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else key, inner)
        elif isinstance(value, (bool, int, float, str)):
            flat[prefix] = value
        else:
            flat[prefix] = json.dumps(value)

    walk("", spec.model_dump(mode="json", by_alias=True))
    return flat
