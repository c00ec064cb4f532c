import numpy as np

from tinymoat._keras import tf
from tinymoat.export import relative_bias
from tinymoat.layers.relative_position import dense_bias


def test_factor_recovers_the_table_of_a_window():
    table = np.random.default_rng(0).normal(size=(3, 13, 13)).astype(np.float32)
    dense = dense_bias(tf.constant(table), (3, 5)).numpy()[None]     # [1, heads, 15, 15]
    compact, height, width = relative_bias.factor(dense)
    assert (height, width) == (3, 5) and compact.shape == (1, 3, 5, 9)
    index = relative_bias.flat_index(3, 5)
    np.testing.assert_array_equal(compact.reshape(1, 3, 45)[..., index], dense)


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
