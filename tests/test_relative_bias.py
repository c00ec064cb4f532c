import numpy as np

from tinymoat._keras import tf
from tinymoat.export import relative_bias
from tinymoat.layers.relative_position import dense_bias


def test_factor_recovers_the_table_of_a_window():
    # the model's own bias; a table of the window's size (a resized one is rounded
    # by matmuls whose row order some CPUs' kernels make differ by an ulp)
    table = np.random.default_rng(0).normal(size=(3, 9, 9)).astype(np.float32)
    dense = dense_bias(tf.constant(table), (5, 5)).numpy()[None]     # [1, heads, 25, 25]
    compact, height, width = relative_bias.factor(dense)
    assert (height, width) == (5, 5)
    np.testing.assert_array_equal(compact, table[None])


def test_factor_recovers_a_non_square_window():
    height, width = 3, 5
    table = np.random.default_rng(0).normal(size=(2, 2 * height - 1, 2 * width - 1))
    dense = np.zeros((2, height * width, height * width))
    for i, j, x, y in np.ndindex(height, width, height, width):  # query (i, j), key (x, y)
        dense[:, i * width + j, x * width + y] = table[:, x - i + height - 1, y - j + width - 1]
    compact, found_h, found_w = relative_bias.factor(dense)
    assert (found_h, found_w) == (3, 5)
    np.testing.assert_array_equal(compact, table)


def test_one_ulp_or_an_unrelated_matrix_is_rejected():
    table = np.random.default_rng(1).normal(size=(2, 7, 7)).astype(np.float32)
    dense = dense_bias(tf.constant(table), (4, 4)).numpy()
    dense[0, 1, 2] = np.nextafter(dense[0, 1, 2], np.float32(1))
    assert relative_bias.factor(dense) is None
    assert relative_bias.factor(np.random.default_rng(2).normal(size=(2, 9, 9))) is None


def test_integer_constants_factor_too():
    table = np.arange(2 * 3 * 3, dtype=np.int8).reshape(2, 3, 3)
    dense = table.reshape(2, 9)[:, relative_bias.flat_index(2, 2)]
    compact, height, width = relative_bias.factor(dense)
    assert (height, width) == (2, 2)
    np.testing.assert_array_equal(compact, table)
