"""Errors a training run reports as one line instead of a traceback."""


class TrainError(ValueError):
    """A user mistake (bad flag, data, weights or run folder): exit status 2."""


class NanLossError(RuntimeError):
    """The loss became NaN or infinite: the run stopped, exit status 1.

    Raised after training stopped; the checkpoints written before the bad
    step are untouched, so `--resume` (with a smaller --lr) goes on from them.
    """
