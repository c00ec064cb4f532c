"""tinymoat-train: fine-tune a MOAT model in float, then quantization-aware.

Modules, in the order a run uses them:
  cli       argparse front end; every user mistake is one line and exit 2
  run       the run folder: run.json, compatibility checks for --resume
  strategy  tf.distribute strategy from --strategy
  data      image sources (folders, TFRecords, TFDS), validation, tf.data pipelines
  weights   building the model and loading --weights (with --fresh-head)
  optim     AdamW with a debiased weight EMA, warm-up + cosine schedule, loss
  callbacks per-epoch checkpoints, CSV log, NaN guard
  loop      the float stage and the QAT stage
"""
