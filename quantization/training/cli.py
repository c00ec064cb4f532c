"""tinymoat-train: fine-tune a MOAT model on an image dataset, then (--qat) quantization-aware.

Writes a run folder (see run.py) with per-epoch checkpoints, log.csv,
TensorBoard logs, the float model (EMA weights) in RUN_DIR/float and the QAT
model in RUN_DIR/qat; `tinymoat-export --int8 --weights RUN_DIR` exports it.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Dict, List, Optional

PROG = "tinymoat-train"
EXIT_USAGE, EXIT_NAN = 2, 1


def parser() -> argparse.ArgumentParser:
    from tinymoat.config import VARIANTS

    from ..forms import INT8_GELU_FORMS
    from .strategy import STRATEGIES
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    g = p.add_argument_group("model")
    g.add_argument("--variant", choices=list(VARIANTS),
                   help="required unless --weights is a saved tinymoat model or run folder")
    g.add_argument("--weights", help="deeplab2 checkpoint, saved tinymoat folder or run folder")
    g.add_argument("--fresh-head", action="store_true",
                   help="load everything from --weights but the classification head")
    g.add_argument("--input-size", type=int, default=224)
    g.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                   help="set a MoatConfig field, e.g. --override hidden_size=8,16,32,64 "
                        "--override head_size=8 (JSON values work too); repeatable")
    g = p.add_argument_group("data")
    g.add_argument("--data", required=True,
                   help="training images: ROOT/<class>/<image>, TFRecord file(s) or glob "
                        "(image/encoded, image/class/label), or tfds:NAME[:SPLIT]")
    g.add_argument("--val-data", help="held-out images, same forms (classes matched by name)")
    g.add_argument("--no-augment", action="store_true",
                   help="centre crops only (no random crop or flip)")
    g.add_argument("--min-crop-area", type=float, default=0.08,
                   help="smallest random crop, as a fraction of the image (default 0.08)")
    g.add_argument("--no-flip", action="store_true", help="no random horizontal flips")
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, required=True)
    g.add_argument("--batch-size", type=int, default=64, help="global batch size (default 64)")
    g.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default 1e-3)")
    g.add_argument("--weight-decay", type=float, default=0.05, help="AdamW decay (default 0.05)")
    g.add_argument("--label-smoothing", type=float, default=0.1)
    g.add_argument("--ema-decay", type=float, default=0.9999,
                   help="weight EMA decay, debiased early on; 0 turns EMA off (default 0.9999)")
    g.add_argument("--warmup-epochs", type=float, default=None,
                   help="linear warm-up (default: 10%% of --epochs, at most 5)")
    g.add_argument("--freeze-bn", action="store_true",
                   help="keep BatchNorm statistics and affine fixed")
    g.add_argument("--bn-recalibration-batches", type=int, default=100,
                   help="re-estimate BatchNorm statistics of the final float model on up to "
                        "N batches of training images (default 100; 0: keep the moving "
                        "averages)")
    g.add_argument("--seed", type=int, default=0)
    g = p.add_argument_group("quantization-aware training")
    g.add_argument("--qat", action="store_true", help="after the float stage, train a QAT model")
    g.add_argument("--qat-epochs", type=int, default=1)
    g.add_argument("--qat-lr", type=float, default=None, help="default: --lr / 20")
    g.add_argument("--qat-gelu", choices=INT8_GELU_FORMS, default=None,
                   help="GELU form the QAT model trains and its int8 graph runs: sigmoid "
                        "(fastest on CPUs) or tanh (closer to the exact GELU; for integer-only "
                        "hardware); default: the run's, else sigmoid")
    g.add_argument("--restart-qat", action="store_true",
                   help="with --resume: train the QAT stage again from the float model "
                        "(its checkpoints and model are replaced)")
    g = p.add_argument_group("run")
    g.add_argument("--out", required=True, help="run folder")
    g.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its newest checkpoint")
    g.add_argument("--strategy", choices=STRATEGIES, default="auto",
                   help="auto: all GPUs if more than one, else the default device")
    g.add_argument("--devices", help="comma-separated devices for mirrored, e.g. /gpu:0,/gpu:1")
    g.add_argument("--tpu", help="TPU name or address for --strategy tpu (default: local)")
    return p


def parse_value(text: str):
    """A --override value: JSON, or comma-separated scalars (a tuple), or one scalar."""
    try:
        return _tuples(json.loads(text))
    except ValueError:
        pass
    if "," in text:
        return tuple(_scalar(part.strip()) for part in text.split(","))
    return _scalar(text.strip())


def _scalar(text: str):
    lowered = text.lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def parse_overrides(items: List[str]) -> Dict:
    from .errors import TrainError
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise TrainError(f"--override expects KEY=VALUE, got {item!r}")
        out[key.strip()] = parse_value(value)
    return out


def settings_from(args):
    from .pipelines import Augment
    from .settings import Settings
    devices = [d.strip() for d in args.devices.split(",") if d.strip()] if args.devices else None
    return Settings(
        data=args.data, out=args.out, epochs=args.epochs, batch_size=args.batch_size,
        input_size=args.input_size, variant=args.variant, weights=args.weights,
        val_data=args.val_data, overrides=parse_overrides(args.override),
        fresh_head=args.fresh_head, resume=args.resume, lr=args.lr,
        weight_decay=args.weight_decay, label_smoothing=args.label_smoothing,
        ema_decay=args.ema_decay, warmup_epochs=args.warmup_epochs, qat=args.qat,
        qat_epochs=args.qat_epochs, qat_lr=args.qat_lr, qat_gelu=args.qat_gelu,
        restart_qat=args.restart_qat,
        strategy=args.strategy,
        devices=devices, tpu=args.tpu, seed=args.seed,
        augment=Augment(enabled=not args.no_augment, min_area=args.min_crop_area,
                        flip=not args.no_flip),
        freeze_bn=args.freeze_bn, bn_recalibration_batches=args.bn_recalibration_batches)


def _error(message: str, code: int) -> int:
    print(f"{PROG}: error: {str(message).strip().splitlines()[0]}", file=sys.stderr)
    return code


def main(argv: Optional[List[str]] = None) -> int:
    args = parser().parse_args(argv)
    from tinymoat.checkpoint import CheckpointError
    from tinymoat.data import DataError
    from tinymoat.saving import SavedModelError

    from .errors import NanLossError, TrainError
    from .loop import train
    try:
        state = train(settings_from(args))
    except (TrainError, DataError, SavedModelError, CheckpointError) as exc:
        return _error(exc, EXIT_USAGE)
    except NanLossError as exc:
        return _error(exc, EXIT_NAN)
    print(summary(args.out, state))
    return 0


def summary(out: str, state: Dict) -> str:
    lines = []
    for stage in ("float", "qat"):
        info = state.get("stages", {}).get(stage)
        if not info:
            continue
        val = info.get("val")
        score = (f", val top-1 {val['top1']:.2%}, top-5 {val['top5']:.2%}" if val else "")
        form = f", {info['gelu']} GELU" if info.get("gelu") else ""
        lines.append(f"{stage}: {info.get('completed_epochs')} epochs{form}{score} -> "
                     f"{out}/{stage}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
