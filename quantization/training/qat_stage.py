"""The QAT stage: quantize_model of the saved float model, trained with the same loss, no
warm-up and no weight EMA (the fake-quantizer ranges keep their own moving averages)."""

from __future__ import annotations

import os
import shutil

from tinymoat import saving

from ..forms import DEFAULT_INT8_GELU
from ..qat import quantize_model, save_qat
from .errors import TrainError
from .optim import Hyper
from .run import save_state
from .trainer import Trainer, final_val
from .weights import build


def qat_stage(job, restart: bool) -> None:
    """Quantization-aware fine-tuning of RUN_DIR/float; saves RUN_DIR/qat."""
    s, run = job.settings, job.run
    gelu = _qat_gelu(job, restart or s.restart_qat)
    if restart or s.restart_qat:
        _forget_stage(job, "qat", "the float model changed" if restart else "--restart-qat")
    stage = job.state.stage("qat")
    stage.gelu = gelu
    if stage.status == "done" and stage.epochs == s.qat_epochs and \
            saving.is_saved(run.model("qat")):
        job.say(f"QAT stage already done ({s.qat_epochs} epochs): {run.model('qat')}")
        return
    lr = s.qat_lr if s.qat_lr is not None else s.lr / 20
    hyper = Hyper(lr, s.weight_decay, s.label_smoothing, 0.0,
                  total_steps=s.qat_epochs * job.steps, warmup_steps=0)
    with job.strategy.scope():
        qat = quantize_model(_load_float(job), gelu=gelu)
        trainer = Trainer(job, "qat", qat, hyper)
    trainer.fit(s.qat_epochs)
    stage.status, stage.val = "saving", final_val(job, qat)
    if job.chief:
        save_qat(qat, run.model("qat"), config=job.config, input_size=job.size,
                 labels=job.classes)
    stage.status = "done"
    save_state(run, job.state, job.chief)
    job.say(f"saved the QAT model to {run.model('qat')}")


def _qat_gelu(job, restart: bool) -> str:
    """The QAT stage's GELU form: --qat-gelu, else the one the run's QAT stage started with.

    A QAT checkpoint holds one form's variables, so continuing a stage with
    another form is refused (unless the stage starts over anyway)."""
    previous = job.state.stages.get("qat")
    recorded = (previous.gelu or "sigmoid") if previous else None  # older runs: sigmoid
    gelu = job.settings.qat_gelu or recorded or DEFAULT_INT8_GELU
    if recorded and gelu != recorded and not restart:
        raise TrainError(f"--qat-gelu {gelu}: the QAT stage of {job.run.root} trains the "
                         f"{recorded} form; pass --qat-gelu {recorded} to continue it or "
                         "--restart-qat to train it again from the float model")
    return gelu


def _load_float(job):
    """RUN_DIR/float's weights in a freshly built model (a plain functional graph)."""
    saved, _ = saving.load(job.run.model("float"))
    model = build(job.config, job.size, len(job.classes))
    model.set_weights(saved.get_weights())
    return model


def _forget_stage(job, stage: str, why: str) -> None:
    """Drops a stage's checkpoints and model (its starting point changed, or asked to)."""
    if job.state.stages.pop(stage, None) is None and not os.path.isdir(
            job.run.checkpoints(stage)):
        return
    if job.chief:
        shutil.rmtree(job.run.checkpoints(stage), ignore_errors=True)
        shutil.rmtree(job.run.model(stage), ignore_errors=True)
    job.say(f"{why}: the {stage} stage starts over")
