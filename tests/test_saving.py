import numpy as np
import pytest

import tinymoat
from tinymoat import saving

from conftest import build_micro


def test_saved_folder_round_trips_model_config_and_labels(tmp_path, micro_golden):
    model = build_micro(window_size=(None, None, (2, 2), (1, 1)))
    folder = saving.save(model, tmp_path / "saved", config=model.moat_config, input_size=(64, 64),
                         labels=[f"c{i}" for i in range(10)])
    loaded, meta = saving.load(folder)
    assert meta["config"] == model.moat_config and meta["labels"][3] == "c3"
    assert meta["num_classes"] == 10 and loaded.moat_config.window_size[2] == (2, 2)
    x = micro_golden["inputs"]
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())
    assert not list(tmp_path.glob(".saved.*"))  # no staging folder left behind


def test_unreadable_saved_model_is_a_one_line_error(tmp_path):
    (tmp_path / saving.META_FILE).write_text("{not json")
    with pytest.raises(saving.SavedModelError, match="cannot read"):
        saving.load(tmp_path)
    model = build_micro()
    saving.save(model, tmp_path / "s", config=model.moat_config, input_size=(64, 64))
    (tmp_path / "s" / saving.MODEL_FILE).write_bytes(b"garbage")
    with pytest.raises(saving.SavedModelError, match="cannot load"):
        saving.load(tmp_path / "s")
