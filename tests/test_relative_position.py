import numpy as np
import pytest

from tinymoat._keras import tf
from tinymoat.layers.relative_position import bilinear_matrix, dense_bias


def reference_bias(table, height, width):
    """The reference's recipe: tf.image.resize, then index (x - i + H - 1, y - j + W - 1)."""
    resized = tf.image.resize(table[..., None], [2 * height - 1, 2 * width - 1])[..., 0].numpy()
    heads = table.shape[0]
    out = np.zeros((heads, height * width, height * width), np.float32)
    for i in range(height):
        for j in range(width):
            for x in range(height):
                for y in range(width):
                    out[:, i * width + j, x * width + y] = resized[:, x - i + height - 1,
                                                                   y - j + width - 1]
    return out


@pytest.mark.parametrize("side,height,width", [(14, 14, 14), (14, 4, 4), (7, 2, 2), (7, 8, 8),
                                               (14, 16, 12), (3, 5, 2)])
def test_bias_equals_resize_then_reindex(side, height, width):
    table = np.random.default_rng(side).normal(size=(3, 2 * side - 1, 2 * side - 1))
    table = table.astype(np.float32)
    got = dense_bias(tf.constant(table), (height, width)).numpy()
    np.testing.assert_allclose(got, reference_bias(table, height, width), atol=2e-6)


def test_bilinear_rows_sum_to_one_and_identity_when_sizes_match():
    np.testing.assert_allclose(bilinear_matrix(27, 7).sum(1), 1.0)
    np.testing.assert_allclose(bilinear_matrix(13, 13), np.eye(13))
