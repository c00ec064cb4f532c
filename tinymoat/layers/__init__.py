"""Custom Keras layers of the MOAT graph (registered for serialisation on import)."""

from .activation import Gelu, gelu
from .attention import AttendValues, AttentionLogits, AttentionSoftmax, HeadProjection
from .drop_path import DropPath
from .normalize import Normalize
from .relative_position import RelativePositionBias, dense_bias
from .windows import WindowMerge, WindowPartition

CUSTOM_OBJECTS = {cls.__name__: cls for cls in (
    Gelu, AttendValues, AttentionLogits, AttentionSoftmax, HeadProjection, DropPath, Normalize,
    RelativePositionBias, WindowMerge, WindowPartition)}

__all__ = sorted(CUSTOM_OBJECTS) + ["CUSTOM_OBJECTS", "gelu", "dense_bias"]
