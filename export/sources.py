"""Turning command-line inputs (variant, weights, labels, image folders) into an ExportJob.

Everything the user names is read and checked here, before any artifact is
written, so a bad input costs nothing but a one-line error.
"""

from __future__ import annotations

import dataclasses
import os
from typing import List, Optional

import numpy as np

import tinymoat
from tinymoat import data as imagedata
from tinymoat import saving
from tinymoat.checkpoint import CheckpointError, guess_variant, read_checkpoint

from .target import ExportError

DEFAULT_VARIANT = "tiny-moat-0"


@dataclasses.dataclass
class ModelSource:
    model: object                 # float model, batch 1, at the export input size
    qat_model: Optional[object]
    variant: str
    input_size: tuple
    labels: Optional[List[str]]
    weights: str                  # what the user should read about the weights
    random: bool = False          # random initial weights (nothing to validate against)
    run: Optional[str] = None     # the tinymoat-train run folder the models came from


def _copy_weights(source, target):
    """Weights of a saved model into one built at another input size (same variable list)."""
    src, dst = source.weights, target.weights
    if [tuple(w.shape) for w in src] != [tuple(w.shape) for w in dst]:
        raise ExportError("saved model does not match the variant/class count it declares")
    target.set_weights([w.numpy() for w in src])


def load_model_source(weights: Optional[str], variant: Optional[str], input_size: Optional[int],
                      num_classes: Optional[int]) -> ModelSource:
    """Builds the float (and QAT) model the export starts from."""
    if weights is None:
        variant = variant or DEFAULT_VARIANT
        size = _hw(input_size or 224)
        tinymoat._keras.keras.utils.set_random_seed(0)  # the same artifacts every time
        model = _build(variant, size, num_classes or 1000)
        return ModelSource(model, None, variant, size, None,
                           "random initial weights (pass --weights to export trained ones; "
                           "validation thresholds are not enforced)", random=True)
    if not os.path.exists(weights) and not os.path.exists(weights + ".index"):
        raise ExportError(f"weights not found: {weights}")
    if os.path.isdir(weights) and _run_folder(weights):
        return _from_run(weights, variant, input_size, num_classes)
    if os.path.isdir(weights) and saving.is_saved(weights):
        return _from_saved(weights, None, variant, input_size, num_classes)
    return _from_checkpoint(weights, variant, input_size, num_classes)


def from_keras(model, variant: Optional[str], input_size: Optional[int],
               num_classes: Optional[int]) -> ModelSource:
    """A float model built by tinymoat.build_model in this process (any batch size and
    input size): its weights go into a batch-1 model at the export input size."""
    config = getattr(model, "moat_config", None)
    if config is None:
        raise ExportError("model: a Keras model from tinymoat.build_model (it carries "
                          "moat_config), a variant name, a checkpoint, a saved model or a "
                          "run folder")
    if variant and tinymoat.get_config(variant).name != config.name:
        raise ExportError(f"the model is a {config.name}, not {variant}")
    classes = int(model.output.shape[-1])
    if num_classes and num_classes != classes:
        raise ExportError(f"the model has {classes} classes, not num_classes={num_classes}")
    built = tuple(model.input.shape[1:3])
    size = _hw(input_size or (built if None not in built else 224))
    target = _build(config.name, size, classes, config=config)
    _copy_weights(model, target)
    return ModelSource(target, None, config.name, size, None,
                       f"the Keras model passed to tinymoat.export.export() ({model.name})")


def _hw(size):
    return tinymoat.config.as_hw(size)


def _build(variant, size, num_classes, config=None):
    try:
        return tinymoat.build_model(config or variant, size, num_classes, batch_size=1)
    except ValueError as exc:
        raise ExportError(str(exc)) from None


def _from_checkpoint(path, variant, input_size, num_classes) -> ModelSource:
    try:
        tensors = read_checkpoint(path)
    except CheckpointError as exc:
        raise ExportError(str(exc)) from None
    head = tensors.get("moat/logits_head/kernel")
    classes = num_classes or (int(head.shape[-1]) if head is not None else 1000)
    variant = variant or guess_variant(tensors) or DEFAULT_VARIANT
    size = _hw(input_size or 224)
    model = _build(variant, size, classes)
    try:
        report = tinymoat.load_deeplab2_checkpoint(model, path)
    except CheckpointError as exc:
        raise ExportError(str(exc)) from None
    return ModelSource(model, None, variant, size, None, f"deeplab2 checkpoint {report.path} "
                       f"({report.loaded} variables, EMA where present)")


def _from_saved(folder, qat_folder, variant, input_size, num_classes) -> ModelSource:
    try:
        saved, meta = saving.load(folder)
    except saving.SavedModelError as exc:
        raise ExportError(str(exc)) from None
    config = meta["config"]
    if variant and tinymoat.get_config(variant).name != config.name:
        raise ExportError(f"{folder} holds a {config.name} model, not {variant}")
    classes = meta.get("num_classes") or int(saved.output.shape[-1])
    if num_classes and num_classes != classes:
        raise ExportError(f"{folder} has {classes} classes, not --num-classes {num_classes}")
    size = _hw(input_size or meta["input_size"])
    model = _build(config.name, size, classes, config=config)
    _copy_weights(saved, model)
    qat = None
    if qat_folder is not None:
        qat = _load_qat(qat_folder, size)
    return ModelSource(model, qat, config.name, size, meta.get("labels"),
                       f"saved model {folder}" + (f" + QAT model {qat_folder}" if qat else ""))


def _load_qat(folder, size):
    from tinymoat import quantization
    try:
        qat, meta = quantization.load_qat(folder)
    except (saving.SavedModelError, ValueError) as exc:
        raise ExportError(str(exc).splitlines()[0]) from None
    if tuple(meta["input_size"]) != tuple(size):
        raise ExportError(f"the QAT model was trained at {meta['input_size']}; export it at that "
                          "input size (its quantization ranges belong to it)")
    return qat


def _run_folder(folder) -> bool:
    return saving.is_saved(os.path.join(folder, "float"))


def _from_run(folder, variant, input_size, num_classes) -> ModelSource:
    qat = os.path.join(folder, "qat")
    source = _from_saved(os.path.join(folder, "float"), qat if saving.is_saved(qat) else None,
                         variant, input_size, num_classes)
    return dataclasses.replace(source, run=folder)


def read_labels(path: Optional[str], known: Optional[List[str]], num_classes: int):
    """(labels, where they came from); generic names when nothing is known."""
    if path:
        labels = _labels_file(path)
        if len(labels) != num_classes:
            raise ExportError(f"{path} has {len(labels)} labels but the model has "
                              f"{num_classes} classes")
        return labels, path
    if known:
        return list(known), "the saved model"
    return [f"class_{i}" for i in range(num_classes)], "generic names class_0.. (no --labels)"


def _labels_file(path: str) -> List[str]:
    """Class names of a UTF-8 text file, one per line; blank lines ignored, duplicates refused."""
    try:
        with open(path, "rb") as f:
            text = f.read(1 << 24).decode("utf-8")
    except OSError as exc:
        raise ExportError(f"cannot read labels file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ExportError(f"labels file {path} is not UTF-8 text") from None
    if "\0" in text:
        raise ExportError(f"labels file {path} is not text (it holds NUL bytes)")
    labels = [line.strip() for line in text.lstrip("\ufeff").splitlines() if line.strip()]
    first = {}
    for number, name in enumerate(labels, 1):
        if name in first:
            raise ExportError(f"labels file {path}: {name!r} is the name of classes "
                              f"{first[name]} and {number}; class names must be unique")
        first[name] = number
    return labels


@dataclasses.dataclass
class Images:
    """Calibration or validation images and a sentence saying where they came from."""
    loaded: imagedata.LoadedImages
    origin: str

    def describe(self) -> str:
        skipped = self.loaded.skipped
        extra = f"; {len(skipped)} unreadable skipped" if skipped else ""
        return (f"{len(self.loaded.pixels)} images from {self.loaded.source} "
                f"({self.origin}{extra})")


def pick_images(calib_folder: Optional[str], val_folder: Optional[str], run: Optional[str],
                size, calib_limit: int, val_limit: int):
    """(calibration, validation) Images: the folders the user named, else a run folder's
    own training (calibration) and validation images, else crops of a sample photo
    for calibration and the calibration images for validation."""
    recorded = _run_images(run) if run else {}
    calib, note = _pick(calib_folder, "--calib-data", recorded.get("train"), "training", size,
                        calib_limit)
    if calib is None:
        calib = Images(imagedata.sample_photo_crops(size, count=32),
                       "no --calib-data" + note)
    val, note = _pick(val_folder, "--val-data", recorded.get("val"), "validation", size,
                      val_limit)
    if val is None:
        loaded = calib.loaded
        loaded = dataclasses.replace(loaded, pixels=loaded.pixels[:val_limit],
                                     labels=loaded.labels[:val_limit])
        val = Images(loaded, "the calibration images: no --val-data" + (
            note or ("; the run recorded no validation images" if run else "")))
    return calib, val


def _pick(folder, flag, recorded, what, size, limit):
    """(Images or None, a note on why the run's own images were not used)."""
    if folder is not None:
        return Images(read_images(folder, size, limit, flag), flag), ""
    if recorded is None:
        return None, ""
    if not recorded["usable"]:
        return None, f"; the run's {what} images cannot be read again: {recorded['why']}"
    loaded = read_images(recorded["spec"], size, limit, f"the run's {what} images")
    return Images(loaded, f"the run's {what} images, a seeded class-balanced sample of at "
                          f"most {limit}"), ""


def _run_images(run: str):
    from tinymoat.quantization.training.errors import TrainError
    from tinymoat.quantization.training.run import image_folders
    try:
        return image_folders(run)
    except TrainError as exc:
        raise ExportError(str(exc)) from None


def read_images(folder: Optional[str], size, limit: int, what: str):
    if folder is None:
        return None
    try:
        return imagedata.load_folder(folder, size, limit=limit)
    except imagedata.DataError as exc:
        raise ExportError(f"{what}: {exc}") from None


def label_indices(images, labels: List[str]) -> np.ndarray:
    """Folder labels mapped onto the model's labels by name; -1 where unknown."""
    position = {name: i for i, name in enumerate(labels)}
    mapped = [position.get(images.classes[k], -1) for k in images.labels]
    return np.asarray(mapped, np.int64)
