"""One stage's training: compiled model, checkpoints, the fit loop, and the saved model's
validation."""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from typing import Dict, Optional

import numpy as np

from tinymoat._keras import keras, tf

from ..accuracy import Tally
from . import pipelines
from .callbacks import CsvLog, EpochCheckpoint, NanGuard, log_saved_model, saved_stage
from .errors import NanLossError, TrainError
from .optim import Hyper, compile_model, make_optimizer
from .run import save_state


def log_saved(job, stage: str, epochs: int, val: Optional[Dict]) -> None:
    """The saved model's validation in log.csv and on the console: the per-epoch val_*
    of the float stage measure the raw weights with BatchNorm's training averages,
    which lag far behind on short runs; the saved model is the EMA with re-estimated
    BatchNorm statistics."""
    if val is None:
        return
    if job.chief:
        log_saved_model(job.run.log, stage, epochs, val)
    job.say(f"{stage} model as saved: val top-1 {val['top1']:.2%}, top-5 {val['top5']:.2%} "
            f"(log.csv row '{saved_stage(stage)}'; the per-epoch val_* rows measure the "
            "weights being trained, before the EMA and BatchNorm re-estimation)")


def final_val(job, model) -> Optional[Dict]:
    """Top-1/top-5 of the model as saved (inference mode) on --val-data."""
    if job.val is None:
        return None
    tally = Tally()
    for images, onehot in val_dataset(job):
        tally.add(np.asarray(model(images, training=False)), np.argmax(onehot, -1))
    result = tally.as_dict()
    return {"top1": result["top1"], "top5": result["top5"], "images": result["images"]}


def val_dataset(job):
    if job.val is None:
        return None
    return pipelines.evaluation_dataset(
        job.val, size=job.size, batch_size=job.settings.batch_size,
        num_classes=len(job.classes), normalization=job.config.normalization,
        label_map=job.label_map)


def tensorboard_available() -> bool:
    """tf.summary needs the tensorboard package, which TensorFlow no longer pulls in."""
    return importlib.util.find_spec("tensorboard") is not None


class Trainer:
    """One stage's compiled model, optimizer, checkpoint manager and fit loop."""

    def __init__(self, job, stage: str, model, hyper: Hyper):
        self.job, self.stage, self.model, self.hyper = job, stage, model, hyper
        self.optimizer = make_optimizer(model, hyper)
        compile_model(model, self.optimizer, hyper, len(job.classes))
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.checkpoint = tf.train.Checkpoint(model=model, optimizer=self.optimizer,
                                              epoch=self.epoch)
        directory = job.run.checkpoints(stage) if job.chief else tempfile.mkdtemp()
        self.manager = tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep=3)
        self.first_epoch = self._restore()

    def _restore(self) -> int:
        path = self.manager.latest_checkpoint
        if not path:
            return 0
        try:
            self.checkpoint.restore(path).assert_existing_objects_matched()
        except (AssertionError, ValueError, tf.errors.OpError) as exc:
            reason = str(exc).strip().splitlines()[0]
            raise TrainError(f"--resume: checkpoint {path} does not fit the model: "
                             f"{reason}") from None
        epoch = int(self.epoch.numpy())
        self.job.say(f"{self.stage} stage: resuming after epoch {epoch} from {path}")
        return epoch

    def fit(self, epochs: int) -> bool:
        """Trains epochs first_epoch..epochs-1; False if there was nothing to train."""
        job, s = self.job, self.job.settings
        stage = job.state.stage(self.stage)
        stage.epochs, stage.steps_per_epoch, stage.batch_size = epochs, job.steps, s.batch_size
        stage.status, stage.completed_epochs = "running", self.first_epoch
        if self.first_epoch >= epochs:
            with job.strategy.scope():  # the EMA weights into the model, as fit would
                self.optimizer.finalize_variable_values(self.model.trainable_variables)
            return False
        save_state(job.run, job.state, job.chief)
        guard = NanGuard()
        dataset = pipelines.training_dataset(
            job.train, size=job.size, batch_size=s.batch_size, steps=job.steps,
            first_epoch=self.first_epoch, epochs=epochs, seed=s.seed,
            augment=s.augment, num_classes=len(job.classes),
            normalization=job.config.normalization)
        self.model.fit(dataset, epochs=epochs, initial_epoch=self.first_epoch,
                       steps_per_epoch=job.steps, validation_data=val_dataset(job),
                       callbacks=self._callbacks(guard), verbose=self._verbose())
        if guard.where is not None:
            self._stop_on_nan(guard.where)
        return True

    def _callbacks(self, guard: NanGuard) -> list:
        job = self.job

        def saved(epoch, path):
            stage = job.state.stage(self.stage)
            stage.completed_epochs, stage.checkpoint = epoch, path
            save_state(job.run, job.state, job.chief)

        callbacks = [guard, EpochCheckpoint(self.manager, self.epoch, guard, saved)]
        if job.chief:
            callbacks.append(CsvLog(job.run.log, self.stage, self.first_epoch, job.steps, guard))
            if tensorboard_available():
                callbacks.append(keras.callbacks.TensorBoard(
                    job.run.tensorboard(self.stage), update_freq="epoch", profile_batch=0,
                    write_graph=False))
        return callbacks

    def _verbose(self) -> int:
        if self.job.settings.verbose is not None:
            return self.job.settings.verbose
        return 1 if sys.stdout.isatty() else 2

    def _stop_on_nan(self, where) -> None:
        epoch, step, global_step = where
        stage = self.job.state.stage(self.stage)
        stage.status = "nan"
        stage.nan_at = {"epoch": epoch, "step": step, "global_step": global_step}
        save_state(self.job.run, self.job.state, self.job.chief)
        last = self.manager.latest_checkpoint
        kept = (f"kept the last good checkpoint {last} (epoch {stage.completed_epochs})"
                if last else "no epoch finished, so there is no checkpoint")
        raise NanLossError(f"{self.stage} stage: the loss became NaN/inf at epoch {epoch}, "
                           f"step {step}/{self.job.steps} (global step {global_step}); "
                           f"stopped and {kept}; lower --lr and --resume")
