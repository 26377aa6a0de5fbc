"""Every setting of a run, declared once, typed, with a one-line description.

A run spec has five sections: data, model, train, text, eval. Fields marked
`affects_results=False` (logging cadence, decoding batch size, which rule sets to score with)
are left out of the run id, so changing them never retrains anything.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from harness.config.durations import parse_duration

Duration = Annotated[float, BeforeValidator(parse_duration)]


def _labeled_duration(value: Any) -> Any:
    """'all' (or empty) means the whole training pool; anything else is a duration."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "all"):
        return None
    return parse_duration(value)


LabeledDuration = Annotated[float | None, BeforeValidator(_labeled_duration)]


def _duration_or_none(value: Any) -> Any:
    """0 (or none) means no such split; anything else is a duration."""
    if value in (0, None) or (isinstance(value, str) and value.strip().lower() in ("0", "none")):
        return 0.0
    return parse_duration(value)


OptionalDuration = Annotated[float, BeforeValidator(_duration_or_none)]

_FREEZE = re.compile(r"^(feature_encoder|none|encoder_for_steps:\d+|layers:\d+)$")


def setting(default: Any, description: str, *, affects_results: bool = True,
            added_later: bool = False, **bounds: Any) -> Any:
    """A declared setting: default, one-line description, bounds (ge/gt/le), result relevance.

    `added_later`: a setting that affects results but came after results were stored; at its
    default it is left out of run ids and data keys, so adding it retrains nothing.
    """
    return Field(
        default,
        description=description,
        json_schema_extra={"affects_results": affects_results, "added_later": added_later},
        **bounds,
    )


class Section(BaseModel):
    """A frozen settings section; unknown keys are errors, and so are booleans given as numbers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_not_booleans(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic reads true as 1 and false as 0, and YAML reads yes/no/on/off as booleans:
        # `max_steps: true` would train one step. Strings stay readable ('1e-3' is a float).
        flags = value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(flag, bool) for flag in flags) and info.field_name is not None:
            if _is_number_type(cls.model_fields[info.field_name].annotation):
                shown = [str(flag).lower() for flag in flags]
                shown_text = shown[0] if flags is not value else f"[{', '.join(shown)}]"
                raise ValueError(f"expected a number, got {shown_text}")
        return value


def _is_number_type(annotation: Any) -> bool:
    """int, float, and unions or tuples of them (bool is not a number here)."""
    return annotation in (int, float) or any(_is_number_type(arg) for arg in get_args(annotation))


class SynthSpec(Section):
    """The offline synthetic English corpus (espeak-ng)."""

    train: Duration = setting(3600.0, "audio time of the synthetic training pool (e.g. 1h)")
    test: Duration = setting(
        600.0, "audio time of the held-out test set (sentences never trained on)"
    )
    seed: int = setting(0, "seed for sentences, voices and speaking rates", ge=0)
    dev: OptionalDuration = setting(
        0.0, "audio time of a dev split (held-out sentences no test split reads; data.dev_split: "
        "dev), for tuning decoders; 0: none", added_later=True, ge=0
    )
    test_voices: Literal["same", "held_out"] = setting(
        "same", "test speakers: the training voices, or voices never heard in training"
    )
    voices: Literal["main", "standin"] = setting(
        "main", "voice pool: main (the suites' speakers) or standin (disjoint voices and "
        "sentences, used to build the stand-in pretrained checkpoint)"
    )


class DataSpec(Section):
    """Where the audio comes from and which part of it a run trains and tests on."""

    source: Literal["synthetic", "hf", "local"] = setting(
        "synthetic",
        "synthetic (espeak-ng corpus), hf (a hub dataset) or local (a directory/manifest)",
    )
    name: str | None = setting(
        None, "hub dataset published as data files (no loading script), source: hf"
    )
    config: str | None = setting(None, "hub dataset configuration, e.g. clean (source: hf)")
    data_dir: str | None = setting(None, "data directory passed to load_dataset (source: hf)")
    path: str | None = setting(
        None, "local dataset: save_to_disk directory, audiofolder, CSV/JSONL manifest, or the "
        "root of a TIMIT / LibriSpeech / Libri-light tree (with that schema)"
    )
    schema_name: Literal["timit", "librispeech", "librilight", "common_voice", "generic"] = Field(
        "generic",
        alias="schema",
        description="layout of the source: timit, librispeech, librilight, common_voice or "
        "generic",
        json_schema_extra={"affects_results": True},
    )
    librispeech_path: str | None = setting(
        None, "schema librilight: LibriSpeech root holding the dev/test split folders "
        "(default: LibriSpeech/ beside librispeech_finetuning/)", added_later=True
    )
    columns: dict[str, str] = setting(
        {}, "column overrides: {audio, text, speaker, id} -> the source's column names"
    )
    train_split: str = setting("train", "split holding the labeled training pool")
    test_split: str = setting("test", "split scored at the end of each run")
    dev_split: str | None = setting(
        None, "split monitored during training (default: a slice of the test split, never the pool)"
    )
    dev_utterances: int = setting(
        64, "utterances monitored during training: a seeded selection of the dev split",
        affects_results=False, ge=1,
    )
    labeled: LabeledDuration = setting(
        None, "labeled audio time drawn from the pool (10min, 1h, 5h), or all of it; "
        "librilight: 10min, 1h, 10h are the official sets"
    )
    subset_seed: int = setting(
        0, "seed of the pool order whose prefixes are the nested subsets", ge=0
    )
    balance_speakers: bool = setting(False, "interleave speakers in the pool order")
    min_seconds: float = setting(
        0.0, "drop training utterances shorter than this (after resampling)", ge=0
    )
    max_seconds: float = setting(
        20.0, "drop training utterances longer than this (test and dev sets keep theirs)", gt=0
    )
    test_max_utterances: int | None = setting(None, "score only the first N test utterances", ge=1)
    sample_rate: int = setting(
        16000, "feature extractor sampling rate; audio is resampled to it", gt=0
    )
    normalize_audio: bool = setting(
        True, "zero-mean unit-variance per utterance, as the extractor does"
    )
    synth: SynthSpec = setting(SynthSpec(), "synthetic corpus settings (source: synthetic)")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _source_needs_location(self) -> DataSpec:
        if self.source == "hf" and not self.name:
            raise ValueError("source: hf needs data.name (a hub dataset name)")
        if self.source == "local" and not self.path:
            raise ValueError("source: local needs data.path")
        if self.schema_name == "librilight" and self.source != "local":
            raise ValueError("schema: librilight reads the corpus tree: it needs source: local")
        if self.librispeech_path and self.schema_name != "librilight":
            raise ValueError("data.librispeech_path is for schema: librilight only")
        if self.min_seconds >= self.max_seconds:
            raise ValueError("data.min_seconds must be below data.max_seconds")
        return self


class ModelSpec(Section):
    """The encoder to fine-tune: a named checkpoint or a preset built from a config."""

    name_or_path: str | None = setting(
        None, "hub id or local directory of a wav2vec2-family checkpoint"
    )
    preset: Literal["tiny", "small", "base"] | None = setting(
        None, "a wav2vec2 built from a config with random weights: tiny and small for CPU runs, "
        "base (wav2vec2-base's layout, 95M parameters) for GPU checks"
    )
    mask_time_prob: float | None = setting(
        0.05, "SpecAugment: share of frames masked in time", ge=0, le=1
    )
    mask_time_length: int | None = setting(10, "SpecAugment: frames per time mask", ge=1)
    mask_feature_prob: float | None = setting(
        0.0, "SpecAugment: share of channels masked", ge=0, le=1
    )
    mask_feature_length: int | None = setting(10, "SpecAugment: channels per channel mask", ge=1)
    layerdrop: float | None = setting(
        None, "probability of skipping a transformer layer (empty = checkpoint's)", ge=0, le=1
    )
    hidden_dropout: float | None = setting(
        None, "dropout in the transformer (empty = checkpoint's)", ge=0, le=1
    )
    activation_dropout: float | None = setting(
        None, "dropout after the feed-forward activation", ge=0, le=1
    )
    attention_dropout: float | None = setting(
        None, "dropout on attention probabilities", ge=0, le=1
    )
    feat_proj_dropout: float | None = setting(
        None, "dropout after the feature projection", ge=0, le=1
    )
    final_dropout: float | None = setting(None, "dropout before the CTC head", ge=0, le=1)
    init: Literal["pretrained", "random"] = setting(
        "pretrained", "pretrained: the checkpoint's weights; random: its architecture and "
        "config from random weights (the from-scratch comparison)", added_later=True
    )

    @model_validator(mode="after")
    def _exactly_one_source(self) -> ModelSpec:
        if (self.name_or_path is None) == (self.preset is None):
            raise ValueError("give exactly one of model.name_or_path and model.preset")
        if self.init == "random" and self.preset is not None:
            raise ValueError("model.init: random needs model.name_or_path (a preset is always "
                             "built from random weights)")
        return self


# accelerate's tracker names (accelerate.utils.LoggerType without "all"): train.log_with.
TRACKERS = ("tensorboard", "wandb", "mlflow", "aim", "comet_ml", "clearml", "dvclive", "swanlab",
            "trackio")


class TrainSpec(Section):
    """How a run fine-tunes: optimizer, schedule, batching, freezing, precision."""

    lr: float = setting(1e-4, "peak learning rate of AdamW", gt=0)
    max_steps: int | None = setting(None, "optimizer updates; give this or epochs", ge=1)
    epochs: float | None = setting(
        None, "passes over the labeled subset; give this or max_steps", gt=0
    )
    warmup_steps: int = setting(0, "linear warmup updates (linear schedule)", ge=0)
    schedule: Literal["linear", "tri_stage", "constant"] = setting(
        "linear", "linear warmup+decay, tri_stage warmup/hold/decay, or constant after warmup"
    )
    stage_ratios: tuple[float, float, float] = setting(
        (0.1, 0.4, 0.5), "tri_stage: shares of updates spent warming up, holding and decaying"
    )
    final_lr_scale: float = setting(0.05, "tri_stage: final lr as a share of the peak", ge=0, le=1)
    batch_seconds: float = setting(
        120.0, "cap on padded audio seconds per batch (per device)", gt=0
    )
    max_batch_size: int | None = setting(None, "cap on utterances per batch", ge=1)
    grad_accum: int = setting(1, "batches accumulated per update", ge=1)
    weight_decay: float = setting(0.0, "AdamW weight decay", ge=0)
    adam_betas: tuple[float, float] = setting((0.9, 0.98), "AdamW betas")
    max_grad_norm: float = setting(1.0, "gradient clipping norm", gt=0)
    freeze: str = setting(
        "feature_encoder",
        "feature_encoder | none | encoder_for_steps:N (head only for N updates) | layers:K",
    )
    precision: Literal["auto", "no", "fp16", "bf16"] = setting(
        "auto", "mixed precision; auto = bf16 on GPUs that have it, else fp16 on GPU, no on CPU"
    )
    seed: int = setting(0, "seed of initialization, batching and masking", ge=0)
    # Recomputation replays each layer's forward with its saved RNG state (torch.utils.checkpoint),
    # so gradients are the same: only memory and speed change.
    gradient_checkpointing: bool = setting(
        False, "recompute activations in the backward pass (less memory, slower); never taken "
        "from the checkpoint's config", affects_results=False
    )
    keep_checkpoint: bool = setting(
        False, "keep the resumable checkpoint (optimizer state) after the run finishes; "
        "model/ is always kept", affects_results=False
    )
    # On: the frozen encoder's output per utterance, unpadded (no padding in its group norm's
    # statistics), which is why it is in run ids; see harness/train/features.py.
    feature_cache: bool = setting(
        True, "compute the frozen feature encoder's output once per utterance (unpadded) and "
        "train on it; no effect when the feature encoder trains (freeze: none)"
    )
    eval_every: int = setting(
        0, "dev evaluation every N updates (0 = at the end)", affects_results=False, ge=0
    )
    checkpoint_every: int = setting(
        200, "resumable checkpoint every N updates (and at the end)", affects_results=False, ge=0
    )
    log_every: int = setting(
        10, "train_log.jsonl line every N updates", affects_results=False, ge=1
    )
    log_with: tuple[Literal[TRACKERS], ...] = setting(
        (), "experiment trackers that also get the train_log.jsonl figures and the settings "
        "(tensorboard, wandb, mlflow, ...; harness/train/trackers.py)", affects_results=False
    )

    @field_validator("adam_betas")
    @classmethod
    def _betas_below_one(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not all(0 <= beta < 1 for beta in value):
            raise ValueError(f"AdamW betas must lie in [0, 1), got {list(value)}")
        return value

    @field_validator("stage_ratios")
    @classmethod
    def _ratios_sum_to_one(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(ratio < 0 for ratio in value) or abs(sum(value) - 1) > 1e-6:
            raise ValueError(f"tri_stage ratios must be >= 0 and sum to 1, got {list(value)}")
        return value

    @field_validator("freeze")
    @classmethod
    def _known_freeze_policy(cls, value: str) -> str:
        if not _FREEZE.match(value):
            raise ValueError(
                f"unknown freezing policy {value!r}: use feature_encoder, none, "
                "encoder_for_steps:N or layers:K"
            )
        return value

    @model_validator(mode="after")
    def _one_length(self) -> TrainSpec:
        if (self.max_steps is None) == (self.epochs is None):
            raise ValueError("give exactly one of train.max_steps and train.epochs")
        return self


class TextSpec(Section):
    """Which normalization makes the training targets, and which ones scoring uses."""

    targets: str = setting("blog", "rule set applied to transcripts before the vocabulary is built")
    scoring: tuple[str, ...] = setting(
        ("blog",),
        "rule sets applied to reference and hypothesis at scoring time",
        affects_results=False,
    )

    @field_validator("targets")
    @classmethod
    def _known_target_rules(cls, value: str) -> str:
        _check_rule_set(value)
        return value

    @field_validator("scoring", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("scoring")
    @classmethod
    def _known_scoring_rules(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("text.scoring needs at least one rule set")
        for name in value:
            _check_rule_set(name)
        return value


def _check_rule_set(name: str) -> None:
    from harness.text.normalize import get_rule_set

    get_rule_set(name)  # raises ValueError listing the available rule sets


_DECODER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # a NAME of the expect: language
GREEDY = "greedy"


class LMSpec(Section):
    """The n-gram language model of an `ngram` decoder: where its text comes from, its order."""

    text: str = setting(
        "train",
        "the LM's training text: train (the run's training transcripts), synthetic (the "
        "corpus grammar's sentences that no training, dev or test split reads) or a text file",
    )
    # KenLM reads bigrams and up; kaldingram writes up to 5-grams
    order: int = setting(4, "n-gram order (Kneser-Ney, kaldingram)", ge=2, le=5)
    sentences: int = setting(20000, "sentences drawn for text: synthetic", ge=1)
    arpa: str | None = setting(
        None, "a prebuilt ARPA (or KenLM binary) file instead of text and order, e.g. "
        "LibriSpeech's 4-gram; its text cannot be checked for test sentences"
    )

    @model_validator(mode="before")
    @classmethod
    def _arpa_or_text(cls, value: Any) -> Any:
        if isinstance(value, dict) and value.get("arpa") is not None:
            given = sorted({"text", "order", "sentences"} & value.keys())
            if given:
                raise ValueError(f"lm.arpa is a built LM: it takes no {', '.join(given)}")
        return value


class DecoderSpec(Section):
    """One way of turning a run's test-set CTC outputs into text (harness/decode/)."""

    name: str = setting(..., "what reports and expect: call it (wer.NAME[baseline])")
    kind: Literal["greedy", "beam", "ngram"] = setting(
        "beam", "greedy (argmax), beam (prefix beam search) or ngram (beam search + an LM)"
    )
    beam_width: int = setting(32, "beams kept per frame", ge=1)
    lm: LMSpec | None = setting(None, "the language model (kind ngram)")
    alpha: tuple[float, ...] = setting(
        (0.25, 0.5, 1.0, 1.5), "LM weights tried on the dev set (the best one decodes test)"
    )
    beta: tuple[float, ...] = setting(
        (0.0, 1.0, 2.0), "word insertion bonuses tried on the dev set"
    )

    @model_validator(mode="before")
    @classmethod
    def _kind_from_lm(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"name": value, "kind": GREEDY if value == GREEDY else "beam"}
        if isinstance(value, dict) and "kind" not in value:
            return {**value, "kind": "ngram" if value.get("lm") is not None else "beam"}
        return value

    @field_validator("alpha", "beta", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, (int, float, str)) else value

    @model_validator(mode="after")
    def _consistent(self) -> DecoderSpec:
        if not _DECODER_NAME.match(self.name):
            raise ValueError(f"decoder name {self.name!r}: use letters, digits and _, starting "
                             "with a letter (expect: names it as wer.NAME)")
        from harness.text.normalize import RULE_SET_NAMES

        if self.name in RULE_SET_NAMES:
            raise ValueError(f"decoder name {self.name!r} is a text rule set's name; wer.NAME "
                             "would be ambiguous")
        if (self.name == GREEDY) != (self.kind == GREEDY):
            raise ValueError("the greedy decoder is called greedy, and only it")
        if self.kind == "ngram" and self.lm is None:
            raise ValueError(f"decoder {self.name!r}: kind ngram needs lm: {{text, order}}")
        if self.kind != "ngram" and self.lm is not None:
            raise ValueError(f"decoder {self.name!r}: lm is for kind ngram, not {self.kind}")
        if not self.alpha or not self.beta:
            raise ValueError(f"decoder {self.name!r}: alpha and beta need at least one value")
        if min(self.alpha) < 0:
            raise ValueError(f"decoder {self.name!r}: alpha (the LM weight) must be >= 0")
        return self

    @property
    def grid(self) -> list[tuple[float, float]]:
        """(alpha, beta) pairs tuned on dev; a beam search without LM has none to tune."""
        if self.kind != "ngram":
            return []
        return [(alpha, beta) for alpha in self.alpha for beta in self.beta]


class EvalSpec(Section):
    """How the test set is decoded and how sure the scores are."""

    batch_seconds: float = setting(
        160.0, "audio seconds per decoding batch", affects_results=False, gt=0
    )
    bootstrap: int = setting(
        1000, "bootstrap resamples for 95% intervals", affects_results=False, ge=100
    )
    block: Literal["utterance", "speaker"] = setting(
        "utterance", "bootstrap unit: utterances, or speakers as blocks", affects_results=False
    )
    # Not train.seed: a suite that replicates runs over training seeds must draw the same
    # resamples for every run, or single-run intervals and paired tests would disagree.
    bootstrap_seed: int = setting(
        0, "seed of the bootstrap resamples, the same for every run of a suite",
        affects_results=False, ge=0
    )
    # Not in run ids: decoding reads the stored CTC outputs, so runs that differ only here
    # train once (harness score --decoder re-decodes a finished run).
    decoders: tuple[DecoderSpec, ...] = setting(
        (DecoderSpec(name=GREEDY, kind=GREEDY),),
        "decoders of the test set: greedy (always), beam, or ngram with an LM; each scored",
        affects_results=False,
    )

    @field_validator("decoders", mode="before")
    @classmethod
    def _greedy_first(cls, value: Any) -> Any:
        # greedy is always decoded (predictions.jsonl); listing it is optional
        values = [value] if isinstance(value, (str, dict)) else list(value or [])
        names = [v if isinstance(v, str) else (v.get("name") if isinstance(v, dict)
                                                 else getattr(v, "name", None))
                 for v in values]
        return values if GREEDY in names else [GREEDY, *values]

    @field_validator("decoders")
    @classmethod
    def _unique_names(cls, value: tuple[DecoderSpec, ...]) -> tuple[DecoderSpec, ...]:
        names = [decoder.name for decoder in value]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"decoder name given more than once: {', '.join(repeated)}")
        return value

    def decoder(self, name: str) -> DecoderSpec | None:
        """The decoder called `name`, or None."""
        return next((d for d in self.decoders if d.name == name), None)


class RunSpec(Section):
    """Everything one run needs: data, model, training, text normalization, evaluation."""

    data: DataSpec = setting(DataSpec(), "where the audio comes from")
    model: ModelSpec = setting(..., "the encoder to fine-tune")
    train: TrainSpec = setting(..., "how to fine-tune it")
    text: TextSpec = setting(TextSpec(), "normalization of targets and of scoring")
    eval: EvalSpec = setting(EvalSpec(), "decoding and confidence intervals")

    @model_validator(mode="after")
    def _decoders_fit_the_data(self) -> RunSpec:
        # Without data.dev_split the dev set is a selection of the test split (for the dev
        # curve only): alpha and beta tuned on it would be tuned on test.
        if self.data.dev_split is None:
            for decoder in self.eval.decoders:
                if len(decoder.grid) > 1:
                    raise ValueError(
                        f"eval.decoders: {decoder.name!r} tunes alpha and beta on the dev "
                        "split, and data.dev_split is not set (the dev set is then drawn from "
                        "the test split, which tuning must never see): set data.dev_split, or "
                        "give one alpha and one beta")
        for decoder in self.eval.decoders:
            lm = decoder.lm
            if lm is not None and lm.arpa is None and lm.text == "synthetic" \
                    and self.data.source != "synthetic":
                raise ValueError(
                    f"eval.decoders: {decoder.name!r}: lm.text synthetic draws the synthetic "
                    f"corpus's sentences; this run's data is {self.data.source}: use train or "
                    "a text file")
        return self


def field_paths(model: type[BaseModel] = RunSpec, prefix: str = "") -> dict[str, Any]:
    """Every dotted setting path -> its FieldInfo, e.g. 'train.lr'; the vocabulary of axes."""
    paths: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        key = f"{prefix}{info.alias or name}"
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            paths.update(field_paths(annotation, key + "."))
        else:
            paths[key] = info
    return paths


def result_fields(spec: RunSpec, drop_unaffecting: bool = True) -> dict[str, Any]:
    """The spec as a plain dict, as run ids hash it: without the settings that cannot change
    results (kept when not `drop_unaffecting`: data keys have always hashed them) and
    without settings added later that are at their default."""
    dumped = spec.model_dump(mode="json", by_alias=True)
    for path, info in field_paths().items():
        extra = info.json_schema_extra or {}
        *parents, leaf = path.split(".")
        node = dumped
        for part in parents:
            node = node[part]
        unaffecting = drop_unaffecting and not extra.get("affects_results", True)
        if unaffecting or (extra.get("added_later") and node.get(leaf) == info.default):
            node.pop(leaf, None)
    return dumped
