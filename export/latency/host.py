"""Host runners: time artifacts on this machine with LiteRT, ONNX Runtime or Core ML.

LiteRT and ONNX Runtime use the board runner's timing loop (`board_runner.measure`),
so a number measured here means the same as one measured on a board. Core ML
predictions need macOS; elsewhere a Core ML cell is skipped, not faked.
"""

from __future__ import annotations

import pathlib
import sys

import numpy as np

from tinymoat.quantization.tensors import quantize

from . import artifacts, board_runner
from .errors import BenchError, UsageError
from .grid import Cell
from .schema import build_result, validate

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".ppm"}
MAX_IMAGES = 64


class Skipped(Exception):
    """This cell cannot run on this machine (the message says why)."""


# --- inputs from an image folder ---------------------------------------------

def list_images(root, limit=MAX_IMAGES) -> list:
    """Up to `limit` images of a class-per-subfolder folder, taken round robin over classes."""
    root = pathlib.Path(root)
    if not root.is_dir():
        raise UsageError(f"--val-data {root}: not a directory")
    folders = sorted(p for p in root.iterdir() if p.is_dir()) or [root]
    per_class = [sorted(p for p in f.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) for f in folders]
    images = []
    for depth in range(max((len(c) for c in per_class), default=0)):
        images.extend(c[depth] for c in per_class if depth < len(c))
    if not images:
        raise UsageError(f"--val-data {root}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) "
                         "in its class subfolders")
    return images[:limit]


def normalization(info: artifacts.ExportInfo):
    """(mean, std, note) in [0, 255] units from the manifest; ImageNet's when it has none."""
    from tinymoat.preprocess import NORMALIZATION
    norm = (info.manifest or {}).get("normalization") if info.entry is not None else None
    if isinstance(norm, dict) and "mean" in norm and "std" in norm:
        return np.asarray(norm["mean"], np.float32), np.asarray(norm["std"], np.float32), None
    if isinstance(norm, dict) and norm.get("name") in NORMALIZATION:
        mean, std = NORMALIZATION[norm["name"]]
        return np.asarray(mean, np.float32), np.asarray(std, np.float32), None
    mean, std = NORMALIZATION["imagenet"]
    return (np.asarray(mean, np.float32), np.asarray(std, np.float32),
            "no normalization in manifest.json: validation images normalised like ImageNet")


def _image_layout(spec):
    """('nhwc' | 'nchw', h, w) of a 4-D, 3-channel image input."""
    shape = spec["shape"]
    if len(shape) == 4 and shape[3] == 3:
        return "nhwc", shape[1], shape[2]
    if len(shape) == 4 and shape[1] == 3:
        return "nchw", shape[2], shape[3]
    raise UsageError(f"--val-data needs one RGB image input; input {spec['name']!r} "
                     f"has shape {shape}")


def takes_pixels(spec) -> bool:
    """A uint8 input without quantization (ONNX) or with scale 1 and zero point 0 (TFLite)
    takes raw pixels: the exporter's INT8 files normalise inside the graph."""
    return (np.dtype(spec["dtype"]) == np.uint8 and spec["scale"] in (None, 1.0)
            and spec["zero_point"] in (None, 0))


def image_feeds(images, specs, mean, std) -> list:
    """Each image resized to the input size, normalised (unless the input takes raw
    pixels), laid out and quantized as the input wants."""
    from PIL import Image

    from tinymoat.data import open_image
    if len(specs) != 1:
        raise UsageError(f"--val-data needs a model with one image input, this one has {len(specs)}")
    spec = specs[0]
    layout, height, width = _image_layout(spec)
    feeds = []
    for path in images:
        try:
            with open_image(path) as image:  # regular files only, pixel limit by header
                rgb = image.convert("RGB").resize((width, height), Image.BILINEAR)
        except OSError as exc:
            raise UsageError(f"--val-data: cannot read {path}: {exc}") from None
        x = np.asarray(rgb, np.float32)
        if not takes_pixels(spec):
            x = (x - mean) / std
        if layout == "nchw":
            x = x.transpose(2, 0, 1)
        feeds.append([quantize(x[None], spec)])
    return feeds


# --- measuring ----------------------------------------------------------------

def host_device() -> dict:
    return {"kind": "host", **board_runner.device_info()}


def _feeds(specs, info, val_images, seed):
    """(input sets, notes): the validation images when given, else one set of random data."""
    if not val_images:
        return [board_runner.random_inputs(specs, seed)], ["inputs: random data"]
    mean, std, note = normalization(info)
    notes = [f"inputs: {len(val_images)} validation images"] + ([note] if note else [])
    return image_feeds(val_images, specs, mean, std), notes


def measure_cell(cell: Cell, runs: int, warmup: int, val_images=None, seed: int = 0) -> dict:
    """Measures one cell and returns a validated result (raises Skipped for Core ML off macOS)."""
    if cell.runtime == "coreml":
        return _measure_coreml(cell, runs, warmup)
    if cell.environment:
        return _measure_in_runtime(cell, runs, warmup, val_images, seed)
    info = artifacts.export_info(cell.path)
    session = {}

    def open_fn():
        session["s"] = board_runner.open_session(cell.runtime, str(cell.path), cell.threads,
                                                 cell.delegate)
        return session["s"]

    try:
        specs = board_runner.input_specs(cell.runtime, str(cell.path))
        feeds, notes = _feeds(specs, info, val_images, seed)
        measurement = board_runner.measure(open_fn, feeds, runs, warmup)
    except (UsageError, BenchError):
        raise
    except board_runner.RunnerError as exc:
        raise BenchError(f"{cell.path.name}: {exc}") from None
    except Exception as exc:  # the runtime rejected the model; its message says why
        raise BenchError(f"{cell.path.name}: {cell.runtime} failed: "
                         f"{type(exc).__name__}: {exc}") from None
    runtime = {"name": cell.runtime, "version": session["s"].version, "delegate": cell.delegate,
               "threads": cell.threads}
    return _result(cell, info, specs[0]["shape"] if specs else None, runtime, measurement,
                   list(info.notes) + notes)


def _result(cell, info, input_shape, runtime, measurement, notes):
    notes = notes + measurement["notes"] + [
        "peak_memory_mb: growth of this process's peak RSS (getrusage) during the measurement"]
    return build_result(
        device=host_device(), runtime=runtime,
        artifact=artifacts.describe(cell.path, info, input_shape),
        latency_ms=measurement["latency_ms"], init_ms=measurement["init_ms"],
        first_inference_ms=measurement["first_inference_ms"],
        peak_memory_mb=measurement["peak_memory_mb"],
        harness_overhead_ms=measurement["harness_overhead_ms"],
        validation=artifacts.validation(info), notes=notes)


def _measure_in_runtime(cell, runs, warmup, val_images, seed):
    """One cell in a named TFLite runtime's virtualenv (runtimes.py), with its XNNPACK
    partitions, the ops left outside and agreement with this python's LiteRT."""
    from . import runtimes
    info = artifacts.export_info(cell.path)
    python = runtimes.ensure(cell.environment, log=lambda m: print(m, file=sys.stderr))
    try:
        specs = board_runner.input_specs("litert", str(cell.path))
        feeds, notes = _feeds(specs, info, val_images, seed)
        reference, details = runtimes.reference_outputs(cell.path, feeds[0])
    except (UsageError, BenchError):
        raise
    except board_runner.RunnerError as exc:
        raise BenchError(f"{cell.path.name}: {exc}") from None
    except Exception as exc:  # the project's LiteRT rejected the model
        raise BenchError(f"{cell.path.name}: litert failed: {type(exc).__name__}: {exc}") from None
    if len(feeds) > 1:
        notes = notes + ["timed on the first validation image only (one input per runtime run)"]
    result, outputs = runtimes.run_models(python, [cell.path], [feeds[0]], cell.threads, runs,
                                          warmup, cell.delegate,
                                          what=f"{cell.environment} runner for {cell.path.name}")
    m = result["models"][0]
    agreement = {"reference": f"ai-edge-litert {runtimes.reference_version()}",
                 **runtimes.agreement(outputs[0], reference, details)}
    notes = notes + [f"runtime: the {cell.environment} virtualenv ({python}), python "
                     f"{result['python']}"]
    doc = _result(cell, info, specs[0]["shape"] if specs else None,
                  runtimes.describe(cell.environment, result), m, list(info.notes) + notes)
    doc.update(xnnpack={"partitions": m["partitions"], "ops_outside": m["ops_outside"]},
               agreement=agreement)
    return validate(doc)


# --- Core ML (macOS only) -----------------------------------------------------

class _CoreMLSession:
    """An MLModel on all compute units; `feed` takes a dict of named inputs."""

    def __init__(self, path):
        import coremltools as ct
        self.version = ct.__version__
        self.model = ct.models.MLModel(str(path), compute_units=ct.ComputeUnit.ALL)
        self._feed = {}

    def feed(self, inputs):
        self._feed = inputs

    def invoke(self):
        self.model.predict(self._feed)


def _coreml_inputs(path, seed):
    """Random inputs for every multi-array or image input of the model's spec."""
    import coremltools as ct
    from PIL import Image
    rng = np.random.default_rng(seed)
    spec = ct.utils.load_spec(str(path))
    inputs, shape = {}, None
    for item in spec.description.input:
        kind = item.type.WhichOneof("Type")
        if kind == "multiArrayType":
            shape = [int(d) for d in item.type.multiArrayType.shape]
            inputs[item.name] = rng.standard_normal(shape).astype(np.float32)
        elif kind == "imageType":
            height, width = item.type.imageType.height, item.type.imageType.width
            shape = [1, height, width, 3]
            pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
            inputs[item.name] = Image.fromarray(pixels)
        else:
            raise BenchError(f"{path.name}: Core ML input {item.name!r} of type {kind} is not supported")
    return inputs, shape


def _measure_coreml(cell, runs, warmup):
    if sys.platform != "darwin":
        raise Skipped("Core ML predictions need macOS")
    info = artifacts.export_info(cell.path)
    inputs, shape = _coreml_inputs(cell.path, 0)
    session = {}

    def open_fn():
        session["s"] = _CoreMLSession(cell.path)
        return session["s"]

    measurement = board_runner.measure(open_fn, [inputs], runs, warmup)
    runtime = {"name": "coreml", "version": session["s"].version, "delegate": cell.delegate,
               "threads": 0}
    notes = list(info.notes) + ["inputs: random data", "threads: 0 = chosen by Core ML"]
    return _result(cell, info, shape, runtime, measurement, notes)


class HostRunner:
    """Measures cells on this machine (the same interface as the Android and ssh runners)."""

    def __init__(self, val_images=None, seed: int = 0):
        self.val_images, self.seed = val_images, seed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def measure(self, cell: Cell, runs: int, warmup: int) -> dict:
        return measure_cell(cell, runs, warmup, self.val_images, self.seed)
