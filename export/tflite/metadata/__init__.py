"""TFLite model metadata (the "M001" schema) written without tflite-support.

tflite-support's metadata writer does not import beside the protobuf that
TensorFlow 2.21 needs, so this package builds the metadata FlatBuffer itself
and attaches it the way tflite-support's MetadataPopulator does: a buffer
referenced by a `TFLITE_METADATA` entry in `Model.metadata`, plus the
associated files (labels.txt) in a stored ZIP appended to the model. Nothing
here imports TensorFlow.

Modules: `schema` (the schema subset, as data), `codec` (dict <-> FlatBuffer,
min_parser_version), `model_file` (I/O tensors and metadata entries of the model;
the file format itself is tinymoat.quantization.tflite.flatbuffer), `packing`
(the appended zip), `image_classifier` (the public functions).
"""

from .codec import decode as decode_metadata
from .codec import encode as encode_metadata
from .codec import min_parser_version
from .image_classifier import (LABELS_FILE, METADATA_NAME, add_image_classifier_metadata,
                               read_metadata)
from .model_file import metadata_buffer
from .packing import read_zip as packed_files

__all__ = [
    "LABELS_FILE", "METADATA_NAME", "add_image_classifier_metadata", "decode_metadata",
    "encode_metadata", "metadata_buffer", "min_parser_version", "packed_files", "read_metadata",
]
