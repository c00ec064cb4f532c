"""Keras callbacks of a training stage: NaN guard, epoch checkpoints, CSV log.

They cooperate through the NanGuard: once the loss is NaN or infinite the
epoch's checkpoint and log row are not written, so the newest checkpoint on
disk is the last good one.
"""

from __future__ import annotations

import csv
import io
import math
import os
import time
from typing import Dict, List, Optional, Tuple

from tinymoat._keras import keras, tf
from tinymoat.fileio import write_text

from .optim import current_learning_rate

LOG_COLUMNS = ("stage", "epoch", "steps", "loss", "top1", "top5", "val_loss", "val_top1",
               "val_top5", "lr", "seconds")


class NanGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite loss and remembers where it happened."""

    def __init__(self):
        super().__init__()
        self.where: Optional[Tuple[int, int, int]] = None   # (epoch, step in epoch, global)
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            step = int(self.model.optimizer.iterations.numpy())
            self.where = (self._epoch + 1, batch + 1, step)
            self.model.stop_training = True


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves model, optimizer and epoch after every good epoch (tf.train.CheckpointManager)."""

    def __init__(self, manager: tf.train.CheckpointManager, epoch_var: tf.Variable,
                 guard: NanGuard, on_saved=None):
        super().__init__()
        self.manager, self.epoch_var, self.guard = manager, epoch_var, guard
        self.on_saved = on_saved

    def on_epoch_end(self, epoch, logs=None):
        if self.guard.where is not None:
            return
        self.epoch_var.assign(epoch + 1)
        path = self.manager.save(checkpoint_number=epoch + 1)
        if self.on_saved is not None:
            self.on_saved(epoch + 1, path)


class CsvLog(keras.callbacks.Callback):
    """RUN_DIR/log.csv with one row per finished epoch of every stage, and one per saved
    model ("float (saved)", "qat (saved)": its validation as saved; see log_saved_model).

    The whole file is rewritten atomically each epoch (it is small), keeping
    the rows of other stages and dropping rows of epochs after the checkpoint
    a resumed stage starts from, so the log always matches the checkpoints.
    """

    def __init__(self, path: str, stage: str, first_epoch: int, steps: int,
                 guard: NanGuard):
        super().__init__()
        self.path, self.stage, self.steps, self.guard = path, stage, steps, guard
        self.rows = [r for r in read_log(path) if r["stage"] != saved_stage(stage)
                     and (r["stage"] != stage or int(r["epoch"]) <= first_epoch)]
        self._start = time.time()

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        if self.guard.where is not None:
            return
        logs = dict(logs or {})
        row = {"stage": self.stage, "epoch": epoch + 1, "steps": self.steps,
               "lr": f"{current_learning_rate(self.model.optimizer):.6g}",
               "seconds": f"{time.time() - self._start:.1f}"}
        for key in ("loss", "top1", "top5", "val_loss", "val_top1", "val_top5"):
            if key in logs:
                row[key] = f"{float(logs[key]):.6g}"
        self.rows.append(row)
        write_log(self.path, self.rows)


def saved_stage(stage: str) -> str:
    """The log's name for the row of the model a stage saved."""
    return f"{stage} (saved)"


def log_saved_model(path: str, stage: str, epochs: int, val: Dict) -> None:
    """Appends the row of the model as saved: after the float stage its EMA weights with
    re-estimated BatchNorm statistics, which the per-epoch rows (the raw weights being
    trained, BatchNorm's training moving averages) do not measure."""
    rows = [r for r in read_log(path) if r["stage"] != saved_stage(stage)]
    rows.append({"stage": saved_stage(stage), "epoch": epochs,
                 "val_top1": f"{val['top1']:.6g}", "val_top5": f"{val['top5']:.6g}"})
    write_log(path, rows)


def read_log(path: str) -> List[Dict[str, str]]:
    if not os.path.isfile(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_log(path: str, rows: List[Dict]) -> None:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=LOG_COLUMNS, restval="", extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, out.getvalue())
