"""What a training run is asked to do: the settings the CLI fills, and their checks."""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional

from ..forms import INT8_GELU_FORMS
from . import pipelines
from .errors import TrainError


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
    augment: pipelines.Augment = pipelines.Augment()
    freeze_bn: bool = False
    bn_recalibration_batches: int = 100
    verbose: Optional[int] = None


def check(s: Settings) -> None:
    """A TrainError naming the first setting out of range."""
    checks = [(s.epochs >= 1, "--epochs must be at least 1"),
              (s.batch_size >= 1, "--batch-size must be at least 1"),
              (s.lr > 0, "--lr must be positive"),
              (s.weight_decay >= 0, "--weight-decay must not be negative"),
              (0 <= s.label_smoothing < 1, "--label-smoothing must be in [0, 1)"),
              (0 <= s.ema_decay < 1, "--ema-decay must be in [0, 1) (0: no EMA)"),
              (s.qat_epochs >= 1, "--qat-epochs must be at least 1"),
              (s.qat_gelu is None or s.qat, "--qat-gelu needs --qat"),
              (not s.restart_qat or s.qat, "--restart-qat needs --qat"),
              (s.qat_gelu in (None,) + INT8_GELU_FORMS,
               f"--qat-gelu must be one of {', '.join(INT8_GELU_FORMS)}"),
              (s.bn_recalibration_batches >= 0, "--bn-recalibration-batches must not be "
                                                "negative"),
              (0 < s.augment.min_area <= 1, "--min-crop-area must be in (0, 1]"),
              (s.warmup_epochs is None or s.warmup_epochs >= 0,
               "--warmup-epochs must not be negative")]
    for ok, message in checks:
        if not ok:
            raise TrainError(message)
