import numpy as np
import pytest
from PIL import Image

from tinymoat import data


def make_folder(root, counts, size=(40, 30), corrupt=0):
    rng = np.random.default_rng(0)
    for name, count in counts.items():
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(count):
            pixels = rng.integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png")
    for i in range(corrupt):
        (root / sorted(counts)[0] / f"broken{i}.jpg").write_bytes(b"not an image")
    return root


def test_classes_are_sorted_subfolders_and_images_are_centre_cropped(tmp_path):
    make_folder(tmp_path, {"dog": 2, "cat": 3})
    images = data.load_folder(tmp_path, 16)
    assert images.classes == ["cat", "dog"]
    assert images.pixels.shape == (5, 16, 16, 3) and images.pixels.dtype == np.uint8
    assert images.labels.tolist() == [0, 0, 0, 1, 1]


def test_corrupt_images_are_skipped_counted_and_warned(tmp_path):
    make_folder(tmp_path, {"a": 2, "b": 1}, corrupt=2)
    with pytest.warns(UserWarning, match="skipped 2 unreadable"):
        images = data.load_folder(tmp_path, 8)
    assert len(images.pixels) == 3 and len(images.skipped) == 2


def test_empty_and_missing_folders_are_clear_errors(tmp_path):
    with pytest.raises(data.DataError, match="image folder not found"):
        data.scan_folder(tmp_path / "missing")
    with pytest.raises(data.DataError, match="no class subfolders"):
        data.scan_folder(tmp_path)
    make_folder(tmp_path, {"a": 1, "b": 0})
    with pytest.raises(data.DataError, match="class folder.* without images: b"):
        data.scan_folder(tmp_path, require_all_classes=True)
    assert data.scan_folder(tmp_path, require_all_classes=False).classes == ["a", "b"]


def test_only_corrupt_images_is_an_error(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(data.DataError, match="no readable images"), pytest.warns(UserWarning):
        data.load_folder(tmp_path, 8)


def test_limit_takes_a_seeded_class_balanced_sample(tmp_path):
    make_folder(tmp_path, {"a": 6, "b": 6, "c": 1})
    images = data.load_folder(tmp_path, 8, limit=5)
    assert sorted(np.bincount(images.labels).tolist()) == [1, 2, 2]
    again = data.load_folder(tmp_path, 8, limit=5)
    np.testing.assert_array_equal(images.pixels, again.pixels)


def test_sample_photo_crops_are_deterministic_and_varied():
    first = data.sample_photo_crops(32, count=4)
    np.testing.assert_array_equal(first.pixels, data.sample_photo_crops(32, count=4).pixels)
    assert first.pixels.shape == (4, 32, 32, 3)
    assert np.abs(first.pixels[0].astype(int) - first.pixels[1]).mean() > 5
    assert "grace_hopper.jpg" in first.source
