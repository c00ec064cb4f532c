import pytest

from tinymoat import VARIANTS, MoatConfig, get_config


def test_every_variant_of_the_reference_is_registered():
    assert list(VARIANTS) == ["tiny-moat-0", "tiny-moat-1", "tiny-moat-2", "tiny-moat-3",
                              "moat-0", "moat-1", "moat-2", "moat-3", "moat-4"]
    assert VARIANTS["moat-2"].normalization == "inception"
    assert VARIANTS["tiny-moat-3"].hidden_size == (80, 160, 320, 640)


def test_names_are_forgiving_but_unknown_ones_are_rejected():
    assert get_config("Tiny_MOAT-1") is VARIANTS["tiny-moat-1"]
    with pytest.raises(ValueError, match="unknown variant 'tiny-moat-9'"):
        get_config("tiny-moat-9")


def test_overrides_set_fields_and_reject_unknown_ones():
    config = get_config("tiny-moat-0", position_embedding=False, shortcut_pool_size=2)
    assert not config.position_embedding and config.shortcut_pool_size == 2
    with pytest.raises(ValueError, match="unknown MoatConfig field"):
        get_config("tiny-moat-0", windows=3)


def test_inconsistent_configs_are_rejected():
    with pytest.raises(ValueError, match="num_blocks has 3 entries"):
        MoatConfig(stem_size=(8, 8), hidden_size=(8, 16, 32, 64), num_blocks=(1, 1, 1))
    with pytest.raises(ValueError, match="not a multiple of head_size"):
        get_config("tiny-moat-0", hidden_size=(32, 64, 100, 256))
    with pytest.raises(ValueError, match="one entry per stage"):
        get_config("tiny-moat-0", window_size=((14, 14),))


def test_windows_accept_ints_and_pairs():
    config = get_config("tiny-moat-0", window_size=(None, None, 14, (7, 5)))
    assert config.window_size == (None, None, (14, 14), (7, 5))


def test_survival_probability_decays_linearly_with_depth():
    config = VARIANTS["moat-0"]  # 0.8 at the end, 14 blocks
    assert config.block_survival_prob(0) == 1.0
    assert config.block_survival_prob(7) == pytest.approx(1 - 0.2 * 7 / 14)
    assert VARIANTS["tiny-moat-0"].block_survival_prob(5) is None


def test_config_round_trips_through_a_dict():
    config = get_config("tiny-moat-2", window_size=(None, None, 14, 7))
    assert MoatConfig.from_dict(config.to_dict()) == config
