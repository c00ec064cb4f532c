import numpy as np
import pytest

import tinymoat
from tinymoat._keras import keras, tf
from tinymoat.blocks import attention
from tinymoat.layers import RelativePositionBias, WindowMerge, WindowPartition
from tinymoat.model import MAX_TENSOR_BYTES, check_input_size, largest_tensor

from conftest import MICRO, TINY_224, build_micro, fixture_meta

# REFERENCE.md: trainable parameters with a 1000-class head, with and without position embedding.
PARAMS = {
    "tiny-moat-0": (3_355_348, 3_332_232), "tiny-moat-1": (5_122_895, 5_094_000),
    "tiny-moat-2": (9_772_741, 9_732_288), "tiny-moat-3": (19_534_390, 19_476_600),
    "moat-0": (27_846_892, 27_777_544), "moat-1": (41_598_448, 41_467_864),
    "moat-2": (73_422_408, 73_248_296), "moat-3": (189_958_040, 189_536_280),
    "moat-4": (483_214_184, 482_539_368),
}


def trainable(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


@pytest.mark.slow
@pytest.mark.parametrize("variant", list(PARAMS))
def test_parameter_counts_equal_the_reference(variant):
    for with_pe, expected in zip((True, False), PARAMS[variant]):
        # Parameters do not depend on the input size; 32 keeps the graph small.
        model = tinymoat.build_model(variant, 32, position_embedding=with_pe)
        assert trainable(model) == expected, (variant, with_pe)
        del model
        keras.backend.clear_session()


def test_micro_fixture_has_the_reference_parameter_count():
    assert trainable(build_micro()) == fixture_meta(MICRO)["trainable_params"]


def test_input_sizes_must_be_multiples_of_32():
    with pytest.raises(ValueError, match="not a positive multiple of 32"):
        tinymoat.build_model("tiny-moat-0", 200)
    with pytest.raises(ValueError, match="do not tile"):
        tinymoat.build_model("tiny-moat-0", 256, window_size=tinymoat.WINDOW_ATTENTION)


def test_input_size_bound_names_the_memory_it_would_need():
    with pytest.raises(ValueError) as info:
        tinymoat.build_model("tiny-moat-0", 100000)
    message = str(info.value)
    assert "\n" not in message and message.startswith("input size 100000x100000 needs about")
    assert "stage 2's attention scores (4 heads x 39062500^2 tokens)" in message
    assert "8 GiB limit" in message and message.endswith("or window attention")
    assert MAX_TENSOR_BYTES == 8 * 2 ** 30


def test_input_size_bound_counts_windows_and_activations():
    plain = tinymoat.get_config("tiny-moat-0")
    windowed = tinymoat.get_config("tiny-moat-0", window_size=tinymoat.WINDOW_ATTENTION)
    # 3584: 224x224 tokens in stage 2, 37.5 GiB of scores globally, 5 MiB in 14x14 windows.
    with pytest.raises(ValueError, match="37.5 GiB for stage 2's attention scores"):
        check_input_size(plain, 3584)
    assert check_input_size(windowed, 3584) == (3584, 3584)
    assert largest_tensor(windowed, (3584, 3584))[1] == "stage 0's expanded activations"
    with pytest.raises(ValueError, match="GiB for stage 0's expanded activations") as info:
        check_input_size(windowed, 14336)
    assert "window attention" not in str(info.value)


@pytest.mark.parametrize("variant", list(PARAMS))
def test_usual_input_sizes_stay_within_the_bound(variant):
    config = tinymoat.get_config(variant)
    for size in (224, 256, 512, 1024, (512, 1024)):
        check_input_size(config, size)
    assert largest_tensor(config, (1024, 1024))[0] <= 2 * 2 ** 30


@pytest.mark.parametrize("size", [256, 320, 448, (224, 288)])
def test_other_input_sizes_run_and_resize_the_bias_tables(size):
    model = tinymoat.build_model("tiny-moat-0", size, num_classes=7)
    h, w = (size, size) if isinstance(size, int) else size
    assert model(np.zeros((1, h, w, 3), np.float32)).shape == (1, 7)
    bias = [l for l in model.layers if isinstance(l, RelativePositionBias)]
    assert bias[0].window == (h // 16, w // 16) and bias[-1].window == (h // 32, w // 32)
    # Tables keep the released shape whatever the input size.
    assert bias[0].relative_position_embedding.shape == (4, 27, 27)
    assert bias[-1].relative_position_embedding.shape == (8, 13, 13)


def test_window_attention_uses_windows_and_optional_global_last_block():
    model = tinymoat.build_model("tiny-moat-0", 448, window_size=tinymoat.WINDOW_ATTENTION,
                                 global_attention_at_end_of_moat_stage=True)
    windows = {l.name.split(".")[0]: l.window for l in model.layers
               if isinstance(l, WindowPartition)}
    assert windows == {f"block_02_{i:02d}": (14, 14) for i in range(6)} | {"block_03_00": (7, 7)}
    bias = {l.name.split(".")[0]: l.window for l in model.layers
            if isinstance(l, RelativePositionBias)}
    assert bias["block_02_06"] == (28, 28) and bias["block_03_01"] == (14, 14)


def test_window_attention_over_a_single_window_equals_global_attention(micro_golden):
    # micro at 64: stage 3 maps are 4x4, stage 4 maps 2x2.
    windowed = build_micro(window_size=(None, None, (4, 4), (2, 2)))
    global_ = build_micro()
    assert any(isinstance(l, WindowPartition) for l in windowed.layers)
    tinymoat.load_deeplab2_checkpoint(windowed, MICRO / "model.ckpt")
    tinymoat.load_deeplab2_checkpoint(global_, MICRO / "model.ckpt")
    x = micro_golden["inputs"]
    np.testing.assert_allclose(windowed(x).numpy(), global_(x).numpy(), atol=1e-6)


def test_window_attention_is_global_attention_inside_each_window():
    inputs = keras.Input((4, 6, 16), batch_size=2)
    config = tinymoat.get_config("tiny-moat-0", head_size=8)
    windowed = WindowMerge((2, 3), (4, 6))(attention(WindowPartition((2, 3))(inputs), config, 3,
                                                     "w.attention"))
    windowed_model = keras.Model(inputs, windowed)
    window_in = keras.Input((2, 3, 16))
    single = keras.Model(window_in, attention(window_in, config, 3, "s.attention"))
    single.set_weights(windowed_model.get_weights())
    x = np.random.default_rng(0).normal(size=(2, 4, 6, 16)).astype(np.float32)
    got = windowed_model(x).numpy()
    for r in (0, 2):
        for c in (0, 3):
            expected = single(x[:, r:r + 2, c:c + 3]).numpy()
            np.testing.assert_allclose(got[:, r:r + 2, c:c + 3], expected, atol=1e-5)


def test_bias_follows_the_table_after_the_model_is_built(micro_golden):
    keras.utils.set_random_seed(0)  # fresh initial weights: how far logits move varies by draw
    model = build_micro()
    x = micro_golden["inputs"]
    before = model(x).numpy()
    layer = next(l for l in model.layers if isinstance(l, RelativePositionBias))
    table = layer.relative_position_embedding
    # Not a constant shift: softmax would not see that.
    table.assign(np.random.default_rng(0).normal(size=table.shape).astype(np.float32))
    # Fresh weights are small: the logits move by about 1e-4, float noise is ~1e-8.
    assert np.abs(model(x).numpy() - before).max() > 1e-6


def test_zero_tables_equal_the_model_without_position_embedding(micro_golden):
    with_pe, without_pe = build_micro(), build_micro(position_embedding=False)
    tinymoat.load_deeplab2_checkpoint(with_pe, MICRO / "model.ckpt")
    report = tinymoat.load_deeplab2_checkpoint(without_pe, MICRO / "model.ckpt")
    assert sum("relative_position_embedding" in n for n in report.ignored) == 6  # 3 blocks + EMA
    x = micro_golden["inputs"]
    tables = [l.relative_position_embedding for l in with_pe.layers
              if isinstance(l, RelativePositionBias)]
    for table in tables:
        table.assign(np.random.default_rng(1).normal(size=table.shape).astype(np.float32))
    # The fixture's weights are small, so attention moves the logits little; float noise is ~1e-8.
    assert np.abs(with_pe(x).numpy() - without_pe(x).numpy()).max() > 1e-6
    for table in tables:
        table.assign(tf.zeros_like(table))
    np.testing.assert_allclose(with_pe(x).numpy(), without_pe(x).numpy(), atol=1e-7)


@pytest.mark.parametrize("use_ema,key", [(True, "logits_ema"), (False, "logits_raw")])
def test_micro_logits_match_the_reference(micro_golden, use_ema, key):
    model = build_micro()
    report = tinymoat.load_deeplab2_checkpoint(model, MICRO / "model.ckpt", use_ema=use_ema)
    assert report.loaded == fixture_meta(MICRO)["variables"]
    assert report.from_ema == (report.loaded if use_ema else 0)
    np.testing.assert_allclose(model(micro_golden["inputs"]).numpy(), micro_golden[key],
                               atol=1e-4, rtol=0)


@pytest.mark.slow
@pytest.mark.skipif(not TINY_224.exists(), reason=f"{TINY_224} not present (../shared missing)")
def test_tiny_moat0_224_logits_match_the_reference():
    golden = np.load(TINY_224 / "golden.npz")
    model = tinymoat.build_model("tiny-moat-0", 224)
    assert trainable(model) == fixture_meta(TINY_224)["trainable_params"]
    for use_ema, key in ((True, "logits_ema"), (False, "logits_raw")):
        tinymoat.load_deeplab2_checkpoint(model, TINY_224 / "model.ckpt", use_ema=use_ema)
        np.testing.assert_allclose(model(golden["inputs"]).numpy(), golden[key], atol=1e-4, rtol=0)


def test_feature_endpoints_have_strides_2_to_32_and_feed_the_same_head(micro_golden):
    features = build_micro(include_top=False)
    assert list(features.output) == list(tinymoat.ENDPOINTS)
    tinymoat.load_deeplab2_checkpoint(features, MICRO / "model.ckpt")
    outputs = features(micro_golden["inputs"])
    assert [outputs[k].shape[1] for k in tinymoat.ENDPOINTS] == [32, 16, 8, 4, 2]
    assert [outputs[k].shape[-1] for k in tinymoat.ENDPOINTS] == [8, 8, 16, 32, 64]
    # The head of the full model applied to stage5 gives the reference logits.
    full = build_micro()
    tinymoat.load_deeplab2_checkpoint(full, MICRO / "model.ckpt")
    pooled = tf.reduce_mean(outputs["stage5"], [1, 2], keepdims=True)
    logits = full.get_layer("logits_head")(full.get_layer("final_layer_norm")(pooled))
    np.testing.assert_allclose(tf.squeeze(logits, [1, 2]).numpy(), micro_golden["logits_ema"],
                               atol=1e-4)


@pytest.mark.parametrize("suffix", [".keras", "_savedmodel", ".h5"])
def test_saved_and_reloaded_model_gives_identical_logits(tmp_path, micro_golden, suffix):
    model = build_micro(window_size=(None, None, (2, 2), (1, 1)), survival_prob=0.8)
    tinymoat.load_deeplab2_checkpoint(model, MICRO / "model.ckpt")
    path = str(tmp_path / f"model{suffix}")
    model.save(path)
    reloaded = keras.models.load_model(path)  # no custom_objects: importing tinymoat is enough
    x = micro_golden["inputs"]
    np.testing.assert_array_equal(reloaded(x).numpy(), model(x).numpy())


def test_drop_path_is_random_in_training_and_off_at_inference(micro_golden):
    model = build_micro(survival_prob=0.5)
    x = np.repeat(micro_golden["inputs"][:1], 8, axis=0)
    inference = model(x, training=False).numpy()
    np.testing.assert_allclose(inference, inference[:1].repeat(8, 0), atol=1e-5)
    # Same image eight times: dropped residuals make the samples differ in training.
    assert np.abs(model(x, training=True).numpy() - inference).max() > 1e-4
    assert not any("drop_path" in l.name for l in build_micro().layers)


def test_classifier_activation_and_class_count():
    model = tinymoat.build_model("tiny-moat-0", 64, num_classes=3, classifier_activation="softmax",
                                 **{k: v for k, v in dict(stem_size=(8, 8),
                                    hidden_size=(8, 16, 32, 64), num_blocks=(1, 1, 1, 1),
                                    head_size=8).items()})
    probs = model(np.random.default_rng(1).normal(size=(2, 64, 64, 3)).astype(np.float32))
    np.testing.assert_allclose(probs.numpy().sum(1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="num_classes"):
        tinymoat.build_model("tiny-moat-0", 64, num_classes=0)


def test_preprocess_matches_the_two_normalisations():
    pixels = np.array([[[[0, 127.5, 255]]]], np.float32)
    out = tinymoat.preprocess(pixels)
    expected = (pixels - np.array([0.485, 0.456, 0.406]) * 255) / (np.array([0.229, 0.224, 0.225]) * 255)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    np.testing.assert_allclose(tinymoat.preprocess(pixels, "inception"), [[[[-1, 0, 1]]]])
    np.testing.assert_allclose(tinymoat.preprocess(tf.constant(pixels)).numpy(), out, rtol=1e-6)
    with pytest.raises(ValueError, match="unknown normalization"):
        tinymoat.preprocess(pixels, "caffe")
