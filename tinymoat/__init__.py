"""tinymoat: tiny-MOAT and MOAT vision models for mobile and edge deployment.

Pipeline: `tinymoat` (models, checkpoints) -> `tinymoat.quantization` ->
`tinymoat.export`. Importing this package selects Keras 2 (`tf_keras`), which
tensorflow-model-optimization requires, and registers the custom layers so that
saved models load without extra arguments.
"""

import os as _os

from . import _keras  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

# In a source checkout, quantization/ and export/ sit beside this folder and
# pyproject.toml maps them to tinymoat.quantization and tinymoat.export. Make
# that mapping hold when the checkout itself is on sys.path too.
_root = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if not _os.path.isdir(_os.path.join(__path__[0], "export")) and _os.path.isfile(
        _os.path.join(_root, "export", "__init__.py")):
    __path__.append(_root)

from .checkpoint import CheckpointError, LoadReport, load_deeplab2_checkpoint  # noqa: E402
from .config import VARIANTS, WINDOW_ATTENTION, MoatConfig, get_config  # noqa: E402
from .layers import CUSTOM_OBJECTS  # noqa: E402
from .model import ENDPOINTS, build_model, with_pixel_input  # noqa: E402
from .preprocess import NORMALIZATION, preprocess  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "CUSTOM_OBJECTS", "CheckpointError", "ENDPOINTS", "LoadReport", "MoatConfig",
    "NORMALIZATION", "VARIANTS", "WINDOW_ATTENTION", "build_model", "get_config",
    "load_deeplab2_checkpoint", "preprocess", "with_pixel_input",
]
