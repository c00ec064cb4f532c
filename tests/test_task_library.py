"""Android's Task Library ImageClassifier (tflite-support 0.4.4, the official reader of
TFLite metadata) on exported files: the scores apps read are probabilities by default.

tflite-support needs protobuf < 4, which TensorFlow 2.21 does not allow, so it runs in
a throwaway virtualenv cached under ~/.cache/tinymoat/task-library (created with pip
on first use; the test skips where PyPI cannot be reached).
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import tinymoat
from tinymoat.export import export

from conftest import MICRO, build_micro

VENV = pathlib.Path(os.environ.get("TINYMOAT_TASK_LIBRARY",
                                   pathlib.Path.home() / ".cache" / "tinymoat" / "task-library"))
PACKAGES = ("tflite-support==0.4.4", "protobuf<4", "numpy<2")
READER = """
import json, sys
from tflite_support.task import core, processor, vision
options = vision.ImageClassifierOptions(
    base_options=core.BaseOptions(file_name=sys.argv[1]),
    classification_options=processor.ClassificationOptions(max_results=-1, score_threshold=-1e9))
classifier = vision.ImageClassifier.create_from_options(options)
result = classifier.classify(vision.TensorImage.create_from_file(sys.argv[2]))
print(json.dumps({c.category_name: c.score for c in result.classifications[0].categories}))
"""


@pytest.fixture(scope="module")
def task_library():
    python = VENV / "bin" / "python"
    marker = VENV / ".tinymoat-ready"
    if not marker.exists():
        tmp = VENV.with_name(VENV.name + f".tmp-{os.getpid()}")
        made = subprocess.run([sys.executable, "-m", "venv", "--clear", str(tmp)],
                              capture_output=True, text=True)
        pip = made.returncode == 0 and subprocess.run(
            [str(tmp / "bin" / "python"), "-m", "pip", "install", "-q", *PACKAGES],
            capture_output=True, text=True, timeout=600)
        if not pip or pip.returncode != 0:
            pytest.skip("cannot install tflite-support here: "
                        + ((pip.stderr if pip else made.stderr).strip().splitlines() or ["?"])[-1])
        (tmp / ".tinymoat-ready").write_text(" ".join(PACKAGES))
        shutil.rmtree(VENV, ignore_errors=True)  # an incomplete earlier attempt
        os.rename(tmp, VENV)
    return str(python)


def test_the_task_library_reads_probabilities_by_default_and_logits_on_request(
        task_library, tmp_path):
    model = build_micro()
    tinymoat.load_deeplab2_checkpoint(model, MICRO / "model.ckpt")
    pixels = np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "image.png")  # the input size: no resizing
    labels = [f"class_{i}" for i in range(10)]
    logits = np.asarray(model(tinymoat.preprocess(pixels[None].astype(np.float32))))[0]
    for outputs in ("probabilities", "logits"):
        options = {} if outputs == "probabilities" else {"outputs": "logits"}
        result = export(model, target="tflite", int8=True, out=tmp_path / outputs,
                        calib_limit=8, val_limit=4, verbose=False, **options)
        run = subprocess.run([task_library, "-c", READER, result.artifacts[0].path,
                              str(tmp_path / "image.png")], capture_output=True, text=True,
                             timeout=120)
        assert run.returncode == 0, run.stderr
        scores = json.loads(run.stdout.strip().splitlines()[-1])
        got = np.array([scores[name] for name in labels])
        if outputs == "probabilities":
            want = np.exp(logits - logits.max())
            want /= want.sum()
            assert got.sum() == pytest.approx(1.0, abs=1e-3)
            np.testing.assert_allclose(got, want, atol=0.03)
        else:  # the raw class scores, as before
            np.testing.assert_allclose(got, logits, atol=0.25 * np.abs(logits).max())
            assert abs(got.sum() - 1.0) > 0.05
        assert int(np.argmax(got)) == int(np.argmax(logits))
