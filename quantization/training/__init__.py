"""tinymoat-train: fine-tune a MOAT model in float, then quantization-aware.

Modules, in the order a run uses them:
  cli       argparse front end; every user mistake is one line and exit 2
  run       the run folder: run.json, compatibility checks for --resume
  strategy  tf.distribute strategy from --strategy
  sources   image sources (folders, TFRecords, TFDS), checked before training
  pipelines tf.data training and validation batches, stateless augmentation
  weights   building the model and loading --weights (with --fresh-head)
  optim     AdamW with a debiased weight EMA, warm-up + cosine schedule, loss
  settings  what a run is asked to do, and the checks of it
  callbacks per-epoch checkpoints, CSV log, NaN guard
  trainer   one stage's fit loop, checkpoints and the saved model's validation
  float_stage, qat_stage
            the two stages
  loop      a run: checks, then the float stage, then the QAT stage
"""
