"""The Android demo's plain-Java core (android_demo/core), built and tested without the Android SDK.

`android_demo/run_core_tests.sh` compiles the core and its JUnit 4 tests with javac and
runs them; the other tests here use those classes to check that the app agrees with the
Python side: statistics bit for bit with export/latency/stats.py, its example result
valid under export/latency/result.schema.json in the exact layout Python writes, and
labels read from a model that the exporter's metadata writer produced.
"""

import json
import pathlib
import random
import re
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEMO = ROOT / "android_demo"
SCRIPT = DEMO / "run_core_tests.sh"
TEST_SOURCES = DEMO / "core" / "src" / "test" / "java"
GOLDEN = DEMO / "core" / "src" / "test" / "resources" / "expected_result.json"
JARS = [pathlib.Path("/usr/share/java/junit4.jar"), pathlib.Path("/usr/share/java/hamcrest-core.jar")]

_missing = [tool for tool in ("javac", "java") if shutil.which(tool) is None]
_missing += [str(jar) for jar in JARS if not jar.exists()]
pytestmark = pytest.mark.skipif(bool(_missing), reason=f"needs a JDK 17+ and Debian's junit4 package; "
                                                       f"missing: {', '.join(_missing)}")


@pytest.fixture(scope="module")
def core_build(tmp_path_factory):
    """Runs the script once, keeping the compiled classes; returns (process, classes dir)."""
    out = tmp_path_factory.mktemp("android_core")
    proc = subprocess.run(["bash", str(SCRIPT), "--keep", str(out)], capture_output=True, text=True,
                          timeout=600)
    return proc, out


def _java(core_build, main_class, *args, stdin=None):
    proc, out = core_build
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    classpath = ":".join([str(out / "main"), str(out / "test"), *map(str, JARS)])
    run = subprocess.run(["java", "-cp", classpath, f"dev.tinymoat.demo.core.{main_class}", *args],
                         input=stdin, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_core_unit_tests_pass_and_all_of_them_run(core_build):
    proc, _ = core_build
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    ran = re.search(r"^OK \((\d+) tests?\)$", proc.stdout, flags=re.M)
    assert ran, f"no JUnit summary line in:\n{output[-3000:]}"
    declared = sum(path.read_text(encoding="utf-8").count("@Test\n")
                   for path in TEST_SOURCES.rglob("*Test.java"))
    assert declared >= 150
    assert int(ran.group(1)) == declared
    # The script runs classes named *Test: tests in any other file would never run.
    unnamed = [path.name for path in TEST_SOURCES.rglob("*.java")
               if not path.name.endswith("Test.java") and "@Test" in path.read_text(encoding="utf-8")]
    assert not unnamed, f"JUnit tests outside a *Test.java class are not run: {unnamed}"


def _sample_sets():
    rng = random.Random(20261122)
    sets = [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], [4.25], [15.87, 1.73], [0.1] * 200]
    for n in (2, 3, 7, 8, 9, 10, 11, 99, 100, 101, 128, 129, 1000, 4097):
        sets.append([round(rng.lognormvariate(2.5, 0.3), rng.choice((2, 3, 6))) for _ in range(n)])
        sets.append([rng.uniform(0.01, 500.0) for _ in range(n)])
    return sets


def test_statistics_equal_stats_py_bit_for_bit(core_build):
    from tinymoat.export.latency import stats

    sets = _sample_sets()
    lines = _java(core_build, "StatsProbe", "stats", stdin="".join(" ".join(map(repr, s)) + "\n" for s in sets))
    rows = lines.splitlines()
    assert len(rows) == len(sets)
    for samples, row in zip(sets, rows):
        java = [float(v) for v in row.split()]
        py = stats.summarize(samples, 0)
        expected = [py[k] for k in ("mean", "median", "p90", "p99", "min", "max", "stdev")]
        assert java == expected, f"n={len(samples)}"   # exact: no tolerance


def test_numbers_are_spelled_like_python_repr(core_build):
    rng = random.Random(7)
    values = [rng.uniform(0, 1) * 10 ** rng.randint(-12, 20) for _ in range(3000)]
    values += [0.0, 1e-05, 0.0001, 1e16, 1e15, 123456789.0, 5e-324, 1.7976931348623157e308]
    spelled = _java(core_build, "StatsProbe", "repr", stdin=" ".join(map(repr, values)) + "\n").split()
    assert len(spelled) == len(values)
    mismatches = [(repr(v), s) for v, s in zip(values, spelled) if repr(v) != s]
    assert not mismatches, mismatches[:10]


def test_quantization_equals_the_exporters_reference(core_build):
    import numpy as np

    from tinymoat.quantization.tensors import quantize

    rng = np.random.default_rng(3)
    cases = [("uint8", 1.0, 0, np.arange(0, 256, 0.5)),          # raw-pixel input: exact halves
             ("int8", 0.0186584, -14, rng.uniform(-2.5, 2.8, 500)),
             ("int8", 0.5, 3, np.arange(-70, 70, 0.25)),
             ("uint8", 0.02, 128, rng.normal(0, 3, 500))]
    lines, expected = [], []
    for dtype, scale, zero_point, values in cases:
        scale, values = float(np.float32(scale)), values.astype(np.float32)
        lines.append(" ".join([dtype, repr(scale), str(zero_point), *(repr(float(v)) for v in values)]))
        detail = {"dtype": np.dtype(dtype), "quantization": (scale, zero_point)}
        expected.append(quantize(values, detail).astype(int).tolist())
    rows = _java(core_build, "QuantizeProbe", stdin="\n".join(lines) + "\n").splitlines()
    assert [[int(v) for v in row.split()] for row in rows] == expected


def test_example_result_is_valid_and_written_as_python_writes_it():
    from tinymoat.export.latency import schema

    text = GOLDEN.read_text(encoding="utf-8")
    doc = schema.validate(json.loads(text))
    assert schema.dumps(doc) == text   # same field order, indentation, escaping and number spelling
    assert doc["device"]["kind"] == "android"
    assert doc["runtime"]["name"] == "litert"
    assert doc["runtime"]["delegate"] in ("cpu", "xnnpack", "gpu", "nnapi")
    assert doc["validation"] is None
    assert doc["tool"].startswith("tinymoat-android ")


def test_labels_from_a_model_written_by_the_exporter(core_build, tmp_path):
    from tinymoat._keras import keras, tf
    from tinymoat.export.tflite import metadata as tflite_metadata

    labels = ["tench", "goldfish", "great white shark", "crème brûlée", "a \"quoted\" \\ label"]
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(len(labels))(x))
    flat = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    keras.backend.clear_session()
    with_metadata = tflite_metadata.add_image_classifier_metadata(
        flat, name="probe", labels=labels, mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
    path = tmp_path / "probe_8_float32.tflite"
    path.write_bytes(with_metadata)
    assert json.loads(_java(core_build, "LabelsProbe", str(path))) == labels
    bare = tmp_path / "bare.tflite"
    bare.write_bytes(flat)
    assert json.loads(_java(core_build, "LabelsProbe", str(bare))) == []
