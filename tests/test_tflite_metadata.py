"""TFLite metadata written without tflite-support: structure, packing, and that models still run."""

import io
import zipfile

import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as fb
from ai_edge_litert.interpreter import Interpreter

from tinymoat._keras import keras, tf
from tinymoat.export.tflite import metadata as tmd
from tinymoat.export.tflite.metadata import codec

LABELS = ["cat", "dog", "bird", "fish", "ünïcode label"]
MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]
INFO = dict(name="tiny-test", description="A 5-class test classifier.", version="0.1.0",
            author="tinymoat", license="Apache-2.0")


def _classifier(softmax=True):
    rng = np.random.default_rng(0)
    inp = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(5, activation="softmax" if softmax else None)(x)
    model = keras.Model(inp, out)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def _convert(model, io_type=None):
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if io_type is not None:
        def representative():
            rng = np.random.default_rng(1)
            for _ in range(8):
                yield [rng.uniform(-2.2, 2.7, (1, 16, 16, 3)).astype(np.float32)]
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = io_type
        converter.inference_output_type = io_type
    return converter.convert()


@pytest.fixture(scope="module")
def models():
    keras_model = _classifier()
    out = {"float32": _convert(keras_model), "int8": _convert(keras_model, tf.int8),
           "uint8": _convert(keras_model, tf.uint8)}
    keras.backend.clear_session()
    return out


@pytest.fixture(scope="module")
def logits_model():
    out = _convert(_classifier(softmax=False))
    keras.backend.clear_session()
    return out


def _add(model_bytes, **overrides):
    kwargs = dict(INFO, labels=LABELS, mean=MEAN, std=STD)
    kwargs.update(overrides)
    return tmd.add_image_classifier_metadata(model_bytes, **kwargs)


def _entries(model_bytes):
    model = fb.Model.GetRootAs(model_bytes, 0)
    return [(model.Metadata(i).Name().decode(), model.Metadata(i).Buffer())
            for i in range(model.MetadataLength())]


def _buffer(model_bytes, index):
    return fb.Model.GetRootAs(model_bytes, 0).Buffers(index).DataAsNumpy().tobytes()


def _run(model_bytes, x):
    it = Interpreter(model_content=model_bytes)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


def _sample(dtype):
    rng = np.random.default_rng(7)
    if dtype == np.float32:
        return rng.uniform(-2, 2, (1, 16, 16, 3)).astype(np.float32)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, (1, 16, 16, 3), endpoint=True).astype(dtype)


# ------------------------------------------------------------------ round trip
@pytest.mark.parametrize("kind", ["float32", "int8", "uint8"])
def test_read_back_equals_what_was_written(models, kind):
    md = tmd.read_metadata(_add(models[kind]))
    for key, value in INFO.items():
        assert md[key] == value
    assert md["min_parser_version"] == "1.0.0"
    assert md["input"]["name"] == "image"
    assert md["input"]["color_space"] == "RGB"
    np.testing.assert_allclose(md["input"]["mean"], MEAN, rtol=1e-6)
    np.testing.assert_allclose(md["input"]["std"], STD, rtol=1e-6)
    stats = md["input"]["stats"]
    if kind == "float32":   # the normalized range of [0, 255], per channel
        np.testing.assert_allclose(stats["min"], [(0 - m) / s for m, s in zip(MEAN, STD)], rtol=1e-6)
        np.testing.assert_allclose(stats["max"], [(255 - m) / s for m, s in zip(MEAN, STD)], rtol=1e-6)
    else:                   # the range of the integer input type
        info = np.iinfo(kind)
        assert stats == {"min": [info.min], "max": [info.max]}
    assert md["output"]["name"] == "probability"
    assert md["output"]["labels_file"] == "labels.txt"
    assert md["output"]["stats"] == {"min": [0.0], "max": [1.0]}
    assert md["labels"] == LABELS
    assert md["packed_files"] == ["labels.txt"]


def test_metadata_layout_is_what_task_library_reads(models):
    raw = tmd.read_metadata(_add(models["float32"]))["raw"]
    assert len(raw["subgraph_metadata"]) == 1
    sub = raw["subgraph_metadata"][0]
    (image,), (scores,) = sub["input_tensor_metadata"], sub["output_tensor_metadata"]
    assert image["content"]["content_properties_type"] == "ImageProperties"
    assert image["content"]["content_properties"] == {"color_space": "RGB"}
    (unit,) = image["process_units"]
    assert unit["options_type"] == "NormalizationOptions"
    assert scores["content"] == {"content_properties_type": "FeatureProperties",
                                 "content_properties": {}}
    (labels_file,) = scores["associated_files"]
    assert labels_file["name"] == "labels.txt" and labels_file["type"] == "TENSOR_AXIS_LABELS"
    assert labels_file["description"]


def test_single_value_normalization_and_custom_range(models):
    md = tmd.read_metadata(_add(models["float32"], mean=[127.5], std=[127.5], input_range=(0, 1)))
    assert md["input"]["mean"] == [127.5] and md["input"]["std"] == [127.5]
    np.testing.assert_allclose(md["input"]["stats"]["min"], [-1.0])
    np.testing.assert_allclose(md["input"]["stats"]["max"], [(1 - 127.5) / 127.5], rtol=1e-6)


def test_output_without_softmax_is_called_logits(logits_model):
    md = tmd.read_metadata(_add(logits_model))
    assert md["output"]["name"] == "logits"
    assert md["output"]["stats"] is None
    assert tmd.read_metadata(_add(logits_model, output_name="scores"))["output"]["name"] == "scores"


# --------------------------------------------------------------------- packing
def test_labels_are_a_stored_zip_after_the_model(models):
    out = _add(models["float32"])
    with zipfile.ZipFile(io.BytesIO(out)) as zf:
        assert zf.namelist() == ["labels.txt"]
        (info,) = zf.infolist()
        assert info.compress_type == zipfile.ZIP_STORED
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert zf.read("labels.txt").decode("utf-8") == "".join(f"{label}\n" for label in LABELS)
        assert zf.testzip() is None
    # The archive follows the model FlatBuffer and its offsets count from the file start,
    # which is what Java's ZipFile and minizip expect.
    start = info.header_offset
    assert out[start:start + 4] == b"PK\x03\x04"
    head = out[:start]
    assert head[4:8] == b"TFL3"
    assert tmd.read_metadata(head)["labels"] is None   # metadata is in the FlatBuffer itself
    assert out.count(b"PK\x05\x06") == 1


# ------------------------------------------------------------------ the model
@pytest.mark.parametrize("kind", ["float32", "int8", "uint8"])
def test_model_still_runs_with_identical_outputs(models, kind):
    original, out = models[kind], _add(models[kind])
    x = _sample({"float32": np.float32, "int8": np.int8, "uint8": np.uint8}[kind])
    before, after = _run(original, x), _run(out, x)
    assert before.dtype == after.dtype and before.shape == after.shape == (1, 5)
    assert np.array_equal(before, after)
    a, b = Interpreter(model_content=original), Interpreter(model_content=out)
    for da, db in ((a.get_input_details()[0], b.get_input_details()[0]),
                   (a.get_output_details()[0], b.get_output_details()[0])):
        assert da["name"] == db["name"] and da["dtype"] == db["dtype"]
        assert da["quantization"] == db["quantization"]
    assert a.get_signature_list() == b.get_signature_list()


def test_metadata_entry_is_found_by_name_and_others_are_kept(models):
    original, out = models["int8"], _add(models["int8"])
    before, after = _entries(original), _entries(out)
    names = [name for name, _ in after]
    assert names == [name for name, _ in before] + ["TFLITE_METADATA"]
    assert {"min_runtime_version", "CONVERSION_METADATA"} <= set(names)
    for name, index in before:   # kept, with the same content
        assert _buffer(out, dict(after)[name]) == _buffer(original, index)
    meta = _buffer(out, dict(after)["TFLITE_METADATA"])
    assert meta == tmd.metadata_buffer(out, "TFLITE_METADATA")
    assert meta[4:8] == b"M001"
    assert codec.decode(meta)["name"] == INFO["name"]


def test_buffers_are_16_byte_aligned(models):
    out = _add(models["float32"])
    model = fb.Model.GetRootAs(out, 0)
    checked = 0
    for i in range(model.BuffersLength()):
        buf = model.Buffers(i)
        if not buf.DataIsNone() and buf.DataLength():
            assert buf._tab.Vector(buf._tab.Offset(4)) % 16 == 0, i
            checked += 1
    assert checked >= 5


def test_min_parser_version_matches_the_fields_used(models):
    meta = tmd.metadata_buffer(_add(models["float32"]), "TFLITE_METADATA")
    raw = codec.decode(meta)
    assert raw["min_parser_version"] == codec.min_parser_version(raw) == "1.0.0"
    # Members added after 1.0.0 raise the version, the largest one wins.
    vocab = {"name": "vocab.txt", "type": "VOCABULARY"}
    assert codec.min_parser_version({"associated_files": [vocab]}) == "1.0.1"
    regex = {"options_type": "RegexTokenizerOptions"}
    assert codec.min_parser_version({"subgraph_metadata": [{"input_process_units": [regex]}]}) == "1.2.1"
    sub = {"input_process_units": [], "output_tensor_metadata": [
        {"associated_files": [dict(vocab, version="2")]}]}
    assert codec.min_parser_version({"subgraph_metadata": [sub]}) == "1.4.1"


# ------------------------------------------------- determinism and idempotence
def test_same_inputs_give_identical_bytes(models):
    assert _add(models["int8"]) == _add(models["int8"])
    assert _add(models["int8"], labels=tuple(LABELS), mean=np.array(MEAN)) == _add(models["int8"])


def test_adding_twice_replaces_instead_of_stacking(models):
    once = _add(models["float32"])
    assert _add(once) == once
    relabelled = _add(once, name="renamed", labels=[f"class {i}" for i in range(5)], mean=[0.5],
                      std=[2.0])
    assert [name for name, _ in _entries(relabelled)].count("TFLITE_METADATA") == 1
    assert fb.Model.GetRootAs(relabelled, 0).BuffersLength() == fb.Model.GetRootAs(once, 0).BuffersLength()
    assert relabelled.count(b"PK\x05\x06") == 1 and relabelled.count(b"PK\x03\x04") == 1
    md = tmd.read_metadata(relabelled)
    assert md["name"] == "renamed" and md["labels"][3] == "class 3" and md["input"]["mean"] == [0.5]


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize("overrides, message", [
    (dict(mean=[1.0, 2.0]), "mean needs 1 or 3 values"),
    (dict(std=[1.0, 2.0, 3.0, 4.0]), "std needs 1 or 3 values"),
    (dict(mean=[1.0], std=[1.0, 2.0, 3.0]), "same length"),
    (dict(std=[58.0, 0.0, 57.0]), "non-zero"),
    (dict(mean=[float("nan")] * 3), "finite"),
    (dict(labels=[]), "must not be empty"),
    (dict(labels=LABELS[:4]), "4 labels for an output of 5 classes"),
    (dict(labels=LABELS + ["extra"]), "6 labels for an output of 5 classes"),
    (dict(labels=["a", "b\nc", "d", "e", "f"]), "single-line"),
    (dict(labels="abcde"), "not one string"),
    (dict(color_space="GRAYSCALE"), "needs 1 channels"),
    (dict(color_space="BGR"), "color_space must be one of"),
    (dict(input_range=(255, 0)), "low < high"),
    (dict(name=""), "name must be a non-empty string"),
])
def test_bad_arguments_raise_clear_value_errors(models, overrides, message):
    with pytest.raises(ValueError, match=message):
        _add(models["float32"], **overrides)


def test_bad_models_raise_value_errors(models):
    with pytest.raises(ValueError, match="not a TFLite model"):
        _add(b"\x00" * 64)
    with pytest.raises(ValueError, match="no TFLITE_METADATA"):
        tmd.read_metadata(models["float32"])
    meta = bytearray(tmd.metadata_buffer(_add(models["float32"]), "TFLITE_METADATA"))
    with pytest.raises(ValueError, match="corrupt metadata buffer"):
        codec.decode(bytes(meta[:40]))
    meta[4:8] = b"M000"
    with pytest.raises(ValueError, match="file identifier"):
        codec.decode(bytes(meta))


# ----------------------------------------------------------------------- codec
def test_codec_round_trips_every_field_kind():
    obj = {
        "name": "m", "version": "3", "min_parser_version": "1.0.0",
        "associated_files": [{"name": "readme.txt", "type": "DESCRIPTIONS", "locale": "en"}],
        "subgraph_metadata": [{
            "name": "main",
            "input_tensor_metadata": [{
                "dimension_names": ["batch", "height", "width", "channel"],
                "content": {"content_properties_type": "ImageProperties",
                            "content_properties": {"color_space": "GRAYSCALE",
                                                   "default_size": {"width": 224, "height": 160}},
                            "range": {"min": 1, "max": 2}},
                "process_units": [{"options_type": "NormalizationOptions",
                                   "options": {"mean": [0.25], "std": [-0.5]}}],
            }],
        }],
    }
    buf = codec.encode(obj)
    assert buf[4:8] == b"M001"
    assert codec.decode(buf) == obj
    with pytest.raises(ValueError, match="no field"):
        codec.encode({"nmae": "typo"})
    with pytest.raises(ValueError, match="unknown ColorSpaceType"):
        codec.encode({"subgraph_metadata": [{"input_tensor_metadata": [{"content": {
            "content_properties_type": "ImageProperties",
            "content_properties": {"color_space": "CMYK"}}}]}]})


# ------------------------------------- field ids, checked against the .fbs by hand
class _Raw:
    """Reads a table by the vtable offsets metadata_schema.fbs gives (4 + 2 * field id),

    independently of schema.py, so that a slot numbering mistake shared by the
    writer and reader cannot go unnoticed.
    """

    def __init__(self, buf, pos):
        from flatbuffers.table import Table
        self.buf, self.tab = buf, Table(buf, pos)

    def _at(self, vt):
        off = self.tab.Offset(vt)
        assert off, f"field at vtable offset {vt} is absent"
        return self.tab.Pos + off

    def string(self, vt):
        return self.tab.String(self._at(vt)).decode()

    def byte(self, vt):
        import flatbuffers.number_types as N
        return self.tab.Get(N.Uint8Flags, self._at(vt))

    def table(self, vt):
        return _Raw(self.buf, self.tab.Indirect(self._at(vt)))

    def tables(self, vt):
        at = self._at(vt) - self.tab.Pos
        start, n = self.tab.Vector(at), self.tab.VectorLen(at)
        return [_Raw(self.buf, self.tab.Indirect(start + 4 * i)) for i in range(n)]

    def floats(self, vt):
        import flatbuffers.number_types as N
        at = self._at(vt) - self.tab.Pos
        return list(self.tab.GetVectorAsNumpy(N.Float32Flags, at))


def test_field_ids_match_metadata_schema_fbs(models):
    meta = tmd.metadata_buffer(_add(models["float32"]), "TFLITE_METADATA")
    root = _Raw(meta, int.from_bytes(meta[:4], "little"))
    # ModelMetadata: name 0, description 1, version 2, subgraph_metadata 3, author 4,
    # license 5, associated_files 6, min_parser_version 7.
    assert [root.string(vt) for vt in (4, 6, 8, 12, 14, 18)] == [
        INFO["name"], INFO["description"], INFO["version"], INFO["author"], INFO["license"], "1.0.0"]
    (sub,) = root.tables(10)
    # SubGraphMetadata: input_tensor_metadata 2, output_tensor_metadata 3.
    (image,), (scores,) = sub.tables(8), sub.tables(10)
    # TensorMetadata: name 0, content 3, process_units 4, stats 5, associated_files 6.
    assert image.string(4) == "image" and scores.string(4) == "probability"
    # Content: content_properties_type 0 (ImageProperties = 2), content_properties 1.
    content = image.table(10)
    assert content.byte(4) == 2
    assert content.table(6).byte(4) == 1                     # ImageProperties.color_space RGB
    (unit,) = image.tables(12)
    assert unit.byte(4) == 1                                 # ProcessUnitOptions.NormalizationOptions
    norm = unit.table(6)
    np.testing.assert_allclose(norm.floats(4), MEAN, rtol=1e-6)
    np.testing.assert_allclose(norm.floats(6), STD, rtol=1e-6)
    stats = image.table(14)                                  # Stats: max 0, min 1
    assert stats.floats(4)[0] > 2 and stats.floats(6)[0] < -2
    assert scores.table(10).byte(4) == 1                     # FeatureProperties
    (labels_file,) = scores.tables(16)                       # AssociatedFile: name 0, type 2
    assert labels_file.string(4) == "labels.txt" and labels_file.byte(8) == 2
