"""Figures (PNG, headless): WER against labeled hours (a line per decoder), WER per axis value,
training loss, dev WER/CER against updates.

Figures are drawn on `matplotlib.figure.Figure` objects with the Agg canvas, never through
pyplot, so no display, global backend or figure registry is involved, and the PNGs carry no
timestamp or software tag: the same results give the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogFormatter

from harness.config.settings import GREEDY
from harness.report.compare import paired_settings
from harness.report.load import RunResult, SuiteResults
from harness.report.replicas import summarize
from harness.report.tables import setting_texts, varying_keys

LABELED = "data.labeled"
SEEDS_CAPTION = ("With several training seeds: the mean over seeds, bars from the two-level "
                 "bootstrap (seeds, then utterances), small points: each seed. ")
LINE_AXES = ("train.freeze", "train.lr")  # a line per value of these, where a grid varies them
DPI = 110


@dataclass(frozen=True)
class FigureFile:
    """A written figure: its file name (inside the figures folder), title and caption."""

    name: str
    title: str
    caption: str


def _save(figure: Figure, path: Path) -> None:
    FigureCanvasAgg(figure)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})


def _colors(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def labeled_hours(result: RunResult) -> float | None:
    """Hours of labeled audio the run trained on: the data report's, else the spec's request."""
    report = (((result.record or {}).get("data") or {}).get("report") or {})
    hours = (report.get("labeled") or {}).get("hours") if isinstance(report, dict) else None
    if isinstance(hours, (int, float)) and hours > 0:
        return float(hours)
    seconds = result.run.spec.data.labeled
    return seconds / 3600 if seconds else None


def _errorbar(ax, xs: Sequence[float], results: Sequence[RunResult], rule_set: str,
              summaries: dict, **style):
    """The mean WER of each setting with its interval as bars, and with several training
    seeds each seed's WER as a small point at the same x."""
    ys, low, high = [], [], []
    for x, result in zip(xs, results, strict=True):
        summary = summaries[(result.run.id, rule_set, "wer")]
        ys.append(100 * summary.mean)
        low.append(100 * (summary.mean - summary.low) if summary.low is not None else 0.0)
        high.append(100 * (summary.high - summary.mean) if summary.high is not None else 0.0)
        if summary.seeds > 1:
            ax.plot([x] * summary.seeds, [100 * rate for rate in summary.per_seed],
                    marker=".", markersize=5, linestyle="none", alpha=0.6,
                    color=style.get("color"), zorder=3)
    return ax.errorbar(xs, ys, yerr=[low, high], capsize=3, **style)


def _scored_settings(results: SuiteResults, rule_set: str, summaries: dict) -> list[RunResult]:
    """The first run of each setting with a WER under `rule_set` (it stands for its seeds)."""
    return [setting.primary for setting in results.settings
            if (setting.run.id, rule_set, "wer") in summaries]


@dataclass(frozen=True)
class HoursLines:
    """The lines of the WER-against-labeled-hours figure."""

    line_keys: list[str]  # settings with a line per value (grid suites)
    fixed: list[str]  # other varying settings: only runs at the baseline's value are drawn
    lines: dict[tuple[str, ...], list[RunResult]]  # values of line_keys -> runs, by hours


def hours_lines(results: SuiteResults, summaries: dict | None = None) -> HoursLines | None:
    """Runs to draw against labeled hours, or None when the suite does not vary labeled audio.

    grid: a line per freeze policy and/or lr where the suite varies them; one_at_a_time: one
    line, the labeled axis's runs (everything else as the baseline).
    """
    suite = results.suite
    keys = varying_keys(suite)
    if LABELED not in keys or not results.rule_sets:
        return None
    if summaries is None:
        summaries = summarize(results, paired_settings(results), metrics=("wer",))
    texts = {key: setting_texts(suite, key) for key in keys}
    base_id = suite.baseline.id
    line_keys = [k for k in LINE_AXES if k in keys] if suite.mode == "grid" else []
    fixed = [k for k in keys if k != LABELED and k not in line_keys]
    lines: dict[tuple[str, ...], list[RunResult]] = {}
    for result in _scored_settings(results, results.rule_sets[0], summaries):
        if labeled_hours(result) is None:
            continue
        if any(texts[k][result.run.id] != texts[k][base_id] for k in fixed):
            continue
        group = tuple(texts[k][result.run.id] for k in line_keys)
        lines.setdefault(group, []).append(result)
    for members in lines.values():
        members.sort(key=labeled_hours)
    return HoursLines(line_keys, fixed, dict(sorted(lines.items()))) if lines else None


def wer_vs_hours(results: SuiteResults, directory: Path) -> FigureFile | None:
    """WER against labeled hours (log x) with interval bars; see `hours_figure`."""
    drawn = hours_figure(results)
    if drawn is None:
        return None
    figure, caption = drawn
    name = "wer_vs_labeled_hours.png"
    _save(figure, directory / name)
    return FigureFile(name, "WER against labeled audio", caption)


def hours_figure(results: SuiteResults) -> tuple[Figure, str] | None:
    """The WER-against-labeled-hours figure and its caption: a panel per rule set, a line per
    group of `hours_lines` and per decoder (as the wav2vec 2.0 paper's tables give each labeled
    size with and without an LM), or None when the suite does not vary labeled audio."""
    settings = paired_settings(results)
    summaries = summarize(results, settings, metrics=("wer",))
    drawn = hours_lines(results, summaries)
    if drawn is None:
        return None
    decoders = {GREEDY: summaries} | {
        name: summarize(results.decoded(name), settings, metrics=("wer",))
        for name in results.decoders[1:]}
    suite, line_keys, fixed, lines = results.suite, drawn.line_keys, drawn.fixed, drawn.lines
    labeled_texts = setting_texts(suite, LABELED)
    base_id = suite.baseline.id
    rule_sets = results.rule_sets
    figure = Figure(figsize=(5.2 * len(rule_sets), 3.8))
    axes = figure.subplots(1, len(rule_sets), squeeze=False)[0]
    colors = _colors(len(lines) * len(decoders))
    styles = ("-", "--", ":", "-.")
    ticks: dict[float, str] = {}
    for ax, rule_set in zip(axes, rule_sets, strict=True):
        starred = False
        for index, ((group, members), (decoder, cells)) in enumerate(
                (line, decoder) for line in lines.items() for decoder in decoders.items()):
            members = [m for m in members if (m.run.id, rule_set, "wer") in cells]
            if not members:
                continue
            xs = [labeled_hours(m) for m in members]
            ticks.update({x: labeled_texts[m.run.id] for x, m in zip(xs, members, strict=True)})
            parts = [f"{k.rsplit('.', 1)[-1]}={v}" for k, v in zip(line_keys, group, strict=True)]
            parts += [decoder] if len(decoders) > 1 else []
            _errorbar(ax, xs, members, rule_set, cells, marker="o", color=colors[index],
                      linestyle=styles[list(decoders).index(decoder) % len(styles)],
                      label=", ".join(parts) or "labeled audio")
            for x, member in zip(xs, members, strict=True):
                if member.run.id == base_id:
                    mean = cells[(member.run.id, rule_set, "wer")].mean
                    ax.plot([x], [100 * mean], marker="*", markersize=14, color="black",
                            linestyle="none", label="_" if starred else "baseline", zorder=5)
                    starred = True
        ax.set_xscale("log")
        ax.set_xticks(sorted(ticks), [ticks[x] for x in sorted(ticks)])
        ax.minorticks_off()
        ax.set_xlabel("labeled audio (log scale)")
        ax.set_ylabel(f"test WER % ({rule_set})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    held = ", ".join(f"`{k}`" for k in fixed)
    per = [f"`{k}`" for k in line_keys] + (["decoder"] if len(decoders) > 1 else [])
    caption = ("Test WER against labeled audio, bars: 95% bootstrap intervals. "
               + (SEEDS_CAPTION if suite.seeds else "")
               + (f"A line per {' and '.join(per)}. " if per else "")
               + (f"Decoders: {', '.join(decoders)} (the Decoders section says what each is). "
                  if len(decoders) > 1 else "")
               + (f"Runs with {held} other than the baseline's are left out." if held else ""))
    return figure, caption.strip()


def wer_per_axis(results: SuiteResults, directory: Path) -> FigureFile | None:
    """one_at_a_time: a panel per axis other than labeled audio, WER of each value with bars."""
    suite = results.suite
    if suite.mode != "one_at_a_time" or not results.rule_sets:
        return None
    rule_set = results.rule_sets[0]
    summaries = summarize(results, paired_settings(results), metrics=("wer",))
    axes_keys = [key for key, values in suite.axes if len(values) > 1 and key != LABELED]
    panels = []
    for key in axes_keys:
        members = [r for r in _scored_settings(results, rule_set, summaries) if (
            r.run.id == suite.baseline.id or [name for name, _ in r.run.changes] == [key])]
        if len(members) > 1:
            panels.append((key, members))
    if not panels:
        return None
    figure = Figure(figsize=(3.6 * len(panels), 3.6))
    axes = figure.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    base = results.baseline
    for ax, (key, members) in zip(axes, panels, strict=True):
        texts = setting_texts(suite, key)
        positions = list(range(len(members)))
        _errorbar(ax, positions, members, rule_set, summaries, marker="o", linestyle="none",
                  color=_colors(1)[0])
        base_summary = summaries.get((base.run.id, rule_set, "wer"))
        if base_summary is not None:
            ax.axhline(100 * base_summary.mean, color="gray", linestyle="--", linewidth=1)
        labels = [texts[m.run.id] + (" (baseline)" if m is base else "") for m in members]
        ax.set_xticks(positions, labels, rotation=20, ha="right", fontsize=8)
        ax.set_xlim(-0.5, len(members) - 0.5)
        ax.set_title(key, fontsize=10)
        ax.grid(alpha=0.3, axis="y")
    axes[0].set_ylabel(f"test WER % ({rule_set})")
    name = "wer_per_axis.png"
    _save(figure, directory / name)
    caption = (f"Test WER ({rule_set}) of the baseline and each one-setting change, bars: 95% "
               "bootstrap intervals; dashed: the baseline's WER."
               + (" " + SEEDS_CAPTION if suite.seeds else ""))
    return FigureFile(name, "WER per setting", caption)


def loss_curves(results: SuiteResults, directory: Path) -> FigureFile | None:
    """Training loss against update step, one line per run that logged any."""
    logged = [(r, r.train_log) for r in results.runs if r.train_log and r.train_log.steps]
    if not logged:
        return None
    figure = Figure(figsize=(8, 4.2))
    ax = figure.subplots()
    styles = ("-", "--", ":", "-.")
    for index, ((result, log), color) in enumerate(zip(logged, _colors(len(logged)),
                                                       strict=True)):
        ax.plot(log.steps, log.losses, color=color, linestyle=styles[(index // 20) % 4],
                linewidth=1.2, label=f"{result.run.slug} ({result.state})")
    if all(loss > 0 for _, log in logged for loss in log.losses):
        ax.set_yscale("log")
        # 60, not 6 x 10^1; minor ticks labeled only where the range is narrow
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))
    ax.set_xlabel("update step")
    ax.set_ylabel("training loss (CTC)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    name = "loss_curves.png"
    _save(figure, directory / name)
    missing = [r.run.slug for r in results.runs if not (r.train_log and r.train_log.steps)]
    cut = sum(log.unreadable_lines for _, log in logged)
    caption = "Training loss per logged step, from each run's train_log.jsonl."
    if missing:
        caption += f" No loss logged: {', '.join(missing)}."
    if cut:
        caption += f" {cut} unreadable log lines skipped."
    return FigureFile(name, "Training loss", caption)


def dev_curves(results: SuiteResults, directory: Path) -> FigureFile | None:
    """Dev WER and CER against updates (two panels), one line per run that evaluated any."""
    logged = [(r, r.train_log) for r in results.runs if r.train_log and r.train_log.dev]
    if not logged:
        return None
    figure = Figure(figsize=(11, 4.2))
    axes = figure.subplots(1, 2, sharex=True)
    for (result, log), color in zip(logged, _colors(len(logged)), strict=True):
        steps = sorted(log.dev)
        for ax, metric in zip(axes, ("dev_wer", "dev_cer"), strict=True):
            points = [(step, log.dev[step][metric]) for step in steps if metric in log.dev[step]]
            ax.plot([p[0] for p in points], [100 * p[1] for p in points], color=color,
                    marker="o", markersize=3, linewidth=1.2,
                    label=f"{result.run.slug} ({result.state})")
    for ax, label in zip(axes, ("dev WER (%)", "dev CER (%)"), strict=True):
        ax.set_xlabel("update step")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    name = "dev_curves.png"
    _save(figure, directory / name)
    missing = [r.run.slug for r in results.runs if not (r.train_log and r.train_log.dev)]
    caption = ("Dev WER and CER (characters as the training targets write them, no scoring rule "
               "set) at each dev evaluation (train.eval_every, and the end), from each run's "
               "train_log.jsonl.")
    if missing:
        caption += f" No dev evaluation logged: {', '.join(missing)}."
    return FigureFile(name, "Dev WER and CER during training", caption)


FIGURES = (wer_vs_hours, wer_per_axis, loss_curves, dev_curves)
FIGURE_NAMES = ("wer_vs_labeled_hours.png", "wer_per_axis.png", "loss_curves.png",
                "dev_curves.png")


def write_figures(results: SuiteResults, directory: Path) -> list[FigureFile]:
    """Every figure the suite calls for; stale figures of ours from an earlier report removed."""
    written = [f for f in (make(results, directory) for make in FIGURES) if f is not None]
    for name in set(FIGURE_NAMES) - {f.name for f in written}:
        (directory / name).unlink(missing_ok=True)
    return written
