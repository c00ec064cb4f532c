"""Saving a model with what the later stages need to rebuild and describe it.

A saved tinymoat model is a folder: `model.keras` (weights and graph, loadable
with plain `tf_keras.models.load_model` once tinymoat.layers is imported) and
`tinymoat.json` (the MoatConfig, input size, class labels, normalisation).
Export reads the JSON to name artifacts and fill their metadata.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import List, Optional

from . import layers as _layers  # noqa: F401  (registers the custom layers)
from ._keras import keras
from .config import MoatConfig
from .fileio import write_text

MODEL_FILE = "model.keras"
META_FILE = "tinymoat.json"
SCHEMA = "tinymoat.model/1"


class SavedModelError(ValueError):
    """A saved model that cannot be read. The message is one line."""


def save(model, folder, *, config: MoatConfig, input_size, labels: Optional[List[str]] = None,
         kind: str = "float", extra: Optional[dict] = None) -> str:
    """Writes `folder` atomically (a temporary sibling renamed into place)."""
    folder = os.fspath(folder)
    parent = os.path.dirname(os.path.abspath(folder))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(folder)}.", dir=parent)
    try:
        model.save(os.path.join(tmp, MODEL_FILE))
        meta = {"schema": SCHEMA, "kind": kind, "config": config.to_dict(),
                "input_size": list(input_size), "labels": labels,
                "num_classes": int(model.output.shape[-1]) if not isinstance(
                    model.output, dict) else None}
        meta.update(extra or {})
        write_text(os.path.join(tmp, META_FILE), json.dumps(meta, indent=1))
        if os.path.exists(folder):
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def is_saved(folder) -> bool:
    return os.path.isfile(os.path.join(os.fspath(folder), META_FILE))


def read_meta(folder) -> dict:
    path = os.path.join(os.fspath(folder), META_FILE)
    try:
        with open(path) as f:
            meta = json.load(f)
        meta["config"] = MoatConfig.from_dict(_tuples(meta["config"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SavedModelError(f"cannot read {path}: {exc}") from None
    return meta


def load(folder, custom_objects=None):
    """(model, meta) of a folder written by `save`."""
    meta = read_meta(folder)
    path = os.path.join(os.fspath(folder), MODEL_FILE)
    try:
        model = keras.models.load_model(path, custom_objects=custom_objects, compile=False)
    except (OSError, ValueError, TypeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SavedModelError(f"cannot load {path}: {reason}") from None
    model.moat_config = meta["config"]
    return model, meta


def _tuples(config: dict) -> dict:
    """JSON lists back to the tuples MoatConfig uses (windows included)."""
    out = {}
    for key, value in config.items():
        if isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        out[key] = value
    return out
