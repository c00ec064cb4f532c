import os
import struct
import threading
import zlib

import numpy as np
import pytest
from PIL import Image

from tinymoat import data


def bomb_png(path, width=100_000, height=100_000):
    """A valid-looking PNG of a few dozen bytes whose header claims width x height pixels."""
    def chunk(kind, payload):
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload)))
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    return path


def without_blocking(function, *args, fifo, timeout=120):
    """function(*args) in a thread; if it is still blocked on `fifo` after `timeout`
    seconds, the pipe is opened for writing (so the reader gets EOF) and the test fails."""
    outcome = {}

    def target():
        try:
            outcome["value"] = function(*args)
        except BaseException as exc:  # noqa: BLE001  (re-raised in the test's thread)
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
        thread.join(30)
        pytest.fail(f"blocked on the named pipe {fifo}")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


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


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_named_pipes_devices_and_symlink_loops_are_skipped_not_opened(tmp_path):
    make_folder(tmp_path, {"a": 2, "b": 1})
    fifo = tmp_path / "a" / "pipe.png"
    os.mkfifo(fifo)
    os.symlink(tmp_path / "b" / "loop.jpg", tmp_path / "b" / "loop.jpg")
    if os.path.exists("/dev/zero"):
        os.symlink("/dev/zero", tmp_path / "b" / "zero.png")
    with pytest.warns(UserWarning, match="unreadable"):
        images = without_blocking(data.load_folder, tmp_path, 8, fifo=fifo)
    assert len(images.pixels) == 3
    assert str(fifo) in images.skipped and str(tmp_path / "b" / "loop.jpg") in images.skipped
    assert len(images.skipped) == 2 + os.path.exists("/dev/zero")


def test_image_whose_header_claims_huge_dimensions_is_skipped_not_decoded(tmp_path):
    make_folder(tmp_path, {"a": 2})
    bomb = bomb_png(tmp_path / "a" / "bomb.png")
    with pytest.warns(UserWarning, match="skipped 1 unreadable") as record:
        images = data.load_folder(tmp_path, 8)
    assert images.skipped == [str(bomb)] and len(images.pixels) == 2
    assert not [w for w in record if issubclass(w.category, Image.DecompressionBombWarning)]
    assert not data.image_header_ok(bomb) and not data.image_header_ok(bomb.read_bytes())


def test_pixel_limit_is_the_header_rule_and_is_inclusive(tmp_path, monkeypatch):
    path = tmp_path / "x.png"
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(path)
    monkeypatch.setattr(data, "MAX_IMAGE_PIXELS", 30 * 40)
    assert data.image_header_ok(path) and data.decode(path, (8, 8)) is not None
    monkeypatch.setattr(data, "MAX_IMAGE_PIXELS", 30 * 40 - 1)
    assert not data.image_header_ok(path) and data.decode(path, (8, 8)) is None
    with pytest.raises(data.UnreadableImage, match="claims 40x30 pixels, more than 1199"):
        with data.open_image(path):
            pass
