"""A training run: the checks, then the float stage, then (with --qat) the QAT stage.

Modules: settings.py (what the run is asked, its checks), float_stage.py,
qat_stage.py, trainer.py (one stage's fit loop and checkpoints), run.py (the
run folder and run.json).

Float stage: AdamW + warm-up/cosine + label smoothing + weight EMA; the model
saved to RUN_DIR/float holds the EMA weights (Model.fit copies the optimizer's
shadow weights into the model when it returns), which is also what its
validation numbers in run.json and the "float (saved)" row of log.csv measure.
The per-epoch validation in log.csv uses the raw weights being trained.

QAT stage: `tinymoat.quantization.quantize_model` of the saved float model,
trained --qat-epochs at --qat-lr with the same loss, no warm-up and no weight
EMA (the fake-quantizer ranges keep their own moving averages), saved to
RUN_DIR/qat. --qat-gelu picks the GELU form it trains (and its int8 graph runs):
sigmoid (default) or tanh; run.json records it and --resume keeps it.

Each stage checkpoints after every epoch and resumes from its newest
checkpoint; a stage already finished is not run again. Training the float
stage further (a larger --epochs on --resume) starts the QAT stage over.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Callable, Dict, List, Optional, Tuple

from tinymoat._keras import keras, tf
from tinymoat.config import as_hw
from tinymoat.model import check_input_size

from . import sources
from .errors import TrainError
from .float_stage import float_stage
from .qat_stage import qat_stage
from .run import RUN_FILE, RunFolder, RunState, identity, open_run, save_state
from .settings import Settings
from .settings import check as check_settings
from .strategy import is_chief, make_strategy
from .trainer import tensorboard_available
from .weights import check_weights, resolve_config


def _say(message: str) -> None:
    print(f"tinymoat-train: {message}", file=sys.stderr, flush=True)


@dataclasses.dataclass
class Job:
    """What both stages share once everything was checked."""
    settings: Settings
    strategy: tf.distribute.Strategy
    chief: bool
    run: RunFolder
    state: RunState
    config: object
    size: Tuple[int, int]
    train: sources.Source
    val: Optional[sources.Source]
    label_map: Optional[List[int]]
    steps: int
    say: Callable[[str], None]

    @property
    def classes(self) -> List[str]:
        return self.train.classes


def train(settings: Settings, say: Callable[[str], None] = _say) -> Dict:
    """Runs (or resumes) a training run; returns its final run.json state.

    Raises TrainError for a user mistake (nothing written unless the checks
    passed) and NanLossError when the loss stopped being finite.
    """
    job = prepare(settings, say)
    retrained = float_stage(job)
    if settings.qat:
        qat_stage(job, restart=retrained)
    job.state.status = "done"
    save_state(job.run, job.state, job.chief)
    return job.state.as_json()


def prepare(s: Settings, say=_say) -> Job:
    """Checks flags, data and the run folder; writes run.json only when all is well."""
    check_settings(s)
    keras.utils.set_random_seed(s.seed)
    strategy = make_strategy(s.strategy, s.devices, s.tpu)
    if s.batch_size % strategy.num_replicas_in_sync:
        raise TrainError(f"--batch-size {s.batch_size} does not split evenly over "
                         f"{strategy.num_replicas_in_sync} replicas")
    config = resolve_config(s.variant, s.overrides, s.weights)
    try:
        size = check_input_size(config, as_hw(s.input_size))
    except ValueError as exc:
        raise TrainError(str(exc)) from None
    run = RunFolder(s.out)
    if os.path.isfile(run.run_json) and not s.resume:
        raise TrainError(f"{run.root} already holds a training run; pass --resume to "
                         "continue it or choose another --out")
    if s.resume and not os.path.isfile(run.run_json):
        # Starting afresh instead would hide a mistyped --out behind hours of training.
        raise TrainError(f"--resume: nothing to resume in {run.root} (no {RUN_FILE})")
    cache = sources.CheckCache(run.path(sources.CHECK_FILE))
    train_src = sources.open_source(s.data, cache, "--data")
    _check_classes(train_src)
    _report_skipped(train_src, say)
    val_src, mapping = None, None
    if s.val_data:
        val_src = sources.open_source(s.val_data, cache, "--val-data", require_all_classes=False)
        _report_skipped(val_src, say)
        mapping = sources.label_map(train_src.classes, val_src)
    steps = train_src.count // s.batch_size
    if steps == 0:
        raise TrainError(f"--batch-size {s.batch_size} is larger than the {train_src.count} "
                         f"usable training images")
    check_weights(s.weights, len(train_src.classes), s.fresh_head, config.name)
    state = open_run(run, identity(config, size, train_src.classes), s.resume)
    state.data = {"train": _describe(train_src), "val": _describe(val_src) if val_src else None}
    state.replicas = strategy.num_replicas_in_sync
    chief = is_chief(strategy)
    save_state(run, state, chief)
    if chief:
        cache.save()
    if not tensorboard_available():
        say("note: the tensorboard package is not installed, so no TensorBoard logs "
            "(pip install tensorboard)")
    say(f"{config.name} at {size[0]}x{size[1]}, {len(train_src.classes)} classes, "
        f"{train_src.count} training images, {steps} steps/epoch, "
        f"{strategy.num_replicas_in_sync} replica(s)")
    return Job(s, strategy, chief, run, state, config, size, train_src, val_src, mapping, steps,
               say)


def _check_classes(source: sources.Source) -> None:
    """A classifier of one class learns nothing (its loss is 0 from the first step)."""
    if source.labels is not None:
        present = sorted({int(label) for label in source.labels})
    else:
        present = list(range(len(source.classes)))
    if len(present) < 2:
        which = f" ({source.classes[present[0]]})" if present else ""
        raise TrainError(f"--data {source.spec} has usable images of only one class{which}; "
                         "training a classifier needs at least two")


def _report_skipped(source: sources.Source, say) -> None:
    if source.skipped:
        say(f"warning: skipped {len(source.skipped)} unreadable image(s) in {source.spec} "
            f"(e.g. {source.skipped[0]}); going on with {source.count}")


def _describe(source: sources.Source) -> Dict:
    return {"spec": source.spec, "kind": source.kind, "images": source.count,
            "skipped": len(source.skipped), "skipped_examples": source.skipped[:20]}
