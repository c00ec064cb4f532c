"""A training run: the float stage, then (with --qat) the quantization-aware stage.

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
import importlib.util
import os
import shutil
import sys
import tempfile
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from tinymoat import saving
from tinymoat._keras import keras, tf
from tinymoat.config import as_hw
from tinymoat.model import check_input_size

from ..accuracy import Tally
from . import data as datasets
from .callbacks import CsvLog, EpochCheckpoint, NanGuard, log_saved_model, saved_stage
from .errors import NanLossError, TrainError
from .optim import Hyper, compile_model, make_optimizer
from .run import RUN_FILE, RunFolder, identity, open_run, save_state
from .strategy import is_chief, make_strategy
from .weights import build, check_weights, load_weights, resolve_config

# GELU forms of the QAT stage: those XNNPACK runs in int8 (tinymoat.quantization.deploy_model).
QAT_GELU_FORMS = ("sigmoid", "tanh")


@dataclasses.dataclass
class Settings:
    """Everything a run needs; the CLI fills it from its flags."""
    data: str
    out: str
    epochs: int
    batch_size: int
    input_size: int = 224
    variant: Optional[str] = None
    weights: Optional[str] = None
    val_data: Optional[str] = None
    overrides: Dict = dataclasses.field(default_factory=dict)
    fresh_head: bool = False
    resume: bool = False
    lr: float = 1e-3
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    ema_decay: float = 0.9999
    warmup_epochs: Optional[float] = None
    qat: bool = False
    qat_epochs: int = 1
    qat_lr: Optional[float] = None
    qat_gelu: Optional[str] = None  # None: the run's recorded form, else "sigmoid"
    restart_qat: bool = False       # train the QAT stage again from the float model
    strategy: str = "auto"
    devices: Optional[List[str]] = None
    tpu: Optional[str] = None
    seed: int = 0
    augment: datasets.Augment = datasets.Augment()
    freeze_bn: bool = False
    bn_recalibration_batches: int = 100
    verbose: Optional[int] = None


def _say(message: str) -> None:
    print(f"tinymoat-train: {message}", file=sys.stderr, flush=True)


@dataclasses.dataclass
class Job:
    """What both stages share once everything was checked."""
    settings: Settings
    strategy: tf.distribute.Strategy
    chief: bool
    run: RunFolder
    state: Dict
    config: object
    size: Tuple[int, int]
    train: datasets.Source
    val: Optional[datasets.Source]
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
    job.state["status"] = "done"
    save_state(job.run, job.state, job.chief)
    return job.state


def prepare(s: Settings, say=_say) -> Job:
    """Checks flags, data and the run folder; writes run.json only when all is well."""
    _check_numbers(s)
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
    cache = datasets.CheckCache(run.path(datasets.CHECK_FILE))
    train_src = datasets.open_source(s.data, cache, "--data")
    _check_classes(train_src)
    _report_skipped(train_src, say)
    val_src, mapping = None, None
    if s.val_data:
        val_src = datasets.open_source(s.val_data, cache, "--val-data", require_all_classes=False)
        _report_skipped(val_src, say)
        mapping = datasets.label_map(train_src.classes, val_src)
    steps = train_src.count // s.batch_size
    if steps == 0:
        raise TrainError(f"--batch-size {s.batch_size} is larger than the {train_src.count} "
                         f"usable training images")
    check_weights(s.weights, len(train_src.classes), s.fresh_head, config.name)
    state = open_run(run, identity(config, size, train_src.classes), s.resume)
    state["data"] = {"train": _describe(train_src), "val": _describe(val_src) if val_src else None}
    state["replicas"] = strategy.num_replicas_in_sync
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


def _check_numbers(s: Settings) -> None:
    checks = [(s.epochs >= 1, "--epochs must be at least 1"),
              (s.batch_size >= 1, "--batch-size must be at least 1"),
              (s.lr > 0, "--lr must be positive"),
              (s.weight_decay >= 0, "--weight-decay must not be negative"),
              (0 <= s.label_smoothing < 1, "--label-smoothing must be in [0, 1)"),
              (0 <= s.ema_decay < 1, "--ema-decay must be in [0, 1) (0: no EMA)"),
              (s.qat_epochs >= 1, "--qat-epochs must be at least 1"),
              (s.qat_gelu is None or s.qat, "--qat-gelu needs --qat"),
              (not s.restart_qat or s.qat, "--restart-qat needs --qat"),
              (s.qat_gelu in (None,) + QAT_GELU_FORMS,
               f"--qat-gelu must be one of {', '.join(QAT_GELU_FORMS)}"),
              (s.bn_recalibration_batches >= 0, "--bn-recalibration-batches must not be "
                                                "negative"),
              (0 < s.augment.min_area <= 1, "--min-crop-area must be in (0, 1]"),
              (s.warmup_epochs is None or s.warmup_epochs >= 0,
               "--warmup-epochs must not be negative")]
    for ok, message in checks:
        if not ok:
            raise TrainError(message)


def _check_classes(source: datasets.Source) -> None:
    """A classifier of one class learns nothing (its loss is 0 from the first step)."""
    if source.labels is not None:
        present = sorted({int(label) for label in source.labels})
    else:
        present = list(range(len(source.classes)))
    if len(present) < 2:
        which = f" ({source.classes[present[0]]})" if present else ""
        raise TrainError(f"--data {source.spec} has usable images of only one class{which}; "
                         "training a classifier needs at least two")


def _report_skipped(source: datasets.Source, say) -> None:
    if source.skipped:
        say(f"warning: skipped {len(source.skipped)} unreadable image(s) in {source.spec} "
            f"(e.g. {source.skipped[0]}); going on with {source.count}")


def _describe(source: datasets.Source) -> Dict:
    return {"spec": source.spec, "kind": source.kind, "images": source.count,
            "skipped": len(source.skipped), "skipped_examples": source.skipped[:20]}


# --- the float stage -------------------------------------------------------------------

def float_stage(job: Job) -> bool:
    """Trains (or resumes) the float model and saves it; True if it trained any epoch."""
    s, run = job.settings, job.run
    stage = job.state["stages"].setdefault("float", {})
    if stage.get("status") == "done" and stage.get("epochs") == s.epochs and \
            saving.is_saved(run.model("float")):
        job.say(f"float stage already done ({s.epochs} epochs): {run.model('float')}")
        return False
    warmup = s.warmup_epochs if s.warmup_epochs is not None else min(5.0, 0.1 * s.epochs)
    hyper = Hyper(s.lr, s.weight_decay, s.label_smoothing, s.ema_decay,
                  total_steps=s.epochs * job.steps, warmup_steps=round(warmup * job.steps))
    with job.strategy.scope():
        model = build(job.config, job.size, len(job.classes))
        if s.freeze_bn:
            freeze_batch_norm(model)
        trainer = _Trainer(job, "float", model, hyper)
        if trainer.first_epoch == 0 and s.weights:
            job.say(load_weights(model, s.weights, fresh_head=s.fresh_head))
    if trainer.first_epoch > s.epochs:
        raise TrainError(f"--resume: the float checkpoint is at epoch {trainer.first_epoch} "
                         f"but --epochs is {s.epochs}")
    trained = trainer.fit(s.epochs)
    final = _final_float_model(job, model)
    stage.update(status="saving", val=_final_val(job, final))
    _log_saved(job, "float", s.epochs, stage["val"])
    if job.chief:
        saving.save(final, run.model("float"), config=job.config, input_size=job.size,
                    labels=job.classes, kind="float",
                    extra={"trained_by": "tinymoat-train",
                           "weights": "EMA" if s.ema_decay > 0 else "last step",
                           "batch_norm": stage.get("batch_norm")})
    stage["status"] = "done"
    save_state(run, job.state, job.chief)
    job.say(f"saved the float model ({'EMA weights' if s.ema_decay > 0 else 'last step'}) "
            f"to {run.model('float')}")
    return trained


def _final_float_model(job: Job, model):
    """The model to save: a plain (non-distributed) copy with re-estimated BN statistics.

    BatchNorm's moving averages (momentum 0.99, starting at mean 0 and
    variance 1) lag the weights: on short runs from random init they are far
    from the real statistics, and with EMA they belong to the raw weights,
    not the averaged ones. So, as "precise BN" does, the statistics of every
    BatchNorm are recomputed as the plain average over up to
    --bn-recalibration-batches batches of training images (centre crops, as
    at inference) with the final weights. BN folding in QAT/PTQ then starts
    from statistics that match the weights.
    """
    s, stage = job.settings, job.state["stages"]["float"]
    final = build(job.config, job.size, len(job.classes))
    final.set_weights(model.get_weights())
    if s.freeze_bn or not s.bn_recalibration_batches:
        stage["batch_norm"] = "frozen" if s.freeze_bn else "moving averages of training"
        return final
    batches = datasets.evaluation_dataset(
        job.train, size=job.size, batch_size=s.batch_size, num_classes=len(job.classes),
        normalization=job.config.normalization).take(s.bn_recalibration_batches)
    used = recalibrate_batch_norm(final, (images for images, _ in batches))
    stage["batch_norm"] = f"re-estimated on {used} batches of training images"
    job.say(f"re-estimated BatchNorm statistics on {used} batches of training images")
    return final


def recalibrate_batch_norm(model, batches) -> int:
    """Sets every BatchNorm's moving mean/variance to the average of its batch statistics
    over `batches` (forward passes in training mode; weights untouched). Returns the count."""
    layers = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    momenta = [l.momentum for l in layers]
    for layer in layers:
        layer.moving_mean.assign(tf.zeros_like(layer.moving_mean))
        layer.moving_variance.assign(tf.zeros_like(layer.moving_variance))
    count = 0
    try:
        for images in batches:
            count += 1
            for layer in layers:  # moving = (1 - 1/n) * moving + 1/n * batch: a running mean
                layer.momentum = 1.0 - 1.0 / count
            model(images, training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    if not count:
        raise TrainError("no training batch to re-estimate BatchNorm statistics with")
    return count


def freeze_batch_norm(model) -> None:
    """BatchNorm in inference mode with fixed affine (small per-replica batches;
    also makes multi-replica training equal single-device training)."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


def _log_saved(job: Job, stage: str, epochs: int, val: Optional[Dict]) -> None:
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


def _final_val(job: Job, model) -> Optional[Dict]:
    """Top-1/top-5 of the model as saved (inference mode) on --val-data."""
    if job.val is None:
        return None
    tally = Tally()
    for images, onehot in _val_dataset(job):
        tally.add(np.asarray(model(images, training=False)), np.argmax(onehot, -1))
    result = tally.as_dict()
    return {"top1": result["top1"], "top5": result["top5"], "images": result["images"]}


def _val_dataset(job: Job):
    if job.val is None:
        return None
    return datasets.evaluation_dataset(
        job.val, size=job.size, batch_size=job.settings.batch_size,
        num_classes=len(job.classes), normalization=job.config.normalization,
        label_map=job.label_map)


def tensorboard_available() -> bool:
    """tf.summary needs the tensorboard package, which TensorFlow no longer pulls in."""
    return importlib.util.find_spec("tensorboard") is not None


class _Trainer:
    """One stage's compiled model, optimizer, checkpoint manager and fit loop."""

    def __init__(self, job: Job, stage: str, model, hyper: Hyper):
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
        stage = job.state["stages"][self.stage]
        stage.update(epochs=epochs, steps_per_epoch=job.steps, batch_size=s.batch_size,
                     status="running", completed_epochs=self.first_epoch)
        if self.first_epoch >= epochs:
            with job.strategy.scope():  # the EMA weights into the model, as fit would
                self.optimizer.finalize_variable_values(self.model.trainable_variables)
            return False
        save_state(job.run, job.state, job.chief)
        guard = NanGuard()
        dataset = datasets.training_dataset(
            job.train, size=job.size, batch_size=s.batch_size, steps=job.steps,
            first_epoch=self.first_epoch, epochs=epochs, seed=s.seed,
            augment=s.augment, num_classes=len(job.classes),
            normalization=job.config.normalization)
        self.model.fit(dataset, epochs=epochs, initial_epoch=self.first_epoch,
                       steps_per_epoch=job.steps, validation_data=_val_dataset(job),
                       callbacks=self._callbacks(guard), verbose=self._verbose())
        if guard.where is not None:
            self._stop_on_nan(guard.where)
        return True

    def _callbacks(self, guard: NanGuard) -> list:
        job = self.job

        def saved(epoch, path):
            job.state["stages"][self.stage].update(completed_epochs=epoch, checkpoint=path)
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
        stage = self.job.state["stages"][self.stage]
        stage.update(status="nan", nan_at={"epoch": epoch, "step": step,
                                           "global_step": global_step})
        save_state(self.job.run, self.job.state, self.job.chief)
        last = self.manager.latest_checkpoint
        kept = (f"kept the last good checkpoint {last} (epoch {stage.get('completed_epochs')})"
                if last else "no epoch finished, so there is no checkpoint")
        raise NanLossError(f"{self.stage} stage: the loss became NaN/inf at epoch {epoch}, "
                           f"step {step}/{self.job.steps} (global step {global_step}); "
                           f"stopped and {kept}; lower --lr and --resume")


# --- the QAT stage ---------------------------------------------------------------------

def quantization_api(*names):
    """The functions of tinymoat.quantization a stage needs, or a one-line TrainError."""
    from tinymoat import quantization
    missing = [n for n in names if not hasattr(quantization, n)]
    if missing:
        raise TrainError(f"--qat: tinymoat.quantization has no {', '.join(missing)} "
                         "(quantization-aware training is not available in this build)")
    return quantization


def qat_stage(job: Job, restart: bool) -> None:
    """Quantization-aware fine-tuning of RUN_DIR/float; saves RUN_DIR/qat."""
    s, run = job.settings, job.run
    quantization = quantization_api("quantize_model")
    gelu = _qat_gelu(job, restart or s.restart_qat)
    if restart or s.restart_qat:
        _forget_stage(job, "qat", "the float model changed" if restart else "--restart-qat")
    stage = job.state["stages"].setdefault("qat", {})
    stage["gelu"] = gelu
    if stage.get("status") == "done" and stage.get("epochs") == s.qat_epochs and \
            saving.is_saved(run.model("qat")):
        job.say(f"QAT stage already done ({s.qat_epochs} epochs): {run.model('qat')}")
        return
    lr = s.qat_lr if s.qat_lr is not None else s.lr / 20
    hyper = Hyper(lr, s.weight_decay, s.label_smoothing, 0.0,
                  total_steps=s.qat_epochs * job.steps, warmup_steps=0)
    with job.strategy.scope():
        qat = quantization.quantize_model(_load_float(job), gelu=gelu)
        trainer = _Trainer(job, "qat", qat, hyper)
    trainer.fit(s.qat_epochs)
    stage.update(status="saving", val=_final_val(job, qat))
    if job.chief:
        _save_qat(quantization, qat, run.model("qat"), job)
    stage["status"] = "done"
    save_state(run, job.state, job.chief)
    job.say(f"saved the QAT model to {run.model('qat')}")


def _qat_gelu(job: Job, restart: bool) -> str:
    """The QAT stage's GELU form: --qat-gelu, else the one the run's QAT stage started with.

    A QAT checkpoint holds one form's variables, so continuing a stage with
    another form is refused (unless the stage starts over anyway)."""
    previous = job.state["stages"].get("qat")
    recorded = previous.get("gelu", "sigmoid") if previous else None  # older runs: sigmoid
    gelu = job.settings.qat_gelu or recorded or "sigmoid"
    if recorded and gelu != recorded and not restart:
        raise TrainError(f"--qat-gelu {gelu}: the QAT stage of {job.run.root} trains the "
                         f"{recorded} form; pass --qat-gelu {recorded} to continue it or "
                         "--restart-qat to train it again from the float model")
    return gelu


def _load_float(job: Job):
    """RUN_DIR/float's weights in a freshly built model (a plain functional graph)."""
    saved, _ = saving.load(job.run.model("float"))
    model = build(job.config, job.size, len(job.classes))
    model.set_weights(saved.get_weights())
    return model


def _save_qat(quantization, qat, folder, job: Job) -> None:
    """With tinymoat.quantization.save_qat if it exists, else a plain tinymoat.saving folder."""
    if hasattr(quantization, "save_qat"):
        quantization.save_qat(qat, folder, config=job.config, input_size=job.size,
                              labels=job.classes)
    else:
        saving.save(qat, folder, config=job.config, input_size=job.size, labels=job.classes,
                    kind="qat", extra={"trained_by": "tinymoat-train"})


def _forget_stage(job: Job, stage: str, why: str) -> None:
    """Drops a stage's checkpoints and model (its starting point changed, or asked to)."""
    if job.state["stages"].pop(stage, None) is None and not os.path.isdir(
            job.run.checkpoints(stage)):
        return
    if job.chief:
        shutil.rmtree(job.run.checkpoints(stage), ignore_errors=True)
        shutil.rmtree(job.run.model(stage), ignore_errors=True)
    job.say(f"{why}: the {stage} stage starts over")


