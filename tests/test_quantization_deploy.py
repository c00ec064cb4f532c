"""deploy_model: exact float rewrites into the layers the int8 runtime runs."""

import math

import numpy as np
import pytest

import tinymoat
from tinymoat._keras import keras, tf
from tinymoat.layers import HeadProjection
from tinymoat.quantization import deploy_model, is_deploy_graph, reset_batch_norm_statistics
from tinymoat.quantization.deploy import GELU_SIGMOID_SLOPE, Affine, fold_affines
from tinymoat.quantization.layers import (AttentionScores, DecomposedLayerNorm,
                                          DepthwiseAveragePool, SigmoidGate, exact_grid_max)

from conftest import MICRO, build_micro

L = keras.layers


@pytest.fixture(scope="module")
def micro():
    """The micro fixture with BN statistics of real activations (input-dependent logits)."""
    model = build_micro()
    tinymoat.load_deeplab2_checkpoint(model, str(MICRO / "model.ckpt"))
    rng = np.random.RandomState(0)
    return reset_batch_norm_statistics(model, rng.randn(16, 64, 64, 3).astype(np.float32))


def random_batch_norm(channels, seed):
    rng = np.random.RandomState(seed)
    bn = L.BatchNormalization(epsilon=1e-3)
    bn.build((None, None, None, channels))
    bn.set_weights([rng.uniform(0.5, 2, channels), rng.randn(channels),
                    rng.randn(channels), rng.uniform(0.2, 3, channels)])
    return bn


def test_deploy_model_computes_the_same_logits(micro):
    deployed = deploy_model(micro, gelu="erf")
    x = np.random.RandomState(1).randn(4, 64, 64, 3).astype(np.float32)
    expected = micro(x).numpy()
    np.testing.assert_allclose(deployed(x).numpy(), expected, atol=1e-5 * np.abs(expected).max())
    assert is_deploy_graph(deployed) and not is_deploy_graph(micro)


def _sigmoid_gelu(x):
    return x * tf.math.sigmoid(GELU_SIGMOID_SLOPE * x)


def test_sigmoid_gelu_is_the_only_approximation_and_a_close_one(micro, monkeypatch):
    deployed = deploy_model(micro)  # the int8 deploy graph: gelu="sigmoid"
    x = np.random.RandomState(1).randn(4, 64, 64, 3).astype(np.float32)
    expected = micro(x).numpy()
    error = deployed(x).numpy() - expected
    sqnr_db = 10 * np.log10(np.sum(expected ** 2) / np.sum(error ** 2))
    assert 25 < sqnr_db < 120  # not exact; 28 dB here, 56 dB on the tiny_moat0_224 fixture
    # ... and exactly the model with x * sigmoid(1.702 x) in place of every GELU.
    monkeypatch.setattr(tinymoat.layers.activation, "gelu", _sigmoid_gelu)
    reference = micro(x).numpy()
    np.testing.assert_allclose(deployed(x).numpy(), reference,
                               atol=1e-5 * np.abs(reference).max())
    with pytest.raises(ValueError, match="gelu"):
        deploy_model(micro, gelu="cubic")




def test_sigmoid_gate_matches_its_formula():
    x = np.linspace(-6, 6, 101, dtype=np.float32)[None]
    gate = SigmoidGate(GELU_SIGMOID_SLOPE)
    np.testing.assert_allclose(gate(x).numpy(), x / (1 + np.exp(-GELU_SIGMOID_SLOPE * x)),
                               rtol=1e-5, atol=1e-6)
    exact = 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
    assert np.abs(gate(x).numpy() - exact).max() < 0.021


@pytest.mark.parametrize("size,pool,stride,padding", [
    ((112, 112), 3, 2, "same"), ((7, 9), 3, 2, "same"), ((8, 8), 2, 2, "same"),
    ((9, 9), 3, 1, "same"), ((8, 8), 3, 2, "valid")])
def test_depthwise_average_pool_is_the_average_pool(size, pool, stride, padding):
    x = np.random.RandomState(0).randn(2, *size, 5).astype(np.float32)
    expected = L.AveragePooling2D(pool, stride, padding)(x).numpy()
    layer = DepthwiseAveragePool((pool, pool), (stride, stride), padding)
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-5, atol=1e-6)
    assert (layer.correction is None) == (len(layer.quantization_points()) == 1)


def test_the_pool_correction_lands_on_int8_codes():
    layer = DepthwiseAveragePool((3, 3), (2, 2), "same")
    layer.build((1, 112, 112, 4))
    assert sorted(np.unique(layer.correction)) == [1.0, 1.5, 2.25]
    lo, hi = layer.fixed_range("correction_point")
    step = (hi - lo) / 255
    codes = np.unique(layer.correction) / step
    np.testing.assert_allclose(codes, np.round(codes), atol=1e-4)
    assert exact_grid_max([1.0, 1 / 3]) == pytest.approx(255 / 255)  # 1/3 * 255 = 85 codes
    assert exact_grid_max([1.0, 0.7071]) == pytest.approx(1.0)  # nothing divides: plain max


def test_deploy_model_folds_every_norm_and_rewrites_attention(micro):
    deployed = deploy_model(micro)
    kinds = {type(layer) for layer in deployed.layers}
    assert L.BatchNormalization not in kinds and L.LayerNormalization not in kinds
    assert HeadProjection not in kinds and tinymoat.layers.AttentionLogits not in kinds
    assert {AttentionScores, DecomposedLayerNorm, SigmoidGate} <= kinds
    names = {layer.name for layer in deployed.layers}
    assert "block_00_00.pre_norm" not in names and "block_00_00.expand_norm" not in names
    expand = deployed.get_layer("block_00_00.expand_conv")
    assert expand.use_bias  # received the pre-norm's shift and the expand-norm's offset
    q = deployed.get_layer("block_02_00.attention.q")
    assert type(q) is L.Conv2D and q.kernel_size == (1, 1)
    # LayerNorm before q/k/v and the head gives its gamma/beta to the convolutions.
    assert not deployed.get_layer("block_02_00.attention_norm").affine
    assert not deployed.get_layer("final_layer_norm").affine


def test_pre_norm_folds_exactly_into_a_strided_pointwise_conv():
    bn = random_batch_norm(6, seed=0)
    rng = np.random.RandomState(1)
    kernel = rng.randn(1, 1, 6, 5).astype(np.float32)
    x = rng.randn(2, 9, 9, 6).astype(np.float32)  # odd size: SAME padding would pad a 3x3
    conv = L.Conv2D(5, 1, strides=2, padding="same", use_bias=False)
    conv.build(x.shape)
    conv.set_weights([kernel])
    expected = conv(bn(x, training=False)).numpy()
    folded_kernel, folded_bias = fold_affines(kernel, None, before=Affine.of_batch_norm(bn))
    folded = L.Conv2D(5, 1, strides=2, padding="same")
    folded.build(x.shape)
    folded.set_weights([folded_kernel, folded_bias])
    np.testing.assert_allclose(folded(x).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_an_input_affine_is_refused_where_padding_would_make_it_inexact():
    with pytest.raises(ValueError, match="1x1"):
        fold_affines(np.ones((3, 3, 4, 4)), None, before=Affine(np.ones(4), np.ones(4)))


def test_batch_norm_folds_into_the_preceding_depthwise_conv():
    bn = random_batch_norm(4, seed=2)
    rng = np.random.RandomState(3)
    x = rng.randn(2, 6, 6, 4).astype(np.float32)
    dw = L.DepthwiseConv2D(3, padding="same", use_bias=False)
    dw.build(x.shape)
    expected = bn(dw(x), training=False).numpy()
    kernel, bias = fold_affines(dw.get_weights()[0], None, after=Affine.of_batch_norm(bn),
                                depthwise=True)
    folded = L.DepthwiseConv2D(3, padding="same")
    folded.build(x.shape)
    folded.set_weights([kernel, bias])
    np.testing.assert_allclose(folded(x).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_decomposed_layer_norm_equals_keras_layer_norm():
    x = np.random.RandomState(4).randn(3, 4, 4, 16).astype(np.float32) * 3 + 1
    reference = L.LayerNormalization(epsilon=1e-5)
    reference.build(x.shape)
    gamma, beta = np.random.RandomState(5).randn(2, 16).astype(np.float32)
    reference.set_weights([gamma, beta])
    decomposed = DecomposedLayerNorm(1e-5)
    decomposed.build(x.shape)
    decomposed.set_weights([gamma, beta])
    np.testing.assert_allclose(decomposed(x).numpy(), reference(x).numpy(), atol=2e-5)


def test_pixel_input_models_are_inlined_into_one_flat_graph(micro):
    pixels = tinymoat.with_pixel_input(micro)
    deployed = deploy_model(pixels, gelu="erf")
    assert not any(isinstance(layer, keras.Model) for layer in deployed.layers)
    assert deployed.input.name.startswith("pixels")
    x = np.random.RandomState(6).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    expected = pixels(x).numpy()
    np.testing.assert_allclose(deployed(x).numpy(), expected, atol=1e-5 * np.abs(expected).max())
