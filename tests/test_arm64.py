"""LiteRT's aarch64 build under qemu (bench/arm64_check.py): the exports agree with x86.

The emulated environment (an arm64 Debian Python root with the ai-edge-litert
1.4.0 aarch64 wheel, ~140 MB) is built by `python bench/arm64_check.py`, never by
the tests: the test that runs models skips where it is not cached.
"""

import json
import pathlib
import platform
import subprocess
import sys

import numpy as np
import pytest

from tinymoat import data
from tinymoat.export import progress
from tinymoat.export.latency import runtimes
from tinymoat.export.target import ExportJob
from tinymoat.export.tflite import TFLiteTarget

from conftest import loaded_micro

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "bench"))
import arm64_check  # noqa: E402

progress.ENABLED = False


def test_an_incomplete_or_outdated_cache_is_not_used(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYMOAT_ARM64", str(tmp_path))
    assert arm64_check.cached_python() is None  # nothing built
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").write_text("#!/bin/sh\n")
    qemu = tmp_path / "qemu"
    qemu.write_text("#!/bin/sh\n")
    qemu.chmod(0o755)
    marker = tmp_path / arm64_check.MARKER
    marker.write_text(json.dumps({"spec": arm64_check._spec(), "qemu": str(qemu)}))
    assert arm64_check.cached_python() == tmp_path / "bin" / "python"
    spec = arm64_check._spec() | {"wheels": ["ai-edge-litert==1.3.0"]}
    marker.write_text(json.dumps({"spec": spec, "qemu": str(qemu)}))
    assert arm64_check.cached_python() is None  # built for other wheels
    marker.write_text(json.dumps({"spec": arm64_check._spec(), "qemu": str(tmp_path / "gone")}))
    assert arm64_check.cached_python() is None  # qemu uninstalled since


@pytest.fixture(scope="module")
def arm_python():
    python = arm64_check.cached_python()
    if python is None:
        pytest.skip("no emulated aarch64 LiteRT cached: run python bench/arm64_check.py once")
    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("compares the emulated aarch64 build with x86")
    return python


def test_emulated_aarch64_litert_agrees_with_x86_and_delegates_to_xnnpack(arm_python, tmp_path):
    machine = subprocess.run([str(arm_python), "-c", "import platform; print(platform.machine())"],
                             capture_output=True, text=True, timeout=120)
    assert machine.stdout.strip() == "aarch64"
    model = loaded_micro(batch_size=1)
    job = ExportJob(model=model, variant="micro", input_size=(64, 64),
                    labels=[f"c{i}" for i in range(10)], normalization="imagenet",
                    calibration=data.sample_photo_crops(64, count=8).pixels)
    crops = data.sample_photo_crops(64, count=3, seed=1).pixels
    for precision in ("float32", "int8"):
        path = str(tmp_path / f"{precision}.tflite")
        TFLiteTarget().export(job, precision, path)
        feeds = arm64_check.feeds_for(path, crops, job.normalized(crops))
        assert feeds[0][0].dtype == (np.uint8 if precision == "int8" else np.float32)
        facts, outputs = arm64_check.run_crops(arm_python, path, feeds, "emulated runner")
        assert facts["runtime"]["version"] == "1.4.0"
        reference = [runtimes.reference_outputs(path, feed) for feed in feeds]
        figures = arm64_check.compare(outputs, [r for r, _ in reference], reference[0][1])
        assert figures["same_top1"] == len(crops)
        if precision == "float32":
            assert figures["max_rel_diff"] <= arm64_check.FLOAT_REL_TARGET
        else:
            assert figures["min_sqnr_db"] >= arm64_check.SQNR_TARGET
        model_facts = facts["models"][0]
        assert model_facts["partitions"] >= 1
        counts = arm64_check.op_counts(path)
        assert model_facts["ops_outside"].get("CONV_2D", 0) < counts["CONV_2D"]
