"""The two report figures, drawn with matplotlib's Agg canvas (no display, no pyplot state).

Both take the flat rows of `report.rows()` and write a PNG atomically.
"""

from __future__ import annotations

import textwrap

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from tinymoat.fileio import atomic_path


def _save(fig: Figure, path) -> None:
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")


def _config(row) -> str:
    threads = "runtime threads" if row["threads"] == 0 else \
        f"{row['threads']} thread{'s' if row['threads'] != 1 else ''}"
    runtime = row["runtime"] + (f" [{row['runtime_environment']}]"
                                if row.get("runtime_environment") else "")
    return f"{row['device']}\n{runtime}/{row['delegate']}\n{threads}"


def _artifact(row) -> str:
    return " ".join(str(v) for v in (row["variant"] or row["file"], row["precision"]) if v)


def _height(row):
    """(value, is_median): the median, or the mean where the source reports no median."""
    return (row["median_ms"], True) if row["median_ms"] is not None else (row["mean_ms"], False)


def latency_per_device(rows, path) -> None:
    """Grouped bars: one group per device/runtime/threads, one bar per artifact; whisker to p90."""
    configs = list(dict.fromkeys(_config(r) for r in rows))
    names = list(dict.fromkeys(_artifact(r) for r in rows))
    colors = {name: f"C{i % 10}" for i, name in enumerate(names)}
    width = 0.8 / len(names)
    fig = Figure(figsize=(min(4 + 1.6 * len(configs) * max(1, len(names) / 3), 30), 5.5))
    ax = fig.subplots()
    any_mean = False
    for r in rows:
        x = configs.index(_config(r)) + (names.index(_artifact(r)) - (len(names) - 1) / 2) * width
        value, is_median = _height(r)
        any_mean |= not is_median
        upper = max(r["p90_ms"] - value, 0.0) if is_median and r["p90_ms"] is not None else 0.0
        ax.bar(x, value, width * 0.9, color=colors[_artifact(r)], hatch=None if is_median else "//",
               edgecolor="black", linewidth=0.5, yerr=[[0.0], [upper]] if upper else None,
               capsize=3, error_kw={"elinewidth": 1})
        if len(rows) <= 40:
            ax.annotate(f"{value:.3g}", (x, value + upper), textcoords="offset points",
                        xytext=(0, 2), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(configs)))
    ax.set_xticklabels(configs, fontsize=8)
    ax.set_ylabel("Latency per inference (ms)")
    ax.set_xlabel("Device / runtime / threads")
    ax.set_title("Inference latency per device (bar: median, whisker: 90th percentile)")
    ax.margins(y=0.12)
    ax.grid(axis="y", alpha=0.3)
    handles = [Patch(facecolor=colors[n], edgecolor="black", label=n) for n in names]
    if any_mean:
        handles.append(Patch(facecolor="white", edgecolor="black", hatch="//",
                             label="hatched: mean (source reports no median)"))
    ax.legend(handles=handles, title="Artifact", fontsize=8, title_fontsize=8, loc="upper left",
              bbox_to_anchor=(1.0, 1.0))
    _save(fig, path)


def pareto_front(points) -> list:
    """The points no other point beats on both axes (lower latency, higher quality), by latency."""
    front, best = [], float("-inf")
    for latency, quality, *rest in sorted(points, key=lambda p: (p[0], -p[1])):
        if quality > best:
            front.append((latency, quality, *rest))
            best = quality
    return front


def quality_metric(rows):
    """('accuracy' | 'top1_agreement', axis label): accuracy when every validated row has it."""
    validated = [r for r in rows if r["top1_agreement"] is not None or r["accuracy"] is not None]
    if validated and all(r["accuracy"] is not None for r in validated):
        return "accuracy", "Top-1 accuracy (%)"
    return "top1_agreement", "Top-1 agreement with the float model (%)"


def accuracy_vs_latency(rows, path) -> None:
    """Scatter of quality vs latency, a Pareto frontier per device/runtime/threads, points labelled."""
    metric, label = quality_metric(rows)
    one_variant = len({r["variant"] or r["file"] for r in rows}) == 1
    fig = Figure(figsize=(10, 7))
    ax = fig.subplots()
    groups = {}
    for r in rows:
        if r[metric] is not None:
            value, _ = _height(r)
            name = (r["precision"] or r["file"]) if one_variant else _artifact(r)
            groups.setdefault(_config(r).replace("\n", ", "), []).append(
                (value, 100.0 * r[metric], name))
    for i, (config, points) in enumerate(groups.items()):
        color = f"C{i % 10}"
        ax.scatter([p[0] for p in points], [p[1] for p in points], color=color, zorder=3,
                   label=textwrap.shorten(config, 100))
        front = pareto_front(points)
        ax.step([p[0] for p in front], [p[1] for p in front], where="post", color=color,
                linestyle="--", linewidth=1, alpha=0.8, zorder=2)
        for latency, quality, name in points:
            # Devices share an artifact's quality; alternate above/below to keep labels apart.
            ax.annotate(name, (latency, quality), textcoords="offset points", fontsize=7,
                        xytext=(3, 5 if i % 2 == 0 else -11), color=color)
    if not groups:
        ax.text(0.5, 0.5, "No validation results in these measurements\n(export report.json "
                "beside the artifacts gives top-1 agreement)", ha="center", va="center",
                transform=ax.transAxes, fontsize=10)
    else:
        ax.legend(title="Device, runtime, threads (dashed: Pareto frontier)", fontsize=7,
                  title_fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    ax.set_xlabel("Latency per inference, median (ms; mean where no median is reported)")
    ax.set_ylabel(label)
    title = f"{label.split(' (')[0]} vs latency"
    if groups and one_variant:
        title += f" ({rows[0]['variant'] or rows[0]['file']}; points labelled by precision)"
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.margins(0.12)
    if groups:
        ax.set_xlim(left=0)
    _save(fig, path)
