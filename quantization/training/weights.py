"""The model to train: its configuration, and --weights loaded into it.

--weights is a released deeplab2 checkpoint, a saved tinymoat folder or a
tinymoat-train run folder (its float/ model). A checkpoint of another
released variant is refused as such, before anything about its head. A head
trained for another number of classes is refused with a hint: --fresh-head
keeps everything but the head (a new classifier for the new classes).
"""

from __future__ import annotations

import os
from typing import Dict, Optional, Tuple

import tinymoat
from tinymoat import saving
from tinymoat.checkpoint import (HEAD_LAYER, CheckpointError, guess_variant,
                                 load_deeplab2_checkpoint, resolve_prefix)
from tinymoat.config import VARIANTS, MoatConfig
from tinymoat._keras import tf

from .errors import TrainError

HEAD_CHECKPOINT_NAME = f"moat/{HEAD_LAYER}/kernel"


def saved_folder(path: Optional[str]) -> Optional[str]:
    """The saved-model folder `path` names (itself, or a run folder's float/), else None."""
    if not path or not os.path.isdir(path):
        return None
    if saving.is_saved(path):
        return path
    inner = os.path.join(path, "float")
    return inner if saving.is_saved(inner) else None


def resolve_config(variant: Optional[str], overrides: Dict, weights: Optional[str]) -> MoatConfig:
    """The MoatConfig to build: --variant plus --override, or the saved model's own."""
    folder = saved_folder(weights)
    try:
        if folder is not None:
            config = saving.read_meta(folder)["config"]
            if variant and tinymoat.get_config(variant).name != config.name:
                raise TrainError(f"--weights {weights} holds a {config.name} model, "
                                 f"not --variant {variant}")
            return config.replace(**overrides) if overrides else config
        if not variant:
            raise TrainError("--variant is required unless --weights is a saved tinymoat "
                             "model or run folder")
        return tinymoat.get_config(variant, **overrides)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, TrainError):
            raise
        raise TrainError(str(exc).splitlines()[0]) from None


def build(config: MoatConfig, input_size, num_classes: int):
    try:
        return tinymoat.build_model(config, input_size, num_classes)
    except ValueError as exc:
        raise TrainError(str(exc).splitlines()[0]) from None


def check_weights(path: Optional[str], num_classes: int, fresh_head: bool,
                  variant: Optional[str] = None) -> None:
    """Refuses --weights of another variant, or whose head has another class count,
    before anything is written."""
    if not path:
        return
    if not os.path.exists(path) and not os.path.exists(path + ".index"):
        raise TrainError(f"--weights not found: {path}")
    folder = saved_folder(path)
    if folder is not None:
        head_classes = saving.read_meta(folder).get("num_classes")
    else:
        try:
            shapes = tf.train.load_checkpoint(resolve_prefix(path)).get_variable_to_shape_map()
        except (CheckpointError, tf.errors.OpError, ValueError):
            return  # load_weights says what is wrong with it
        _check_variant(path, shapes, variant)
        shape = shapes.get(HEAD_CHECKPOINT_NAME)
        head_classes = shape[-1] if shape else None
    if head_classes and head_classes != num_classes and not fresh_head:
        raise _head_hint(folder or path, head_classes, num_classes)


def _check_variant(path, shapes, variant: Optional[str]) -> None:
    """A checkpoint of another released variant fits nowhere, its head included: say so
    before any hint about the head."""
    guess = guess_variant(shapes)
    if guess and variant in VARIANTS and guess != variant:
        raise TrainError(f"--weights {path} is a {guess} checkpoint but the model is "
                         f"{variant}; pass --variant {guess}")


def load_weights(model, path: str, *, fresh_head: bool) -> str:
    """Loads --weights into `model`; returns a line saying what was loaded."""
    if not os.path.exists(path) and not os.path.exists(path + ".index"):
        raise TrainError(f"--weights not found: {path}")
    classes = int(model.output.shape[-1])
    folder = saved_folder(path)
    if folder is not None:
        return _from_saved(model, folder, classes, fresh_head)
    if os.path.isdir(path) and not tf.train.latest_checkpoint(path) and not any(
            f.endswith(".index") for f in os.listdir(path)):
        raise TrainError(f"--weights {path} is neither a checkpoint nor a saved tinymoat "
                         "model (no tinymoat.json, no *.index)")
    return _from_checkpoint(model, path, classes, fresh_head)


def _head_hint(path, head_classes, classes) -> TrainError:
    return TrainError(f"--weights {path} has a {head_classes}-class head but the data has "
                      f"{classes} classes; pass --fresh-head to train a new head on the "
                      "pretrained body")


def _from_checkpoint(model, path, classes, fresh_head) -> str:
    try:
        shapes = tf.train.load_checkpoint(resolve_prefix(path)).get_variable_to_shape_map()
        config = getattr(model, "moat_config", None)
        _check_variant(path, shapes, config.name if config is not None else None)
        head = shapes.get(HEAD_CHECKPOINT_NAME)
        if head and head[-1] != classes and not fresh_head:
            raise _head_hint(path, head[-1], classes)
        report = load_deeplab2_checkpoint(model, path, skip_head=fresh_head)
    except (CheckpointError, tf.errors.OpError) as exc:
        raise TrainError(str(getattr(exc, "message", exc)).splitlines()[0]) from None
    return str(report) + (" (fresh head)" if fresh_head else "")


def _from_saved(model, folder, classes, fresh_head) -> str:
    try:
        source, meta = saving.load(folder)
    except saving.SavedModelError as exc:
        raise TrainError(str(exc)) from None
    head_classes = meta.get("num_classes") or int(source.output.shape[-1])
    if head_classes != classes and not fresh_head:
        raise _head_hint(folder, head_classes, classes)
    copied = _copy_layers(source, model, skip=(HEAD_LAYER,) if fresh_head else ())
    return (f"{copied} layers from saved model {folder}"
            + (" (fresh head)" if fresh_head else ""))


def _copy_layers(source, target, skip: Tuple[str, ...]) -> int:
    """Weights layer by layer (matched by name); all checked before any is set."""
    by_name = {layer.name: layer for layer in source.layers}
    plan = []
    for layer in target.layers:
        if not layer.weights or layer.name in skip:
            continue
        other = by_name.get(layer.name)
        values = other.get_weights() if other is not None else None
        if values is None or [v.shape for v in values] != [tuple(w.shape) for w in layer.weights]:
            raise TrainError(f"--weights: layer {layer.name} is missing or has other shapes "
                             "in the saved model (different variant or --override?)")
        plan.append((layer, values))
    for layer, values in plan:
        layer.set_weights(values)
    return len(plan)
