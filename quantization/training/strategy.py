"""Choosing the tf.distribute strategy for --strategy.

--batch-size is always the global batch: Keras splits each batch evenly over
the replicas, so the same command trains the same schedule on 1 or 8 devices.
"""

from __future__ import annotations

import json
import os
from typing import Optional, Sequence

from tinymoat._keras import tf

from .errors import TrainError

STRATEGIES = ("auto", "mirrored", "multiworker", "tpu")


def make_strategy(name: str, devices: Optional[Sequence[str]] = None,
                  tpu: Optional[str] = None) -> tf.distribute.Strategy:
    """The strategy for `name`; a missing cluster or accelerator is a TrainError."""
    if name == "auto":
        gpus = tf.config.list_logical_devices("GPU")
        if devices or len(gpus) > 1:
            return tf.distribute.MirroredStrategy(devices=devices or None)
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices=devices or None)
    if name == "multiworker":
        return _multiworker()
    if name == "tpu":
        return _tpu(tpu)
    raise TrainError(f"unknown --strategy {name!r}; choose one of {', '.join(STRATEGIES)}")


def _multiworker():
    """MultiWorkerMirroredStrategy; the cluster comes from TF_CONFIG (required)."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise TrainError("--strategy multiworker needs the TF_CONFIG environment variable "
                         "(cluster and task of this worker)")
    try:
        config = json.loads(raw)
        config["cluster"], config["task"]["type"]  # noqa: B018  (shape check only)
    except (ValueError, KeyError, TypeError):
        raise TrainError("TF_CONFIG is not valid JSON with 'cluster' and 'task'") from None
    return tf.distribute.MultiWorkerMirroredStrategy()


def _tpu(name: Optional[str]):
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=name or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TrainError(f"--strategy tpu: no TPU found ({reason})") from None
    return tf.distribute.TPUStrategy(resolver)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this worker writes the run folder (always true off multi-worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in (resolver.cluster_spec().as_dict() or {})
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief
