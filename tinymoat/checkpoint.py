"""Loading the released (TF1 name-based) deeplab2 MOAT checkpoints.

A Keras weight maps to the checkpoint name `moat/<layer name, dots as
slashes>/<weight name>` (see blocks.py). Every weight is resolved and checked
before any is assigned, so a failed load leaves the model untouched.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Dict, List, Optional

import numpy as np

from ._keras import tf
from .config import VARIANTS

EMA_SUFFIX = "/ExponentialMovingAverage"
SCOPE = "moat"
HEAD_LAYER = "logits_head"


class CheckpointError(ValueError):
    """A checkpoint cannot be read or does not fit the model. The message is one line."""


@dataclasses.dataclass
class LoadReport:
    loaded: int
    from_ema: int
    ignored: List[str]
    skipped: List[str]
    path: str

    def __str__(self):
        return (f"loaded {self.loaded} variables ({self.from_ema} from EMA shadows) from "
                f"{self.path}; ignored {len(self.ignored)} extra checkpoint entries"
                + (f"; skipped {len(self.skipped)} model variables" if self.skipped else ""))


def checkpoint_name(weight) -> str:
    """The checkpoint name of a Keras weight, e.g. moat/block_02_00/attention/q/weight."""
    layer, _, var = weight.name.rpartition("/")
    return f"{SCOPE}/{layer.replace('.', '/')}/{var.split(':')[0]}"


def resolve_prefix(path: str) -> str:
    """A checkpoint prefix from a prefix, a directory or a file of the checkpoint."""
    path = os.fspath(path)
    if os.path.isdir(path):
        prefix = tf.train.latest_checkpoint(path)
        if prefix is None:
            found = [f for f in os.listdir(path) if f.endswith(".index")]
            if len(found) != 1:
                raise CheckpointError(f"no checkpoint found in directory {path}")
            prefix = os.path.join(path, found[0][: -len(".index")])
        return prefix
    for suffix in (".index", ".data-00000-of-00001"):
        if path.endswith(suffix):
            return path[: -len(suffix)]
    if not os.path.exists(path + ".index"):
        raise CheckpointError(f"checkpoint not found: {path} (expected {path}.index)")
    return path


def read_checkpoint(path: str) -> Dict[str, np.ndarray]:
    """Reads every tensor of a checkpoint; any failure is a one-line CheckpointError."""
    prefix = resolve_prefix(path)
    try:
        reader = tf.train.load_checkpoint(prefix)
        return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
    except (tf.errors.OpError, ValueError, OSError, IndexError) as exc:
        reason = str(getattr(exc, "message", exc)).strip().splitlines()[0]
        raise CheckpointError(f"cannot read checkpoint {prefix}: {reason}") from None


def guess_variant(tensors: Dict) -> Optional[str]:
    """The released variant whose shapes a checkpoint has, if any.

    `tensors` maps names to arrays or to shapes (a reader's variable-to-shape
    map will do, so nothing needs to be read to ask).
    """
    shapes = {n: tuple(v.shape) if hasattr(v, "shape") else tuple(v) for n, v in tensors.items()}
    stem = shapes.get(f"{SCOPE}/stem/conv_0/kernel")
    if not stem:
        return None
    blocks = [sum(1 for n in shapes if n.startswith(f"{SCOPE}/block_{s:02d}_")
                  and n.endswith("/pre_norm/gamma")) for s in range(4)]
    widths = [shapes.get(f"{SCOPE}/block_{s:02d}_00/shrink_conv/bias") for s in range(4)]
    for name, config in VARIANTS.items():
        if (stem[-1] == config.stem_size[0] and tuple(blocks) == config.num_blocks
                and all(w and w[0] == h for w, h in zip(widths, config.hidden_size))):
            return name
    return None


def _describe_model(model) -> str:
    config = getattr(model, "moat_config", None)
    return config.name if config is not None else model.name


def load_deeplab2_checkpoint(model, path, use_ema: bool = True,
                             skip_head: bool = False) -> LoadReport:
    """Loads a released deeplab2 MOAT checkpoint into a model from build_model.

    Args:
      model: a model from `tinymoat.build_model` (with or without top).
      path: checkpoint prefix, one of its files, or a directory holding it.
      use_ema: use `<name>/ExponentialMovingAverage` shadows where present.
      skip_head: leave the classification head as initialised (fine-tuning on
        another number of classes).

    Raises:
      CheckpointError: unreadable checkpoint, missing variables or wrong shapes.
        Nothing is assigned unless every variable fits.
    """
    tensors = read_checkpoint(path)
    plan, missing, mismatched, skipped = [], [], [], []
    used = set()
    for weight in model.weights:
        name = checkpoint_name(weight)
        if skip_head and name.startswith(f"{SCOPE}/{HEAD_LAYER}/"):
            skipped.append(name)
            continue
        source = name + EMA_SUFFIX if use_ema and name + EMA_SUFFIX in tensors else name
        if source not in tensors:
            missing.append(name)
            continue
        value = tensors[source]
        if tuple(value.shape) != tuple(weight.shape):
            mismatched.append((name, tuple(weight.shape), tuple(value.shape)))
            continue
        used.update((name, name + EMA_SUFFIX))
        plan.append((weight, value, source != name))

    if missing or mismatched:
        raise CheckpointError(_mismatch_message(model, tensors, missing, mismatched))

    for weight, value, _ in plan:
        weight.assign(value.astype(weight.dtype.as_numpy_dtype))
    ignored = sorted(n for n in tensors if n not in used)
    return LoadReport(loaded=len(plan), from_ema=sum(e for _, _, e in plan),
                      ignored=ignored, skipped=skipped, path=resolve_prefix(path))


def _mismatch_message(model, tensors, missing, mismatched) -> str:
    """Says the likeliest cause first: another variant, then another head, then details.

    A checkpoint of another released variant differs in every layer, the head
    included, so only the variants are named (a head hint would mislead).
    """
    guess = guess_variant(tensors)
    target = _describe_model(model)
    if guess is not None and guess != target and target in VARIANTS:
        return (f"checkpoint does not fit the model: checkpoint is for {guess}, the model is "
                f"{target} (build a {guess} model to load it)")
    parts = []
    head = [m for m in mismatched if m[0].startswith(f"{SCOPE}/{HEAD_LAYER}/kernel")
            and m[1][-1] != m[2][-1]]
    if head:
        parts.append(f"checkpoint head has {head[0][2][-1]} classes, the model "
                     f"{head[0][1][-1]} (build with that many classes or load with "
                     "skip_head=True for a fresh head)")
    if mismatched:
        name, want, got = mismatched[0]
        parts.append(f"{len(mismatched)} shape mismatch(es), first {name}: model "
                     f"{list(want)} vs checkpoint {list(got)}")
    if missing:
        parts.append(f"{len(missing)} variable(s) missing from the checkpoint, first "
                     f"{missing[0]}")
    return "checkpoint does not fit the model: " + "; ".join(parts)
