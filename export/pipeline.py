"""Export every requested artifact, validate it, and write the manifest and reports.

All files are written into a work folder beside the output folder, which is
put in place as a whole only when every artifact has been written and
checked (output_folder.py), so a failure leaves the output folder as it was.

Each artifact is compared with the model it was converted from (its
reference: the float model, or the QAT model for an INT8 file converted
from one); where labels are known its accuracy is also compared with the
float model's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import sys
import time
from typing import Callable, Dict, Iterator, List, Optional

import numpy as np

import tinymoat
from tinymoat.fileio import sha256, size_bytes, write_text

from . import output_folder, thresholds as gate, validate
from .progress import step
from .target import ExportJob, NumericsUnavailable, Target

MANIFEST_SCHEMA = output_folder.MANIFEST_SCHEMA
REPORT_SCHEMA = "tinymoat.export-report/1"


@dataclasses.dataclass(frozen=True)
class Artifact:
    """One written artifact and its validation against its reference model."""

    file: str                       # its name in the export folder
    target: str
    precision: str
    size_bytes: int
    sha256: str
    export_seconds: float
    numerics_run: bool              # False where the runtime is not on this machine
    reference: str                  # "float" or "qat": the model it is compared with
    validation: Optional[Dict]      # top1_agreement, sqnr_db, max_abs_error, accuracy, ...
    thresholds: Dict[str, float]
    failed: List[str]               # the thresholds it missed; empty when it passed
    notes: Dict
    description: Dict               # what could be checked without running it
    weights: str = ""               # what the weights are stored as, e.g. "int8"
    activations: str = ""           # what the activations are computed in
    latency: Optional[Dict] = None  # tinymoat-export --bench: timing.measure's entry
    folder: str = ""                # the export folder, once it is in place

    @property
    def passed(self) -> bool:
        return not self.failed

    @property
    def path(self) -> str:
        return os.path.join(self.folder, self.file)

    @property
    def latency_ms(self) -> Dict[int, float]:
        """--bench: median ms on this machine per thread count."""
        return _medians(self.latency)

    @property
    def runtime_latency_ms(self) -> Dict[str, Dict[int, float]]:
        """--bench-runtimes: {runtime: {threads: median ms}} of a .tflite in other runtimes."""
        return {name: _medians(entry)
                for name, entry in (self.latency or {}).get("runtimes", {}).items()}


def _medians(entry: Optional[Dict]) -> Dict[int, float]:
    return {t: m["median"] for t, m in (entry or {}).get("latency_ms", {}).items()}


def tool_versions() -> Dict[str, str]:
    """Versions of the installed tools, read from package metadata (importing
    coremltools just to ask would greet stderr on Linux)."""
    from importlib import metadata
    versions = {"tinymoat": tinymoat.__version__, "python": platform.python_version()}
    for package in ("tensorflow", "tf-keras", "tensorflow-model-optimization", "tf2onnx", "onnx",
                    "onnxruntime", "coremltools", "ai-edge-litert"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


REFERENCES = {"float": "the float model",
              "qat": "the QAT model (its fake-quantized Keras graph, in inference)"}


def _say(message: str) -> None:
    print(f"tinymoat-export: {message}", file=sys.stderr)


@contextlib.contextmanager
def staged(out_dir: str, say: Callable[[str], None] = _say) -> Iterator[output_folder.WorkFolder]:
    """A work folder for an export to out_dir, after checking out_dir and cleaning up
    after killed exports; `work.publish()` puts the export in place."""
    output_folder.check(out_dir)
    for line in output_folder.recover(out_dir):
        say(line)
    with output_folder.building(out_dir) as work:
        yield work


def export_all(job: ExportJob, plan: List[tuple], out_dir: str, val_pixels: np.ndarray,
               val_labels: Optional[np.ndarray], threshold_overrides: Dict[str, float],
               context: Dict) -> List[Artifact]:
    """Writes every (target, precision) of `plan` to out_dir with manifest and reports,
    replacing a previous export there as a whole."""
    with staged(out_dir) as work:
        results = write_export(job, plan, work.new, val_pixels, val_labels,
                               threshold_overrides, context)
        work.publish()
    return results


def write_export(job: ExportJob, plan: List[tuple], folder: str, val_pixels: np.ndarray,
                 val_labels: Optional[np.ndarray], threshold_overrides: Dict[str, float],
                 context: Dict, bench=None) -> List[Artifact]:
    """Writes and validates every artifact of `plan`, then the documents, into `folder`;
    with `bench` (timing.Settings) also times every artifact on this machine."""
    references = {}
    for name in ["float"] + [target.reference(job, precision) for target, precision in plan]:
        if name not in references:
            model = job.qat_model if name == "qat" else job.model
            with step(f"{name} reference logits on {len(val_pixels)} images"):
                references[name] = _keras_logits(job, model, val_pixels)
    results = [_one(job, target, precision, folder, val_pixels, val_labels, references,
                    threshold_overrides) for target, precision in plan]
    _write_documents(job, results, folder, context, len(val_pixels))
    if bench is not None:  # the harness reads manifest and report beside each artifact
        from . import timing
        timed = timing.measure(folder, [r.file for r in results], bench)
        results = [dataclasses.replace(r, latency=timed[r.file]) for r in results]
        _write_documents(job, results, folder, context, len(val_pixels))
    return results


def _keras_logits(job: ExportJob, model, pixels: np.ndarray) -> np.ndarray:
    x = job.normalized(pixels)
    return np.concatenate([np.asarray(model(x[i:i + 1], training=False))
                           for i in range(len(x))])


def _one(job, target: Target, precision, folder, pixels, labels, references, overrides):
    name = target.file_name(job, precision)
    path = os.path.join(folder, name)
    reference = target.reference(job, precision)
    start = time.perf_counter()
    with step(f"export {name}"):
        notes = target.export(job, precision, path)
    seconds = time.perf_counter() - start
    # Thresholds say how much of a trained model's behaviour an artifact must keep;
    # a model with random initial weights has none to keep unless the user says so.
    defaults = {} if job.random_weights else gate.defaults(precision, reference)
    thresholds = {**defaults, **overrides}
    figures, failed, numerics = None, [], True
    with step(f"validate {name} on {len(pixels)} images against the {reference} model"):
        try:
            candidate = target.predict(path, pixels)
            if target.output_kind(job, precision) == "probabilities":
                candidate = validate.logits_of(candidate, references[reference])
            figures = validate.compare(references[reference], candidate,
                                       labels, float_logits=references.get("float"))
            failed = gate.failures(figures, thresholds)
        except NumericsUnavailable as exc:
            numerics, notes["numerics"] = False, f"numerics not run: {exc}"
        description = target.describe(path)
    detail = target.precision_detail(precision, job)
    return Artifact(name, target.name, precision, size_bytes(path), sha256(path),
                          round(seconds, 2), numerics, reference, figures, thresholds, failed,
                          notes, description, detail["weights"], detail["activations"])


def _write_documents(job: ExportJob, results, folder, context, images):
    mean, std = job.mean_std
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "variant": job.variant,
        "input_size": list(job.input_size),
        "num_classes": job.num_classes,
        "labels_file": "labels.txt",
        "normalization": {"name": job.normalization, "mean": mean.tolist(), "std": std.tolist()},
        "weights": context.get("weights"),
        "tools": tool_versions(),
        "artifacts": [{"file": r.file, "target": r.target, "precision": r.precision,
                       "weights": r.weights, "activations": r.activations,
                       "size_bytes": r.size_bytes, "sha256": r.sha256} for r in results],
    }
    report = {
        "schema": REPORT_SCHEMA,
        "images": images,
        "image_source": context.get("validation_source"),
        "references": REFERENCES,
        "calibration_source": context.get("calibration_source"),
        "artifacts": [{"file": r.file, "target": r.target, "precision": r.precision,
                       "weights": r.weights, "activations": r.activations,
                       "numerics_run": r.numerics_run, "reference": r.reference,
                       "validation": r.validation, "thresholds": gate.describe(r.thresholds),
                       "passed": r.passed, "failed": r.failed,
                       "export_seconds": r.export_seconds, "notes": r.notes,
                       "checks": r.description,
                       **({"latency": r.latency} if r.latency else {})} for r in results],
    }
    write_text(os.path.join(folder, "labels.txt"), "\n".join(job.labels) + "\n")
    write_text(os.path.join(folder, "manifest.json"), json.dumps(manifest, indent=1) + "\n")
    write_text(os.path.join(folder, "report.json"),
               json.dumps(report, indent=1, default=_plain) + "\n")
    write_text(os.path.join(folder, "report.md"), markdown(job, results, context, images))


def _plain(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _fmt(figures, key, pattern):
    value = None if figures is None else figures.get(key)
    return "n/a" if value is None else pattern.format(value)


def markdown(job, results, context, images) -> str:
    lines = [f"# Export report: {job.variant} at {job.input_size[0]}x{job.input_size[1]}", "",
             f"- weights: {context.get('weights')}",
             f"- calibration: {context.get('calibration_source')}",
             f"- validation: {context.get('validation_source')}",
             f"- labels: {context.get('labels_source')}", "",
             "Agreement is measured against each artifact's reference (the model it was "
             "converted from); accuracy is top-1 on the validation images, beside the float "
             "model's.", "",
             "| artifact | precision | weights / activations | size | reference | "
             "top-1 agreement | top-5 overlap | max abs err | SQNR dB | accuracy (float) | result |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        f = r.validation
        verdict = ("numerics not run" if not r.numerics_run else
                   "no thresholds (random weights)" if not r.thresholds else
                   "pass" if r.passed else "FAIL: " + "; ".join(r.failed))
        accuracy = _fmt(f, "accuracy", "{:.1%}")
        if accuracy != "n/a":
            accuracy += f" ({_fmt(f, 'float_accuracy', '{:.1%}')})"
        lines.append(f"| {r.file} | {r.precision} | {r.weights} / {r.activations} | "
                     f"{r.size_bytes / 1e6:.2f} MB | "
                     f"{r.reference} model | "
                     f"{_fmt(f, 'top1_agreement', '{:.1%}')} | {_fmt(f, 'top5_overlap', '{:.1%}')} | "
                     f"{_fmt(f, 'max_abs_error', '{:.4g}')} | {_fmt(f, 'sqnr_db', '{:.1f}')} | "
                     f"{accuracy} | {verdict} |")
    lines += ["", "References: " + "; ".join(f"{k} = {v}" for k, v in REFERENCES.items()
                                               if any(r.reference == k for r in results)) + "."]
    lines += ["", "Thresholds:"] + [
        f"- {r.file}: " + (", ".join(f"{k} {v}" for k, v in gate.describe(r.thresholds).items())
                           or "none") for r in results]
    notes = [f"- {r.file}: {r.notes['numerics']}" for r in results if "numerics" in r.notes]
    if notes:
        lines += ["", *notes]
    if any(r.latency for r in results):
        lines += ["", *latency_table(results)]
    return "\n".join(lines) + "\n"


def latency_table(results) -> List[str]:
    """Median latency on this machine per thread count (tinymoat-export --bench)."""
    threads = sorted({t for r in results if r.latency for t in r.latency["latency_ms"]})
    lines = ["Latency on this machine (median ms; results in latency/):", "",
             "| artifact | runtime | " + " | ".join(f"{t} thread{'s' * (t > 1)}" for t in threads)
             + " |", "|---|---|" + "---|" * len(threads)]
    for r in results:
        entry = r.latency or {}
        rows = [(r.file, entry)] + [(f"{r.file} [{name}]", other)
                                    for name, other in entry.get("runtimes", {}).items()]
        for name, timed in rows:
            cells = [("n/a" if timed.get("latency_ms", {}).get(t) is None else
                      f"{timed['latency_ms'][t]['median']:.2f}") for t in threads]
            lines.append(f"| {name} | {timed.get('runtime') or timed.get('note') or 'n/a'} | "
                         + " | ".join(cells) + " |")
    return lines
