"""Optimizer, learning-rate schedule, loss and metrics of a training stage.

AdamW with decoupled weight decay (not applied to biases and normalisation
scales, i.e. variables of rank <= 1), a linear warm-up followed by a cosine
decay to zero, label-smoothed cross-entropy on logits, and an exponential
moving average (EMA) of the weights kept by the optimizer.

The EMA decay is debiased, min(decay, (1 + t) / (10 + t)) at step t, as in
tf.train.ExponentialMovingAverage with num_updates: Keras' own EMA starts from
the initial weights with the full decay, so with decay 0.9999 a run of a few
thousand steps would average mostly the starting point.
"""

from __future__ import annotations

import dataclasses

from tinymoat._keras import keras, tf


class EmaAdamW(keras.optimizers.AdamW):
    """AdamW whose weight EMA uses the debiased decay (see the module docstring).

    The shadow weights live in the optimizer, so they are checkpointed with
    it; `finalize_variable_values` (called by `Model.fit` when it returns)
    copies them into the model.
    """

    def _ema_decay(self):
        step = tf.cast(self.iterations, tf.float32)
        return tf.minimum(tf.cast(self.ema_momentum, tf.float32), (1.0 + step) / (10.0 + step))

    def _update_model_variables_moving_average(self, var_list):
        if not self.use_ema:
            return
        decay = self._ema_decay()

        def update(average, var):
            average.assign(decay * average + (1.0 - decay) * var)

        for var in var_list:
            average = self._model_variables_moving_average[self._index_dict[self._var_key(var)]]
            self._distribution_strategy.extended.update(average, update, args=(var,),
                                                        group=False)


@dataclasses.dataclass(frozen=True)
class Hyper:
    learning_rate: float
    weight_decay: float
    label_smoothing: float
    ema_decay: float           # 0: no EMA
    total_steps: int
    warmup_steps: int


def schedule(hyper: Hyper):
    """Linear warm-up from 0 to the learning rate, then cosine decay to 0."""
    decay_steps = max(1, hyper.total_steps - hyper.warmup_steps)
    if hyper.warmup_steps <= 0:
        return keras.optimizers.schedules.CosineDecay(hyper.learning_rate, decay_steps)
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps, warmup_target=hyper.learning_rate, warmup_steps=hyper.warmup_steps)


def make_optimizer(model, hyper: Hyper) -> EmaAdamW:
    """Built for `model`'s variables, so a checkpoint restores into it at once."""
    optimizer = EmaAdamW(learning_rate=schedule(hyper), weight_decay=hyper.weight_decay,
                         use_ema=hyper.ema_decay > 0, ema_momentum=hyper.ema_decay or 0.99)
    optimizer.exclude_from_weight_decay(
        var_list=[v for v in model.trainable_variables if v.shape.rank <= 1])
    optimizer.build(model.trainable_variables)
    return optimizer


def compile_model(model, optimizer, hyper: Hyper, num_classes: int) -> None:
    loss = keras.losses.CategoricalCrossentropy(from_logits=True,
                                                label_smoothing=hyper.label_smoothing)
    metrics = [keras.metrics.CategoricalAccuracy(name="top1"),
               keras.metrics.TopKCategoricalAccuracy(k=min(5, num_classes), name="top5")]
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)


def current_learning_rate(optimizer) -> float:
    """The learning rate of the last step (what the schedule gave it)."""
    return float(tf.convert_to_tensor(optimizer.learning_rate).numpy())
