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

import dataclasses
import json
import os
import time
from typing import Dict, List, Optional

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


@dataclasses.dataclass
class Stage:
    """One stage's progress, as run.json records it under "stages"."""
    status: Optional[str] = None            # running, saving, done or nan
    epochs: Optional[int] = None            # what the stage trains to
    steps_per_epoch: Optional[int] = None
    batch_size: Optional[int] = None
    completed_epochs: Optional[int] = None
    checkpoint: Optional[str] = None        # the newest epoch checkpoint
    val: Optional[Dict] = None              # the saved model's validation (top1, top5, images)
    batch_norm: Optional[str] = None        # how the saved float model's statistics were set
    gelu: Optional[str] = None              # the QAT stage's GELU form
    nan_at: Optional[Dict] = None           # where the loss stopped being finite

    def as_json(self) -> Dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, entry: Dict) -> "Stage":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in entry.items() if k in known})


@dataclasses.dataclass
class RunState:
    """run.json: what the run trains (identity), its data, and each stage's progress."""
    identity: Dict                          # variant, config, input_size, classes
    created: str
    stages: Dict[str, Stage] = dataclasses.field(default_factory=dict)
    data: Optional[Dict] = None             # {"train": ..., "val": ...} as read
    replicas: Optional[int] = None
    status: Optional[str] = None            # "done" once every asked stage finished
    updated: Optional[str] = None

    def stage(self, name: str) -> Stage:
        """The stage's record, a new one if the run has none yet."""
        return self.stages.setdefault(name, Stage())

    def as_json(self) -> Dict:
        found = {"schema": SCHEMA, "created": self.created, **self.identity,
                 "stages": {name: stage.as_json() for name, stage in self.stages.items()}}
        for key in ("data", "replicas", "status", "updated"):
            if getattr(self, key) is not None:
                found[key] = getattr(self, key)
        return found

    @classmethod
    def from_json(cls, found: Dict) -> "RunState":
        return cls(identity={k: found.get(k) for k in IDENTITY}, created=found.get("created"),
                   stages={name: Stage.from_json(entry)
                           for name, entry in (found.get("stages") or {}).items()},
                   data=found.get("data"), replicas=found.get("replicas"),
                   status=found.get("status"), updated=found.get("updated"))


IDENTITY = ("variant", "config", "input_size", "classes")


def open_run(run: RunFolder, ident: Dict, resume: bool) -> RunState:
    """The state of the run: the stored one (--resume, checked) or a new one."""
    if os.path.isfile(run.run_json):
        if not resume:
            raise TrainError(f"{run.root} already holds a training run; pass --resume to "
                             "continue it or choose another --out")
        state = read_state(run)
        difference = _difference(state.identity, ident)
        if difference:
            raise TrainError(f"--resume: {run.root} is an incompatible run ({difference})")
        return state
    if os.path.isdir(run.root) and os.listdir(run.root):
        raise TrainError(f"--out {run.root} exists and is not a tinymoat-train run folder "
                         "(no run.json)")
    return RunState(identity=ident, created=_now())


def read_state(run: RunFolder) -> RunState:
    try:
        with open(run.run_json) as f:
            state = json.load(f)
        if state.get("schema") != SCHEMA:
            raise ValueError(f"schema {state.get('schema')!r}, expected {SCHEMA}")
        return RunState.from_json(state)
    except (OSError, ValueError, TypeError, AttributeError) as exc:
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
    changed = sorted(k for k in ident["config"] if (state.get("config") or {}).get(k)
                     != ident["config"][k])
    if changed:
        return f"config field(s) {', '.join(changed)} differ (--override?)"
    return ""


def save_state(run: RunFolder, state: RunState, chief: bool = True) -> None:
    if not chief:
        return
    state.updated = _now()
    os.makedirs(run.root, exist_ok=True)
    write_text(run.run_json, json.dumps(state.as_json(), indent=1))


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
    for role, entry in ((state.data or {}).items()):
        if not isinstance(entry, dict) or not entry.get("spec"):
            continue
        spec, kind = str(entry["spec"]), entry.get("kind")
        why = ("" if kind == "folder" and os.path.isdir(spec) else
               f"the run read {kind} data, not an image folder" if kind != "folder" else
               f"{spec} is no longer there")
        found[role] = {"spec": spec, "usable": not why, "why": why}
    return found
