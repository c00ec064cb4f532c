import pytest

import tinymoat
from tinymoat import macs
from tinymoat.info import main as info_main


def test_stem_and_attention_matmuls_are_counted_from_shapes():
    model = tinymoat.build_model("tiny-moat-0", 64, num_classes=10, batch_size=1,
                                 stem_size=(8, 8), hidden_size=(8, 16, 32, 64),
                                 num_blocks=(1, 1, 1, 1), head_size=8)
    table = macs.count(model)
    # conv_0: 32x32 outputs x 3x3x3 x 8, conv_1: 32x32 x 3x3x8 x 8
    assert table["stem"]["macs"] == 32 * 32 * 27 * 8 + 32 * 32 * 72 * 8
    logits = model.get_layer("block_02_00.attention.logits")
    # 4 heads x 16 queries x 16 keys x 8 dims, twice (logits and values)
    assert macs.layer_macs(logits) == 4 * 16 * 16 * 8
    assert macs.layer_macs(model.get_layer("block_02_00.attention.values")) == 4 * 16 * 16 * 8
    assert table["total"]["params"] == model.count_params() - sum(
        w.shape.num_elements() for w in model.non_trainable_weights)


@pytest.mark.parametrize("variant,paper", [("tiny-moat-0", 1.1e9), ("tiny-moat-1", 1.6e9),
                                           ("tiny-moat-2", 3.0e9), ("tiny-moat-3", 6.0e9)])
def test_multiply_adds_at_256_are_close_to_the_paper(variant, paper):
    total = macs.count(tinymoat.build_model(variant, 256, batch_size=1))["total"]["macs"]
    # The paper rounds to 0.1 G and counts a few element-wise ops we leave out.
    assert 0.93 * paper <= total <= paper


def test_count_needs_static_shapes():
    with pytest.raises(ValueError, match="batch_size=1"):
        macs.count(tinymoat.build_model("tiny-moat-0", 64))


def test_info_cli_prints_stages_and_totals(capsys):
    assert info_main(["tiny-moat-0", "--input-size", "256"]) == 0
    out = capsys.readouterr().out
    for part in ("stem", "stage 1", "stage 2", "stage 3", "stage 4", "head", "total"):
        assert part in out
    assert "3,355,348" in out and "3.36 M parameters" in out


def test_info_cli_rejects_bad_input_in_one_line(capsys):
    assert info_main(["tiny-moat-9"]) == 2
    assert info_main(["tiny-moat-0", "--input-size", "100"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("tinymoat-info: error:") for line in err)
