import shutil

import numpy as np
import pytest

import tinymoat
from tinymoat import CheckpointError
from tinymoat.checkpoint import checkpoint_name, guess_variant, read_checkpoint

from conftest import MICRO, build_micro, read_all, write_checkpoint

PREFIX = MICRO / "model.ckpt"


def snapshot(model):
    return [w.numpy().copy() for w in model.weights]


def assert_untouched(model, before):
    for old, new in zip(before, snapshot(model)):
        np.testing.assert_array_equal(old, new)


def test_every_weight_has_a_checkpoint_name_in_the_released_layout():
    names = {checkpoint_name(w) for w in build_micro().weights}
    assert "moat/stem/conv_0/kernel" in names
    assert "moat/block_02_01/attention/q/weight" in names
    assert "moat/block_02_01/attention/relative_position_embedding" in names
    assert "moat/block_00_00/se/reduce_conv2d/bias" in names
    assert "moat/block_03_00/depthwise_conv/depthwise_kernel" in names
    assert names == {n for n in read_all(PREFIX) if not n.endswith("ExponentialMovingAverage")}


def test_directory_and_file_paths_resolve_to_the_checkpoint():
    for path in (MICRO, str(PREFIX) + ".index", PREFIX):
        assert tinymoat.load_deeplab2_checkpoint(build_micro(), path).loaded == 139


def test_extra_entries_are_ignored_and_counted(tmp_path):
    tensors = read_all(PREFIX)
    tensors["global_step"] = np.int64(1000)
    tensors["moat/stem/conv_0/kernel/Momentum"] = tensors["moat/stem/conv_0/kernel"]
    report = tinymoat.load_deeplab2_checkpoint(
        build_micro(), write_checkpoint(tmp_path / "extra.ckpt", tensors))
    assert report.loaded == 139
    assert report.ignored == ["global_step", "moat/stem/conv_0/kernel/Momentum"]
    assert "ignored 2 extra checkpoint entries" in str(report)


def test_missing_ema_shadow_falls_back_to_the_plain_value(tmp_path):
    tensors = read_all(PREFIX)
    del tensors["moat/logits_head/bias/ExponentialMovingAverage"]
    model = build_micro()
    report = tinymoat.load_deeplab2_checkpoint(model, write_checkpoint(tmp_path / "c.ckpt", tensors))
    assert (report.loaded, report.from_ema) == (139, 138)
    np.testing.assert_array_equal(model.get_layer("logits_head").bias.numpy(),
                                  tensors["moat/logits_head/bias"])


def test_missing_variable_names_it_and_assigns_nothing(tmp_path):
    tensors = read_all(PREFIX)
    for name in ("moat/block_02_01/attention/k/bias",
                 "moat/block_02_01/attention/k/bias/ExponentialMovingAverage"):
        del tensors[name]
    model = build_micro()
    before = snapshot(model)
    with pytest.raises(CheckpointError, match="1 variable.* missing .* moat/block_02_01/attention/k/bias"):
        tinymoat.load_deeplab2_checkpoint(model, write_checkpoint(tmp_path / "c.ckpt", tensors))
    assert_untouched(model, before)


def test_shape_mismatch_names_the_variable_and_both_shapes(tmp_path):
    tensors = read_all(PREFIX)
    for suffix in ("", "/ExponentialMovingAverage"):
        tensors["moat/block_01_00/expand_conv/kernel" + suffix] = np.zeros((1, 1, 8, 60), np.float32)
    model = build_micro()
    before = snapshot(model)
    with pytest.raises(CheckpointError) as info:
        tinymoat.load_deeplab2_checkpoint(model, write_checkpoint(tmp_path / "c.ckpt", tensors))
    assert ("moat/block_01_00/expand_conv/kernel: model [1, 1, 8, 64] vs checkpoint [1, 1, 8, 60]"
            in str(info.value))
    assert "\n" not in str(info.value)
    assert_untouched(model, before)


def test_checkpoint_of_another_variant_says_so():
    model = tinymoat.build_model("tiny-moat-1", 64)
    before = snapshot(model)
    tensors = read_checkpoint(PREFIX)
    assert guess_variant(tensors) is None  # the micro fixture is no released variant
    with pytest.raises(CheckpointError, match="shape mismatch"):
        tinymoat.load_deeplab2_checkpoint(model, PREFIX)
    assert_untouched(model, before)


def test_released_variant_is_recognised_in_the_error(tmp_path):
    source = tinymoat.build_model("tiny-moat-0", 64)
    tensors = {checkpoint_name(w): w.numpy() for w in source.weights}
    path = write_checkpoint(tmp_path / "t0.ckpt", tensors)
    with pytest.raises(CheckpointError, match="checkpoint is for tiny-moat-0, the model is tiny-moat-1"):
        tinymoat.load_deeplab2_checkpoint(tinymoat.build_model("tiny-moat-1", 64), path)


def test_another_variant_is_named_instead_of_a_head_mismatch(tmp_path):
    # Both heads have 1000 classes; every layer differs in width, the head's input too.
    source = tinymoat.build_model("tiny-moat-0", 64)
    tensors = {checkpoint_name(w): w.numpy() for w in source.weights}
    path = write_checkpoint(tmp_path / "t0.ckpt", tensors)
    assert guess_variant(read_all(path)) == "tiny-moat-0"
    assert guess_variant({n: list(v.shape) for n, v in tensors.items()}) == "tiny-moat-0"
    for skip_head in (False, True):
        model = tinymoat.build_model("tiny-moat-1", 64)
        before = snapshot(model)
        with pytest.raises(CheckpointError) as info:
            tinymoat.load_deeplab2_checkpoint(model, path, skip_head=skip_head)
        message = str(info.value)
        assert message == ("checkpoint does not fit the model: checkpoint is for tiny-moat-0, "
                           "the model is tiny-moat-1 (build a tiny-moat-0 model to load it)")
        assert_untouched(model, before)


def test_head_of_another_class_count_is_explained_and_can_be_skipped():
    model = build_micro(num_classes=4)
    with pytest.raises(CheckpointError, match="head has 10 classes, the model 4"):
        tinymoat.load_deeplab2_checkpoint(model, PREFIX)
    head_before = model.get_layer("logits_head").kernel.numpy().copy()
    report = tinymoat.load_deeplab2_checkpoint(model, PREFIX, skip_head=True)
    assert report.skipped == ["moat/logits_head/kernel", "moat/logits_head/bias"]
    np.testing.assert_array_equal(model.get_layer("logits_head").kernel.numpy(), head_before)


def test_truncated_checkpoint_is_a_one_line_error(tmp_path):
    for suffix in (".index", ".data-00000-of-00001"):
        shutil.copy(str(PREFIX) + suffix, tmp_path / ("model.ckpt" + suffix))
    data = tmp_path / "model.ckpt.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="cannot read checkpoint") as info:
        tinymoat.load_deeplab2_checkpoint(build_micro(), tmp_path / "model.ckpt")
    assert "\n" not in str(info.value)


def test_unreadable_paths_are_one_line_errors(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        tinymoat.load_deeplab2_checkpoint(build_micro(), tmp_path / "nothing.ckpt")
    with pytest.raises(CheckpointError, match="no checkpoint found in directory"):
        tinymoat.load_deeplab2_checkpoint(build_micro(), tmp_path)
    garbage = tmp_path / "garbage.ckpt"
    (tmp_path / "garbage.ckpt.index").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        tinymoat.load_deeplab2_checkpoint(build_micro(), garbage)
