"""tinymoat-train end to end on a tiny generated dataset with the micro configuration."""

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
from tinymoat import data as imagedata
from tinymoat import saving
from tinymoat._keras import keras, tf
from tinymoat.checkpoint import checkpoint_name
from tinymoat.quantization import batch_norm
from tinymoat.quantization.training import cli, pipelines, sources, weights
from tinymoat.quantization.training.errors import TrainError
from tinymoat.quantization.training.optim import Hyper, make_optimizer
from tinymoat.quantization.training.strategy import make_strategy

from conftest import make_color_images, write_checkpoint
from test_data import bomb_png, without_blocking

ROOT = pathlib.Path(__file__).resolve().parent.parent
MICRO = ["--variant", "tiny-moat-0", "--input-size", "32", "--override", "stem_size=8,8",
         "--override", "hidden_size=8,16,32,64", "--override", "num_blocks=1,1,1,1",
         "--override", "head_size=8", "--batch-size", "4"]
MICRO_CONFIG = dict(stem_size=(8, 8), hidden_size=(8, 16, 32, 64), num_blocks=(1, 1, 1, 1),
                    head_size=8)
CLASSES = ("blue", "green", "red")


def make_images(root, classes=CLASSES, per_class=4, seed=0):
    return make_color_images(root, classes, per_class, seed, size=(40, 48))


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    keras.backend.clear_session()
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def error_lines(err):
    return [line for line in err.splitlines() if line.startswith("tinymoat-train: error")]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = make_images(tmp_path_factory.mktemp("data") / "train")
    (root / "red" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return root


@pytest.fixture(scope="module")
def trained(images, tmp_path_factory):
    """A run trained 2 epochs, then resumed to 3 (shared by the tests below)."""
    out = tmp_path_factory.mktemp("runs") / "run"
    first = cli.main(MICRO + ["--data", str(images), "--epochs", "2", "--out", str(out)])
    keras.backend.clear_session()
    second = cli.main(MICRO + ["--data", str(images), "--epochs", "3", "--out", str(out),
                               "--resume"])
    keras.backend.clear_session()
    assert first == 0 and second == 0
    return out


def test_two_epochs_then_resume_to_three(trained):
    rows = (trained / "log.csv").read_text().splitlines()
    assert rows[0].startswith("stage,epoch,steps,loss")
    assert [r.split(",")[:3] for r in rows[1:]] == [["float", "1", "3"], ["float", "2", "3"],
                                                    ["float", "3", "3"]]
    manager_state = tf.train.get_checkpoint_state(str(trained / "checkpoints" / "float"))
    assert manager_state.model_checkpoint_path.endswith("ckpt-3")
    reader = tf.train.load_checkpoint(manager_state.model_checkpoint_path)
    assert reader.get_tensor("epoch/.ATTRIBUTES/VARIABLE_VALUE") == 3
    assert reader.get_tensor("optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE") == 9
    state = json.loads((trained / "run.json").read_text())
    assert state["stages"]["float"]["status"] == "done"
    assert state["classes"] == list(CLASSES)
    events = list((trained / "tensorboard").rglob("events.out.tfevents.*"))
    assert events and all(e.stat().st_size > 0 for e in events)


def test_corrupt_image_is_skipped_and_counted(trained, images):
    state = json.loads((trained / "run.json").read_text())
    assert state["data"]["train"]["skipped"] == 1
    assert state["data"]["train"]["images"] == 12
    assert state["data"]["train"]["skipped_examples"][0].endswith("broken.png")


def test_saved_float_model_loads_and_holds_the_ema_weights(trained):
    model, meta = saving.load(trained / "float")
    assert meta["labels"] == list(CLASSES) and meta["input_size"] == [32, 32]
    assert model(np.zeros((2, 32, 32, 3), np.float32)).shape == (2, 3)
    # Rebuild model + optimizer, restore the last checkpoint: the saved model is
    # the optimizer's EMA of the weights, not the last step's raw weights.
    fresh = tinymoat.build_model("tiny-moat-0", 32, 3, **MICRO_CONFIG)
    optimizer = make_optimizer(fresh, Hyper(1e-3, 0.05, 0.1, 0.9999, 9, 1))
    tf.train.Checkpoint(model=fresh, optimizer=optimizer,
                        epoch=tf.Variable(0, dtype=tf.int64)).restore(
        str(trained / "checkpoints" / "float" / "ckpt-3")).assert_existing_objects_matched()
    kernel = lambda m: m.get_layer("logits_head").kernel.numpy()  # noqa: E731
    assert not np.allclose(kernel(fresh), kernel(model))
    optimizer.finalize_variable_values(fresh.trainable_variables)
    for a, b in zip(fresh.trainable_weights, model.trainable_weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)
    assert meta["weights"] == "EMA" and "re-estimated" in meta["batch_norm"]


def test_batch_norm_statistics_are_re_estimated_as_plain_averages():
    model = tinymoat.build_model("tiny-moat-0", 32, 3, **MICRO_CONFIG)
    batches = [np.random.default_rng(i).normal(size=(4, 32, 32, 3)).astype(np.float32)
               for i in range(3)]
    assert batch_norm.estimate_statistics(model, iter(batches)) == 3
    norm = model.get_layer("stem.norm_0")
    inputs = keras.Model(model.input, norm.input)
    means = [inputs(b).numpy().mean(axis=(0, 1, 2)) for b in batches]
    np.testing.assert_allclose(norm.moving_mean.numpy(), np.mean(means, 0), rtol=1e-4, atol=1e-6)
    assert norm.momentum == 0.99


def test_empty_class_folder_is_a_one_line_error(tmp_path, capsys):
    root = make_images(tmp_path / "data")
    (root / "zebra").mkdir()
    code, _, err = run_cli(capsys, *MICRO, "--data", root, "--epochs", "1",
                           "--out", tmp_path / "run")
    assert code == 2 and len(error_lines(err)) == 1 and "zebra" in error_lines(err)[0]
    assert "Traceback" not in err and not (tmp_path / "run").exists()


def test_data_of_one_class_is_refused_before_anything_is_written(tmp_path, capsys):
    one = make_images(tmp_path / "one", classes=("cat",))
    code, _, err = run_cli(capsys, *MICRO, "--data", one, "--epochs", "1",
                           "--out", tmp_path / "run")
    assert code == 2 and len(error_lines(err)) == 1, err
    assert "only one class (cat)" in error_lines(err)[0] and "at least two" in err
    assert "Traceback" not in err and not (tmp_path / "run").exists()
    # Two class folders, but every image of one of them is unreadable.
    (one / "dog").mkdir()
    (one / "dog" / "broken.png").write_bytes(b"not an image")
    code, _, err = run_cli(capsys, *MICRO, "--data", one, "--epochs", "1",
                           "--out", tmp_path / "run")
    assert code == 2 and "only one class (cat)" in error_lines(err)[0]
    assert not (tmp_path / "run").exists()


def test_resume_without_a_run_to_resume_is_refused(images, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    for out in (tmp_path / "missing", tmp_path / "empty"):
        code, _, err = run_cli(capsys, *MICRO, "--data", images, "--epochs", "1",
                               "--out", out, "--resume")
        assert code == 2 and len(error_lines(err)) == 1, err
        assert f"nothing to resume in {out} (no run.json)" in error_lines(err)[0]
    assert not (tmp_path / "missing").exists() and not list((tmp_path / "empty").iterdir())


def test_input_size_beyond_the_memory_bound_is_one_line(images, tmp_path, capsys):
    huge = [a if a != "32" else "100000" for a in MICRO]
    code, _, err = run_cli(capsys, *huge, "--data", images, "--epochs", "1",
                           "--out", tmp_path / "run")
    assert code == 2 and len(error_lines(err)) == 1, err
    assert "input size 100000x100000 needs about" in err and "8 GiB limit" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_data_check_skips_named_pipes_and_huge_headers(tmp_path):
    root = make_images(tmp_path / "data")
    fifo = root / "red" / "pipe.png"
    os.mkfifo(fifo)
    bomb = bomb_png(root / "green" / "bomb.png")
    source = without_blocking(sources.open_source, str(root), fifo=fifo)
    assert source.count == 12 and sorted(source.skipped) == sorted([str(fifo), str(bomb)])


def test_data_check_applies_the_shared_pixel_limit(tmp_path, monkeypatch):
    root = make_images(tmp_path / "data", per_class=1)  # 40x48 pixels each
    big = root / "red" / "big.png"
    Image.fromarray(np.zeros((48, 41, 3), np.uint8)).save(big)
    monkeypatch.setattr(imagedata, "MAX_IMAGE_PIXELS", 40 * 48)
    source = sources.open_source(str(root))
    assert source.count == 3 and source.skipped == [str(big)]
    path = tmp_path / "train.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for label, name in enumerate(CLASSES):
            writer.write(_example((root / name / "0.png").read_bytes(), label, name))
        writer.write(_example(big.read_bytes(), 2, "red"))
    source = sources.open_source(str(path))
    assert source.count == 3 and source.skipped == ["record 3"]


def test_existing_or_incompatible_run_is_refused(trained, images, tmp_path, capsys):
    code, _, err = run_cli(capsys, *MICRO, "--data", images, "--epochs", "3", "--out", trained)
    assert code == 2 and "--resume" in error_lines(err)[0]
    bigger = [a if a != "32" else "64" for a in MICRO]
    code, _, err = run_cli(capsys, *bigger, "--data", images, "--epochs", "4", "--out", trained,
                           "--resume")
    assert code == 2 and "incompatible" in error_lines(err)[0] and "input size" in err
    two = make_images(tmp_path / "two", classes=("blue", "green"))
    code, _, err = run_cli(capsys, *MICRO, "--data", two, "--epochs", "4", "--out", trained,
                           "--resume")
    assert code == 2 and "3 classes there, 2 now" in error_lines(err)[0]
    assert len((trained / "log.csv").read_text().splitlines()) == 4  # untouched


def test_class_count_mismatch_asks_for_fresh_head_which_then_trains(trained, tmp_path, capsys):
    two = make_images(tmp_path / "two", classes=("cat", "dog"))
    args = [*MICRO, "--data", two, "--epochs", "1", "--weights", trained]
    code, _, err = run_cli(capsys, *args, "--out", tmp_path / "run")
    assert code == 2 and "3-class head" in error_lines(err)[0] and "--fresh-head" in err
    assert not (tmp_path / "run").exists()
    code, _, err = run_cli(capsys, *args, "--fresh-head", "--lr", "1e-9", "--ema-decay", "0",
                           "--out", tmp_path / "run")
    assert code == 0, err
    model, meta = saving.load(tmp_path / "run" / "float")
    source, _ = saving.load(trained / "float")
    assert meta["labels"] == ["cat", "dog"] and model.output.shape[-1] == 2
    # lr 1e-9: the body is (up to 1e-6) the loaded one; only the head is new.
    np.testing.assert_allclose(model.get_layer("stem.conv_0").kernel.numpy(),
                               source.get_layer("stem.conv_0").kernel.numpy(), atol=1e-6)


def test_fresh_head_from_a_deeplab2_checkpoint(tmp_path):
    three = tinymoat.build_model("tiny-moat-0", 32, 3, **MICRO_CONFIG)
    prefix = write_checkpoint(tmp_path / "ckpt", {checkpoint_name(w): w.numpy()
                                                   for w in three.weights})
    with pytest.raises(TrainError, match="3-class head.*--fresh-head"):
        weights.check_weights(prefix, 5, fresh_head=False)
    five = tinymoat.build_model("tiny-moat-0", 32, 5, **MICRO_CONFIG)
    weights.check_weights(prefix, 5, fresh_head=True)
    assert "fresh head" in weights.load_weights(five, prefix, fresh_head=True)
    np.testing.assert_array_equal(five.get_layer("block_03_00.attention.q").weights[0].numpy(),
                                  three.get_layer("block_03_00.attention.q").weights[0].numpy())


def test_checkpoint_of_another_variant_is_named_before_any_head_hint(tmp_path):
    source = tinymoat.build_model("tiny-moat-0", 32)
    prefix = write_checkpoint(tmp_path / "t0", {checkpoint_name(w): w.numpy()
                                                for w in source.weights})
    message = f"--weights {prefix} is a tiny-moat-0 checkpoint but the model is tiny-moat-1"
    for fresh_head in (False, True):
        with pytest.raises(TrainError, match=message):
            weights.check_weights(prefix, 3, fresh_head, "tiny-moat-1")
        with pytest.raises(TrainError, match=message + "; pass --variant tiny-moat-0"):
            weights.load_weights(tinymoat.build_model("tiny-moat-1", 32, 3), prefix,
                                 fresh_head=fresh_head)
    weights.check_weights(prefix, 3, True, "tiny-moat-0")


def test_nan_loss_stops_with_epoch_and_step_and_keeps_last_good_checkpoint(trained, images,
                                                                            tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    code, _, err = run_cli(capsys, *MICRO, "--data", images, "--epochs", "5", "--out", run,
                           "--resume", "--lr", "1e6")
    line = error_lines(err)
    assert code == 1 and len(line) == 1, err
    assert "NaN" in line[0] and "epoch 4, step" in line[0] and "ckpt-3" in line[0]
    assert tf.train.latest_checkpoint(str(run / "checkpoints" / "float")).endswith("ckpt-3")
    assert len((run / "log.csv").read_text().splitlines()) == 4
    state = json.loads((run / "run.json").read_text())
    assert state["stages"]["float"]["status"] == "nan"
    assert state["stages"]["float"]["nan_at"]["epoch"] == 4


@pytest.fixture
def quantization_api():
    from tinymoat import quantization
    return quantization


def test_qat_stage_writes_a_loadable_qat_folder(trained, images, tmp_path, capsys,
                                                quantization_api):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    code, out, err = run_cli(capsys, *MICRO, "--data", images, "--epochs", "3", "--out", run,
                             "--resume", "--qat", "--qat-epochs", "1")
    assert code == 0, err
    assert "float stage already done" in err and "qat: 1 epochs" in out
    rows = (run / "log.csv").read_text().splitlines()
    assert rows[-1].startswith("qat,1,3,")
    qat_model, meta = quantization_api.load_qat(str(run / "qat"))
    assert meta["labels"] == list(CLASSES)
    assert qat_model(np.zeros((1, 32, 32, 3), np.float32)).shape == (1, 3)



def test_qat_gelu_is_recorded_kept_on_resume_and_changed_only_by_a_restart(
        trained, images, tmp_path, capsys, quantization_api):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    base = [*MICRO, "--data", images, "--epochs", "3", "--out", run, "--resume", "--qat",
            "--qat-epochs", "1"]
    code, out, err = run_cli(capsys, *base, "--qat-gelu", "tanh")
    assert code == 0, err
    assert "qat: 1 epochs, tanh GELU" in out
    state = json.loads((run / "run.json").read_text())
    assert state["stages"]["qat"]["gelu"] == "tanh"
    qat_model, _ = quantization_api.load_qat(str(run / "qat"))
    assert quantization_api.gelu_form(qat_model) == "tanh"

    code, out, err = run_cli(capsys, *base)  # no --qat-gelu: the run's form
    assert code == 0 and "QAT stage already done" in err and "tanh GELU" in out

    code, out, err = run_cli(capsys, *base, "--qat-gelu", "sigmoid")
    assert code == 2 and error_lines(err) == [
        f"tinymoat-train: error: --qat-gelu sigmoid: the QAT stage of {run} trains the tanh "
        "form; pass --qat-gelu tanh to continue it or --restart-qat to train it again from "
        "the float model"]

    code, out, err = run_cli(capsys, *base, "--qat-gelu", "sigmoid", "--restart-qat")
    assert code == 0, err
    assert "--restart-qat: the qat stage starts over" in err and "sigmoid GELU" in out
    assert json.loads((run / "run.json").read_text())["stages"]["qat"]["gelu"] == "sigmoid"
    qat_model, _ = quantization_api.load_qat(str(run / "qat"))
    assert quantization_api.gelu_form(qat_model) == "sigmoid"
    assert (run / "log.csv").read_text().splitlines()[-1].startswith("qat,1,3,")

    code, out, err = run_cli(capsys, *MICRO, "--data", images, "--epochs", "3", "--out",
                             tmp_path / "other", "--qat-gelu", "tanh")
    assert code == 2 and error_lines(err) == ["tinymoat-train: error: --qat-gelu needs --qat"]
    assert not (tmp_path / "other").exists()

TWO_REPLICAS = """
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from tinymoat._keras import keras
from tinymoat.quantization.training import cli
argv, out = sys.argv[1:-1], sys.argv[-1]
assert cli.main(argv + ["--out", out + "/one", "--strategy", "auto"]) == 0
keras.backend.clear_session()
assert cli.main(argv + ["--out", out + "/two", "--strategy", "mirrored",
                        "--devices", "/cpu:0,/cpu:1"]) == 0
"""


def test_two_replicas_train_the_same_model_as_one_device(trained, images, tmp_path):
    """MirroredStrategy over two logical CPUs vs the default strategy.

    Same initial weights (--weights), same data order (stateless shuffles),
    no augmentation and BatchNorm frozen: unsynchronised BN would normalise
    each replica's half batch with its own statistics, which legitimately
    differs from one device. Everything else (LayerNorm, attention, the
    loss scaled by the global batch, AdamW, the EMA) must agree up to float
    summation order.
    """
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get(
        "PYTHONPATH", "")]), TF_USE_LEGACY_KERAS="1")
    argv = [*MICRO, "--data", str(images), "--weights", str(trained), "--epochs", "2",
            "--no-augment", "--freeze-bn", "--ema-decay", "0.9", "--lr", "3e-3",
            str(tmp_path)]
    done = subprocess.run([sys.executable, "-c", TWO_REPLICAS, *argv], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    one, _ = saving.load(tmp_path / "one" / "float")
    two, _ = saving.load(tmp_path / "two" / "float")
    start, _ = saving.load(trained / "float")
    assert json.loads((tmp_path / "two" / "run.json").read_text())["replicas"] == 2
    assert json.loads((tmp_path / "one" / "run.json").read_text())["replicas"] == 1
    moved = max(float(np.abs(a.numpy() - b.numpy()).max())
                for a, b in zip(one.trainable_weights, start.trainable_weights))
    assert moved > 1e-3  # it did train
    for a, b in zip(one.weights, two.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5, err_msg=a.name)


def test_override_values():
    assert cli.parse_value("8,16,32,64") == (8, 16, 32, 64)
    assert cli.parse_value("8") == 8 and cli.parse_value("0.9") == 0.9
    assert cli.parse_value("none") is None and cli.parse_value("false") is False
    assert cli.parse_value("[null, null, [2, 2], [1, 1]]") == (None, None, (2, 2), (1, 1))
    with pytest.raises(TrainError, match="KEY=VALUE"):
        cli.parse_overrides(["head_size"])
    with pytest.raises(TrainError, match="unknown MoatConfig field"):
        weights.resolve_config("tiny-moat-0", {"heads": 3}, None)


def test_tfrecord_source_skips_undecodable_records(tmp_path):
    keras.utils.set_random_seed(0)  # as tinymoat-train --seed 0 does
    path = tmp_path / "train.tfrecord"
    make_images(tmp_path / "png", per_class=2)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for label, name in enumerate(CLASSES):
            for png in sorted((tmp_path / "png" / name).iterdir()):
                writer.write(_example(png.read_bytes(), label, name))
        writer.write(_example(b"not an image", 1, "green"))
    source = sources.open_source(str(path))
    assert source.kind == "tfrecord" and source.classes == list(CLASSES)
    assert source.count == 6 and source.skipped == ["record 6"]
    batches = list(pipelines.training_dataset(
        source, size=(32, 32), batch_size=3, steps=2, first_epoch=0, epochs=2, seed=0,
        augment=pipelines.Augment(), num_classes=3, normalization="imagenet"))
    assert len(batches) == 4 and batches[0][0].shape == (3, 32, 32, 3)
    assert sorted(np.argmax(np.concatenate([b[1] for b in batches[:2]]), 1)) == [0, 0, 1, 1, 2, 2]


def _example(encoded, label, text):
    feature = {"image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded])),
               "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
               "image/class/text": tf.train.Feature(bytes_list=tf.train.BytesList(
                   value=[text.encode()]))}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def test_epoch_order_is_deterministic_and_augmentation_stateless(images):
    source = sources.open_source(str(images))
    kwargs = dict(size=(32, 32), batch_size=4, steps=3, epochs=3, seed=7,
                  augment=pipelines.Augment(), num_classes=3, normalization="imagenet")
    whole = [b[0].numpy() for b in pipelines.training_dataset(source, first_epoch=0, **kwargs)]
    resumed = [b[0].numpy() for b in pipelines.training_dataset(source, first_epoch=2, **kwargs)]
    np.testing.assert_array_equal(np.stack(whole[6:]), np.stack(resumed))
    assert not np.allclose(whole[0], whole[3])  # epochs differ


def test_missing_tfds_multiworker_and_tpu_are_one_line_errors(monkeypatch):
    try:
        import tensorflow_datasets  # noqa: F401
    except ImportError:
        with pytest.raises(TrainError, match="tensorflow_datasets is not installed"):
            sources.open_source("tfds:mnist")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(TrainError, match="TF_CONFIG"):
        make_strategy("multiworker")
    with pytest.raises(TrainError, match="no TPU found"):
        make_strategy("tpu")


def test_the_log_ends_with_the_saved_model_and_agrees_with_it(images, tmp_path, capsys):
    # The per-epoch val_* measure the raw weights with BatchNorm's training averages;
    # the row "float (saved)" is the model as saved (EMA, re-estimated BatchNorm), the
    # same figure as run.json, and a longer resumed run replaces it.
    run = tmp_path / "run"
    base = [*MICRO, "--data", images, "--val-data", images, "--out", run, "--batch-size", "4"]
    for epochs, extra in (("1", []), ("2", ["--resume"])):
        code, _, err = run_cli(capsys, *base, "--epochs", epochs, *extra)
        assert code == 0, err
        assert "float model as saved: val top-1" in err
        rows = [r.split(",") for r in (run / "log.csv").read_text().splitlines()[1:]]
        assert [r[:2] for r in rows] == [["float", str(e)] for e in range(1, int(epochs) + 1)] \
            + [["float (saved)", epochs]]
        saved = json.loads((run / "run.json").read_text())["stages"]["float"]["val"]
        header = (run / "log.csv").read_text().splitlines()[0].split(",")
        assert float(rows[-1][header.index("val_top1")]) == pytest.approx(saved["top1"])
        keras.backend.clear_session()


def test_run_state_reads_back_what_it_writes_and_keeps_unknown_stage_keys_out(tmp_path):
    from tinymoat.quantization.training.run import RunFolder, RunState, read_state, save_state
    folder = RunFolder(str(tmp_path / "run"))
    state = RunState(identity={"variant": "tiny-moat-0", "config": {"a": 1},
                               "input_size": [32, 32], "classes": ["a", "b"]}, created="now")
    state.stage("float").status, state.stage("float").val = "done", {"top1": 0.5}
    state.stage("qat").gelu = "tanh"
    save_state(folder, state)
    written = json.loads((tmp_path / "run" / "run.json").read_text())
    assert written["stages"] == {"float": {"status": "done", "val": {"top1": 0.5}},
                                 "qat": {"gelu": "tanh"}}
    assert written["variant"] == "tiny-moat-0" and written["schema"] == "tinymoat.train-run/1"
    written["stages"]["float"]["from_a_newer_version"] = 1
    (tmp_path / "run" / "run.json").write_text(json.dumps(written))
    again = read_state(folder)
    assert again.stages["float"].val == {"top1": 0.5} and again.stages["qat"].gelu == "tanh"
    assert again.identity == state.identity and again.as_json()["stages"] == {
        "float": {"status": "done", "val": {"top1": 0.5}}, "qat": {"gelu": "tanh"}}
