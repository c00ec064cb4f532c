"""The run folder of tinymoat-train and its run.json.

    RUN_DIR/run.json            what was trained (identity) and how far it got
    RUN_DIR/data_check.json     cached decode check of the data (see data.py)
    RUN_DIR/checkpoints/float/  tf.train checkpoints, one per epoch (model, optimizer, epoch)
    RUN_DIR/checkpoints/qat/    the same for the QAT stage
    RUN_DIR/log.csv             one row per finished epoch (stage, epoch, losses, accuracies)
    RUN_DIR/tensorboard/        TensorBoard event files per stage
    RUN_DIR/float/              the final float model (EMA weights), a tinymoat.saving folder
    RUN_DIR/qat/                the QAT model (with --qat)

The identity (variant, full config, input size, class names) decides whether
--resume may continue a run: a checkpoint only fits the model it came from.
"""

from __future__ import annotations

import json
import os
import time
from typing import Dict, List

from tinymoat.config import MoatConfig
from tinymoat.fileio import write_text

from .errors import TrainError

RUN_FILE = "run.json"
SCHEMA = "tinymoat.train-run/1"


class RunFolder:
    def __init__(self, root: str):
        self.root = os.fspath(root)

    def path(self, *parts) -> str:
        return os.path.join(self.root, *parts)

    @property
    def run_json(self) -> str:
        return self.path(RUN_FILE)

    def checkpoints(self, stage: str) -> str:
        return self.path("checkpoints", stage)

    def tensorboard(self, stage: str) -> str:
        return self.path("tensorboard", stage)

    @property
    def log(self) -> str:
        return self.path("log.csv")

    def model(self, stage: str) -> str:
        return self.path(stage)


def identity(config: MoatConfig, input_size, classes: List[str]) -> Dict:
    """What a checkpoint of this run depends on, in JSON form."""
    return json.loads(json.dumps({"variant": config.name, "config": config.to_dict(),
                                  "input_size": list(input_size), "classes": list(classes)}))


def open_run(run: RunFolder, ident: Dict, resume: bool) -> Dict:
    """The state of the run: the stored one (--resume, checked) or a new one."""
    if os.path.isfile(run.run_json):
        if not resume:
            raise TrainError(f"{run.root} already holds a training run; pass --resume to "
                             "continue it or choose another --out")
        state = read_state(run)
        difference = _difference(state, ident)
        if difference:
            raise TrainError(f"--resume: {run.root} is an incompatible run ({difference})")
        return state
    if os.path.isdir(run.root) and os.listdir(run.root):
        raise TrainError(f"--out {run.root} exists and is not a tinymoat-train run folder "
                         "(no run.json)")
    state = {"schema": SCHEMA, "created": _now(), **ident, "stages": {}}
    return state


def read_state(run: RunFolder) -> Dict:
    try:
        with open(run.run_json) as f:
            state = json.load(f)
        if state.get("schema") != SCHEMA:
            raise ValueError(f"schema {state.get('schema')!r}, expected {SCHEMA}")
        return state
    except (OSError, ValueError) as exc:
        raise TrainError(f"cannot read {run.run_json}: {exc}") from None


def _difference(state: Dict, ident: Dict) -> str:
    if state.get("variant") != ident["variant"]:
        return f"variant {state.get('variant')} there, {ident['variant']} now"
    if state.get("input_size") != ident["input_size"]:
        return f"input size {state.get('input_size')} there, {ident['input_size']} now"
    old, new = state.get("classes") or [], ident["classes"]
    if old != new:
        if len(old) != len(new):
            return f"{len(old)} classes there, {len(new)} now"
        first = next(i for i, (a, b) in enumerate(zip(old, new)) if a != b)
        return f"class {first} is {old[first]!r} there, {new[first]!r} now"
    changed = sorted(k for k in ident["config"] if state.get("config", {}).get(k)
                     != ident["config"][k])
    if changed:
        return f"config field(s) {', '.join(changed)} differ (--override?)"
    return ""


def save_state(run: RunFolder, state: Dict, chief: bool = True) -> None:
    if not chief:
        return
    state["updated"] = _now()
    os.makedirs(run.root, exist_ok=True)
    write_text(run.run_json, json.dumps(state, indent=1))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def image_folders(root: str) -> Dict[str, Dict]:
    """The run's training and validation images as later stages can read them again.

    {"train": {...}, "val": {...}}, each {"spec": path, "usable": bool, "why": text}:
    usable when the run read a class-per-subfolder folder that still exists;
    otherwise `why` says what is missing. A run without validation data has no "val";
    a folder without run.json (models saved by hand) has neither.
    """
    if not os.path.isfile(RunFolder(root).run_json):
        return {}
    state = read_state(RunFolder(root))
    found = {}
    for role, entry in ((state.get("data") or {}).items()):
        if not isinstance(entry, dict) or not entry.get("spec"):
            continue
        spec, kind = str(entry["spec"]), entry.get("kind")
        why = ("" if kind == "folder" and os.path.isdir(spec) else
               f"the run read {kind} data, not an image folder" if kind != "folder" else
               f"{spec} is no longer there")
        found[role] = {"spec": spec, "usable": not why, "why": why}
    return found
