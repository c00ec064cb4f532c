"""tinymoat: tiny-MOAT and MOAT vision models for mobile and edge deployment.

Pipeline: `tinymoat` (models, checkpoints) -> `tinymoat.quantization` ->
`tinymoat.export`. Importing this package selects Keras 2 (`tf_keras`), which
tensorflow-model-optimization requires; its names load on first use.
"""

import os as _os

# tensorflow-model-optimization needs Keras 2: chosen before TensorFlow is imported
# anywhere in the process (tinymoat/_keras.py imports it, on first use of a model).
_os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

# The function shares its name with its module (numpy only, cheap): bound here, so
# that a later `import tinymoat.preprocess` cannot leave the module in its place.
from ._lazy import lazy_names as _lazy_names  # noqa: E402
from .preprocess import NORMALIZATION, preprocess  # noqa: E402

# Public names and the modules that define them, imported on first use (PEP 562), so
# that tools that only read files (tinymoat-report, the result schema) never load
# TensorFlow. Loading a model module registers the custom layers for saved models.
_EXPORTS = {
    "CheckpointError": "checkpoint", "LoadReport": "checkpoint",
    "load_deeplab2_checkpoint": "checkpoint",
    "VARIANTS": "config", "WINDOW_ATTENTION": "config", "MoatConfig": "config",
    "get_config": "config",
    "CUSTOM_OBJECTS": "layers",
    "ENDPOINTS": "model", "build_model": "model", "with_pixel_input": "model",
}

__all__ = sorted([*_EXPORTS, "NORMALIZATION", "preprocess"])


__getattr__, __dir__ = _lazy_names(__name__, _EXPORTS, globals())
