"""Export every requested artifact, validate it, and write the manifest and reports.

All files are first written into a staging folder inside the output folder
and moved into place only when every artifact has been written and checked,
so a failure leaves no partial export behind.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import tempfile
import time
from typing import Dict, List, Optional

import numpy as np

import tinymoat
from tinymoat.fileio import sha256, size_bytes, write_text

from . import validate
from .progress import step
from .target import ExportJob, NumericsUnavailable, Target

MANIFEST_SCHEMA = "tinymoat.export/1"
REPORT_SCHEMA = "tinymoat.export-report/1"


@dataclasses.dataclass
class ArtifactResult:
    file: str
    target: str
    precision: str
    size_bytes: int
    sha256: str
    export_seconds: float
    numerics_run: bool
    validation: Optional[Dict]
    thresholds: Dict[str, float]
    failed: List[str]
    notes: Dict
    description: Dict

    @property
    def passed(self) -> bool:
        return not self.failed


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


def export_all(job: ExportJob, plan: List[tuple], out_dir: str, val_pixels: np.ndarray,
               val_labels: Optional[np.ndarray], threshold_overrides: Dict[str, float],
               context: Dict) -> List[ArtifactResult]:
    """Writes every (target, precision) of `plan` into out_dir with manifest and reports."""
    os.makedirs(out_dir, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".staging-", dir=out_dir)
    try:
        with step(f"float reference logits on {len(val_pixels)} images"):
            reference = _keras_logits(job, val_pixels)
        results = [_one(job, target, precision, staging, val_pixels, val_labels, reference,
                        threshold_overrides) for target, precision in plan]
        _write_documents(job, results, staging, context, len(val_pixels))
        for name in sorted(os.listdir(staging)):
            final = os.path.join(out_dir, name)
            if os.path.isdir(final):
                shutil.rmtree(final)
            os.replace(os.path.join(staging, name), final)
        return results
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _keras_logits(job: ExportJob, pixels: np.ndarray) -> np.ndarray:
    x = job.normalized(pixels)
    return np.concatenate([job.model(x[i:i + 1], training=False).numpy() for i in range(len(x))])


def _one(job, target: Target, precision, staging, pixels, labels, reference, overrides):
    name = target.file_name(job, precision)
    path = os.path.join(staging, name)
    start = time.perf_counter()
    with step(f"export {name}"):
        notes = target.export(job, precision, path)
    seconds = time.perf_counter() - start
    # Thresholds say how much of a trained model's behaviour an artifact must keep;
    # a model with random initial weights has none to keep unless the user says so.
    defaults = {} if job.random_weights else validate.DEFAULT_THRESHOLDS.get(precision, {})
    thresholds = {**defaults, **overrides}
    figures, failed, numerics = None, [], True
    with step(f"validate {name} on {len(pixels)} images"):
        try:
            figures = validate.compare(reference, target.predict(path, pixels), labels)
            failed = validate.failures(figures, thresholds)
        except NumericsUnavailable as exc:
            numerics, notes["numerics"] = False, f"numerics not run: {exc}"
        description = target.describe(path)
    return ArtifactResult(name, target.name, precision, size_bytes(path), sha256(path),
                          round(seconds, 2), numerics, figures, thresholds, failed, notes,
                          description)


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
                       "size_bytes": r.size_bytes, "sha256": r.sha256} for r in results],
    }
    report = {
        "schema": REPORT_SCHEMA,
        "images": images,
        "image_source": context.get("validation_source"),
        "calibration_source": context.get("calibration_source"),
        "artifacts": [{"file": r.file, "target": r.target, "precision": r.precision,
                       "numerics_run": r.numerics_run, "validation": r.validation,
                       "thresholds": r.thresholds, "passed": r.passed, "failed": r.failed,
                       "export_seconds": r.export_seconds, "notes": r.notes,
                       "checks": r.description} for r in results],
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
             f"- validation: {images} images from {context.get('validation_source')}",
             f"- labels: {context.get('labels_source')}", "",
             "| artifact | precision | size | top-1 agreement | top-5 overlap | max abs err | "
             "SQNR dB | accuracy | result |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        f = r.validation
        verdict = ("numerics not run" if not r.numerics_run else
                   "no thresholds (random weights)" if not r.thresholds else
                   "pass" if r.passed else "FAIL: " + "; ".join(r.failed))
        lines.append(f"| {r.file} | {r.precision} | {r.size_bytes / 1e6:.2f} MB | "
                     f"{_fmt(f, 'top1_agreement', '{:.1%}')} | {_fmt(f, 'top5_overlap', '{:.1%}')} | "
                     f"{_fmt(f, 'max_abs_error', '{:.4g}')} | {_fmt(f, 'sqnr_db', '{:.1f}')} | "
                     f"{_fmt(f, 'accuracy', '{:.1%}')} | {verdict} |")
    notes = [f"- {r.file}: {r.notes['numerics']}" for r in results if "numerics" in r.notes]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines) + "\n"
