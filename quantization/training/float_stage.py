"""The float stage: AdamW + warm-up/cosine + label smoothing + weight EMA, then the model
to save (EMA weights, BatchNorm statistics re-estimated)."""

from __future__ import annotations

from tinymoat import saving

from .. import batch_norm
from . import pipelines
from .errors import TrainError
from .optim import Hyper
from .run import save_state
from .trainer import Trainer, final_val, log_saved
from .weights import build, load_weights


def float_stage(job) -> bool:
    """Trains (or resumes) the float model and saves it; True if it trained any epoch."""
    s, run = job.settings, job.run
    stage = job.state.stage("float")
    if stage.status == "done" and stage.epochs == s.epochs and \
            saving.is_saved(run.model("float")):
        job.say(f"float stage already done ({s.epochs} epochs): {run.model('float')}")
        return False
    warmup = s.warmup_epochs if s.warmup_epochs is not None else min(5.0, 0.1 * s.epochs)
    hyper = Hyper(s.lr, s.weight_decay, s.label_smoothing, s.ema_decay,
                  total_steps=s.epochs * job.steps, warmup_steps=round(warmup * job.steps))
    with job.strategy.scope():
        model = build(job.config, job.size, len(job.classes))
        if s.freeze_bn:
            batch_norm.freeze(model)
        trainer = Trainer(job, "float", model, hyper)
        if trainer.first_epoch == 0 and s.weights:
            job.say(load_weights(model, s.weights, fresh_head=s.fresh_head))
    if trainer.first_epoch > s.epochs:
        raise TrainError(f"--resume: the float checkpoint is at epoch {trainer.first_epoch} "
                         f"but --epochs is {s.epochs}")
    trained = trainer.fit(s.epochs)
    final = _final_float_model(job, model)
    stage.status, stage.val = "saving", final_val(job, final)
    log_saved(job, "float", s.epochs, stage.val)
    if job.chief:
        saving.save(final, run.model("float"), config=job.config, input_size=job.size,
                    labels=job.classes, kind="float",
                    extra={"trained_by": "tinymoat-train",
                           "weights": "EMA" if s.ema_decay > 0 else "last step",
                           "batch_norm": stage.batch_norm})
    stage.status = "done"
    save_state(run, job.state, job.chief)
    job.say(f"saved the float model ({'EMA weights' if s.ema_decay > 0 else 'last step'}) "
            f"to {run.model('float')}")
    return trained


def _final_float_model(job, model):
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
    s, stage = job.settings, job.state.stage("float")
    final = build(job.config, job.size, len(job.classes))
    final.set_weights(model.get_weights())
    if s.freeze_bn or not s.bn_recalibration_batches:
        stage.batch_norm = "frozen" if s.freeze_bn else "moving averages of training"
        return final
    batches = pipelines.evaluation_dataset(
        job.train, size=job.size, batch_size=s.batch_size, num_classes=len(job.classes),
        normalization=job.config.normalization).take(s.bn_recalibration_batches)
    used = batch_norm.estimate_statistics(final, (images for images, _ in batches))
    if not used:
        raise TrainError("no training batch to re-estimate BatchNorm statistics with")
    stage.batch_norm = f"re-estimated on {used} batches of training images"
    job.say(f"re-estimated BatchNorm statistics on {used} batches of training images")
    return final
