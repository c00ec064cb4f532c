"""The part of the TFLite metadata schema (metadata_schema.fbs, identifier "M001") we use.

There is no `flatc` in our toolchain and `tflite-support` does not import next to
TensorFlow 2.21, so the schema is restated here as data. `codec.py` derives
FlatBuffers slot numbers from this declaration order exactly as `flatc` does:
each field takes the next slot, and a union field takes two (its `_type` byte
first, then the table offset). Keep the order identical to the .fbs file; a
field may only be appended, never inserted, or old readers break.

Only tables an image classifier needs are described. Enum and union member
lists are complete up to schema 1.5 so that names read back correctly.
"""

from __future__ import annotations

from typing import NamedTuple

FILE_IDENTIFIER = b"M001"

# Value kinds of a field.
STRING = "string"          # string
STRINGS = "[string]"       # [string]
FLOATS = "[float]"         # [float]
TABLE = "table"            # another table, `ref` names it
TABLES = "[table]"         # vector of tables, `ref` names the element table
ENUM = "enum"              # byte-sized enum, `ref` names it in ENUMS
UNION = "union"            # union, `ref` names it in UNIONS
UINT32 = "uint"
INT32 = "int"


class Field(NamedTuple):
    name: str
    kind: str
    ref: str | None = None


TABLE_FIELDS: dict[str, tuple[Field, ...]] = {
    "ModelMetadata": (
        Field("name", STRING),
        Field("description", STRING),
        Field("version", STRING),
        Field("subgraph_metadata", TABLES, "SubGraphMetadata"),
        Field("author", STRING),
        Field("license", STRING),
        Field("associated_files", TABLES, "AssociatedFile"),
        Field("min_parser_version", STRING),
    ),
    "SubGraphMetadata": (
        Field("name", STRING),
        Field("description", STRING),
        Field("input_tensor_metadata", TABLES, "TensorMetadata"),
        Field("output_tensor_metadata", TABLES, "TensorMetadata"),
        Field("associated_files", TABLES, "AssociatedFile"),
        Field("input_process_units", TABLES, "ProcessUnit"),    # 1.1.0
        Field("output_process_units", TABLES, "ProcessUnit"),   # 1.1.0
    ),
    "TensorMetadata": (
        Field("name", STRING),
        Field("description", STRING),
        Field("dimension_names", STRINGS),
        Field("content", TABLE, "Content"),
        Field("process_units", TABLES, "ProcessUnit"),
        Field("stats", TABLE, "Stats"),
        Field("associated_files", TABLES, "AssociatedFile"),
    ),
    "Content": (
        Field("content_properties", UNION, "ContentProperties"),
        Field("range", TABLE, "ValueRange"),
    ),
    "FeatureProperties": (),
    "ImageProperties": (
        Field("color_space", ENUM, "ColorSpaceType"),
        Field("default_size", TABLE, "ImageSize"),
    ),
    "ImageSize": (
        Field("width", UINT32),
        Field("height", UINT32),
    ),
    "ValueRange": (
        Field("min", INT32),
        Field("max", INT32),
    ),
    "ProcessUnit": (
        Field("options", UNION, "ProcessUnitOptions"),
    ),
    "NormalizationOptions": (
        Field("mean", FLOATS),
        Field("std", FLOATS),
    ),
    "Stats": (
        Field("max", FLOATS),
        Field("min", FLOATS),
    ),
    "AssociatedFile": (
        Field("name", STRING),
        Field("description", STRING),
        Field("type", ENUM, "AssociatedFileType"),
        Field("locale", STRING),
        Field("version", STRING),                              # 1.4.1
    ),
}

# Member names by value; index == numeric value.
ENUMS: dict[str, tuple[str, ...]] = {
    "ColorSpaceType": ("UNKNOWN", "RGB", "GRAYSCALE"),
    "AssociatedFileType": ("UNKNOWN", "DESCRIPTIONS", "TENSOR_AXIS_LABELS",
                           "TENSOR_VALUE_LABELS", "TENSOR_AXIS_SCORE_CALIBRATION",
                           "VOCABULARY", "SCANN_INDEX_FILE"),
}

UNIONS: dict[str, tuple[str, ...]] = {
    "ContentProperties": ("NONE", "FeatureProperties", "ImageProperties",
                          "BoundingBoxProperties", "AudioProperties"),
    "ProcessUnitOptions": ("NONE", "NormalizationOptions", "ScoreCalibrationOptions",
                           "ScoreThresholdingOptions", "BertTokenizerOptions",
                           "SentencePieceTokenizerOptions", "RegexTokenizerOptions"),
}


def slots(table: str) -> list[tuple[Field, int]]:
    """(field, slot) pairs of a table; a union's slot is that of its value, type is slot - 1."""
    out, slot = [], 0
    for field in TABLE_FIELDS[table]:
        if field.kind == UNION:
            slot += 1
        out.append((field, slot))
        slot += 1
    return out


def slot_count(table: str) -> int:
    pairs = slots(table)
    return pairs[-1][1] + 1 if pairs else 0


# ---------------------------------------------------------------------------
# min_parser_version: "the largest version among the members populated", with
# 1.0.0 for everything in the first release. These are the members the
# reference parser version check (metadata_version.cc in tflite-support and
# MediaPipe) knows of; members we never write are listed so that the number
# stays right if someone extends TABLE_FIELDS.
BASE_PARSER_VERSION = (1, 0, 0)

# (table, field) -> version, when the field is present at all.
FIELD_VERSIONS: dict[tuple[str, str], tuple[int, int, int]] = {
    ("SubGraphMetadata", "input_process_units"): (1, 1, 0),
    ("SubGraphMetadata", "output_process_units"): (1, 1, 0),
    ("SubGraphMetadata", "input_tensor_groups"): (1, 2, 0),
    ("SubGraphMetadata", "output_tensor_groups"): (1, 2, 0),
    ("AssociatedFile", "version"): (1, 4, 1),
}

# (enum or union, member) -> version, when that member is used.
MEMBER_VERSIONS: dict[tuple[str, str], tuple[int, int, int]] = {
    ("AssociatedFileType", "VOCABULARY"): (1, 0, 1),
    ("ProcessUnitOptions", "BertTokenizerOptions"): (1, 1, 0),
    ("ProcessUnitOptions", "SentencePieceTokenizerOptions"): (1, 1, 0),
    ("ProcessUnitOptions", "RegexTokenizerOptions"): (1, 2, 1),
    ("ContentProperties", "AudioProperties"): (1, 3, 0),
    ("AssociatedFileType", "SCANN_INDEX_FILE"): (1, 4, 0),
}
