"""Streaming data: image folders as file lists, the decoded-image cache, rows of large .npz files, stored splits."""

import os

import numpy as np
import pytest

import keras

from kerascnn.data import load_dataset, make_pipeline, read_split, sources, streaming, write_split
from kerascnn.data.streaming import LazyArray, RowFile, concat, decode_image, npy_rows, stored_member_rows

# the same files, cache and batches on every Keras backend (CI: also KERAS_BACKEND=jax)
pytestmark = pytest.mark.backend


def _folder(root, counts=(("cat", 12, 30), ("dog", 12, 200)), size=20):
    """Class folders of smooth JPEGs: class ``name`` holds ``n`` images around grey level ``value``."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, n, value in counts:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            ramp = np.linspace(0, 20, size)[None, :, None] + rng.integers(0, 10)
            image = np.clip(value + ramp + np.zeros((size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(image).save(root / name / f"{i:03d}.jpg", quality=95)
    return root


def _settings(root, **more):
    return {"source": "image_folder", "path": str(root), "image_size": [8, 8], "test_split": 0.25, **more}


def test_row_file_reads_any_rows_in_the_order_asked(tmp_path):
    x = np.arange(10 * 3 * 2, dtype=np.int16).reshape(10, 3, 2)
    np.save(tmp_path / "x.npy", x)
    rows = npy_rows(tmp_path / "x.npy")
    assert rows.shape == (10, 3, 2) and rows.dtype == np.int16
    for index in ([3], [0, 1, 2, 9], [7, 2, 3, 2, 8], []):
        np.testing.assert_array_equal(rows.read(index), x[index])


def test_an_uncompressed_npz_member_is_read_by_rows_and_a_compressed_one_is_not(tmp_path):
    x = np.random.default_rng(0).random((30, 4, 4, 1)).astype("float32")
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(30) % 3)
    rows = stored_member_rows(tmp_path / "d.npz", "x.npy")
    np.testing.assert_array_equal(rows.read([29, 0, 5]), x[[29, 0, 5]])
    np.savez_compressed(tmp_path / "c.npz", x=x, y=np.arange(30) % 3)
    assert stored_member_rows(tmp_path / "c.npz", "x.npy") is None


def test_a_large_npz_streams_and_splits_as_the_loaded_one(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 255, (60, 6, 6, 1), dtype=np.uint8), np.arange(60) % 3
    np.savez(tmp_path / "d.npz", x=x, y=y)
    settings = {"source": "npz", "path": str(tmp_path / "d.npz")}
    loaded = load_dataset(settings, seed=3)
    monkeypatch.setattr(sources, "STREAM_BYTES", 100)  # anything above 100 bytes is "too large to load"
    streamed = load_dataset(settings, seed=3)
    assert isinstance(streamed.x_train, LazyArray) and isinstance(streamed.x_train.store, RowFile)
    for part in ("x_train", "x_val", "x_test"):
        np.testing.assert_array_equal(np.asarray(getattr(streamed, part)), getattr(loaded, part))  # scaled per batch
    np.testing.assert_array_equal(streamed.y_test, loaded.y_test)


def test_a_lazy_array_reads_only_when_asked(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(20, dtype=np.uint8).reshape(10, 2, 1))
    x = LazyArray(npy_rows(tmp_path / "x.npy"))
    subset = x[np.array([8, 1, 4])]
    assert isinstance(subset, LazyArray) and subset.shape == (3, 2, 1) and x[2:5].shape == (3, 2, 1)
    np.testing.assert_allclose(subset.read(), np.array([[16, 17], [2, 3], [8, 9]])[..., None] / 255.0)
    np.testing.assert_allclose(x[3], np.array([[6], [7]]) / 255.0)
    joined = concat(x[:2], x[8:])
    np.testing.assert_allclose(np.asarray(joined)[:, 0, 0], np.array([0, 2, 16, 18]) / 255.0)
    with pytest.raises(TypeError, match="one stored dataset"):
        concat(x[:2], np.zeros((2, 2, 1)))


@pytest.mark.parametrize("mode", ["RGBA", "P", "L", "I;16", "RGB"])
def test_any_image_mode_decodes_to_the_channels_asked(tmp_path, mode):
    from PIL import Image

    base = np.full((10, 14, 3), 128, np.uint8)
    image = Image.fromarray(base)
    if mode == "I;16":
        image = Image.fromarray(np.full((10, 14), 128 * 256, np.uint16))
    elif mode != "RGB":
        image = image.convert(mode)
    image.save(tmp_path / "x.png")
    rgb = decode_image(tmp_path / "x.png", (6, 7), 3)
    grey = decode_image(tmp_path / "x.png", (6, 7), 1)
    assert rgb.shape == (6, 7, 3) and grey.shape == (6, 7, 1) and rgb.dtype == np.uint8
    assert np.all(np.abs(rgb.astype(int) - 128) <= 1) and np.all(np.abs(grey.astype(int) - 128) <= 1)


def test_an_image_folder_is_a_file_list_until_read(tmp_path, monkeypatch):
    root = _folder(tmp_path / "photos")
    decoded = []
    real = streaming.decode_image
    monkeypatch.setattr(streaming, "decode_image", lambda *a: decoded.append(a[0]) or real(*a))
    d = load_dataset(_settings(root, cache=False))
    assert decoded == [] and isinstance(d.x_train, LazyArray)  # only headers were read
    assert d.sizes() == {"train": 14, "validation": 4, "test": 6} and d.input_shape == (8, 8, 3)
    batch = d.x_val.read()
    assert len(decoded) == 4 and batch.dtype == np.float32 and 0 <= batch.min() and batch.max() <= 1
    dark = np.asarray(d.x_test[d.y_test == 0])
    assert dark.max() < 0.3  # class 0 ("cat") holds the dark images


def test_the_cache_decodes_once_and_is_keyed_by_what_made_it(tmp_path, monkeypatch):
    root = _folder(tmp_path / "photos")
    lines = []
    first = load_dataset(_settings(root), printer=lines.append)
    assert isinstance(first.x_train.store, RowFile) and len(lines) == 1 and "decoding 24 images once" in lines[0]
    monkeypatch.setattr(streaming, "decode_image", lambda *a: pytest.fail("decoded again"))
    monkeypatch.setattr(streaming, "check_image_file", lambda *a: pytest.fail("a cached file opened again"))
    again = load_dataset(_settings(root), printer=lines.append)
    assert len(lines) == 1 and again.x_train.store.path == first.x_train.store.path
    np.testing.assert_array_equal(np.asarray(again.x_test), np.asarray(first.x_test))
    assert first.x_test.paths == again.x_test.paths
    monkeypatch.undo()
    # a changed file, another size or colour mode: another key, never the stale cache
    target = root / "cat" / "000.jpg"
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    for changed in (_settings(root), _settings(root, image_size=[6, 6]), _settings(root, color_mode="grayscale")):
        d = load_dataset(changed, printer=lines.append)
        assert d.x_train.store.path != first.x_train.store.path
    assert len(lines) == 4


def test_a_damaged_cache_is_decoded_again(tmp_path):
    root = _folder(tmp_path / "photos")
    first = load_dataset(_settings(root, cache=str(tmp_path / "cache")))
    path = first.x_train.store.path
    assert path.parent == tmp_path / "cache"
    path.write_bytes(path.read_bytes()[:-50])
    lines = []
    again = load_dataset(_settings(root, cache=str(tmp_path / "cache")), printer=lines.append)
    assert "damaged or incomplete" in lines[0]
    np.testing.assert_array_equal(np.asarray(again.x_train), np.asarray(first.x_train))


def test_cached_and_streamed_folders_split_the_same_files(tmp_path):
    root = _folder(tmp_path / "photos")
    cached, streamed = load_dataset(_settings(root), seed=5), load_dataset(_settings(root, cache=False), seed=5)
    for part in ("x_train", "x_val", "x_test"):
        assert getattr(cached, part).paths == getattr(streamed, part).paths
        np.testing.assert_allclose(np.asarray(getattr(cached, part)), np.asarray(getattr(streamed, part)))


def test_a_stored_split_keeps_each_file_in_its_part(tmp_path):
    root = _folder(tmp_path / "photos")
    d = load_dataset(_settings(root, cache=False), seed=1)
    assert write_split(tmp_path / "split.csv", d)
    _folder(root, counts=(("cat", 20, 30),))  # more photos since: the run's split still holds
    again = load_dataset(_settings(root, cache=False), seed=99, split_file=tmp_path / "split.csv")
    for part in ("x_train", "x_val", "x_test"):
        assert getattr(again, part).paths == getattr(d, part).paths
    np.testing.assert_array_equal(again.y_test, d.y_test)
    (root / d.x_test.paths[0]).unlink()
    with pytest.raises(ValueError, match=r"1 file\(s\) of this run's split .* no longer in the folder"):
        load_dataset(_settings(root, cache=False), split_file=tmp_path / "split.csv")
    (tmp_path / "bad.csv").write_text("file,part\nx.jpg,holdout\n")
    with pytest.raises(ValueError, match="line 2: expected file,part"):
        read_split(tmp_path / "bad.csv", again.x_train)
    arrays = load_dataset({"source": "digits"})
    assert not write_split(tmp_path / "digits.csv", arrays)  # arrays have no files to list


def test_the_fingerprint_of_a_folder_follows_its_files_not_the_cache_or_added_photos(tmp_path):
    """What a resume compares: the same with or without the cache and after photos are added beside a stored
    split; different once a photo of the split is edited (named by part)."""
    from PIL import Image

    from kerascnn.data import fingerprint
    from kerascnn.rundir import data_differences

    root = _folder(tmp_path / "photos")
    d = load_dataset(_settings(root), seed=1)
    assert write_split(tmp_path / "split.csv", d)
    before = fingerprint(d, root)
    assert fingerprint(load_dataset(_settings(root, cache=False), seed=1), root) == before
    _folder(root, counts=(("cat", 20, 30),))  # more photos since (the first twelve rewritten identically)
    again = load_dataset(_settings(root, cache=False), seed=7, split_file=tmp_path / "split.csv")
    assert fingerprint(again, root) == before
    edited = root / d.x_test.paths[0]
    Image.fromarray(np.full((20, 20, 3), 250, np.uint8)).save(edited, quality=50)
    after = fingerprint(load_dataset(_settings(root, cache=False), seed=1, split_file=tmp_path / "split.csv"), root)
    assert data_differences(before, after) == [
        "test: the samples' content differs",
        "test: a file's name or size differs",
    ]


def test_folder_errors_name_the_file_or_the_folder(tmp_path):
    root = _folder(tmp_path / "one", counts=(("cat", 3, 30),))
    with pytest.raises(ValueError, match="one class folder .*'cat'.* at least two"):
        load_dataset(_settings(root))
    root = _folder(tmp_path / "photos")
    (root / "dog" / "notes.jpg").write_text("not an image")
    with pytest.raises(ValueError, match=r"cannot read the image .*notes\.jpg"):
        load_dataset(_settings(root))
    (root / "dog" / "notes.jpg").unlink()
    (root / "dog" / "loop.jpg").symlink_to(root / "dog" / "loop.jpg")
    with pytest.raises(ValueError, match=r"cannot read the image .*loop\.jpg"):
        load_dataset(_settings(root))
    d = load_dataset(_settings(root, skip_bad_images=True), printer=lambda _: None)
    assert sum(d.sizes().values()) == 24
    (root / "dog" / "loop.jpg").unlink()
    (root / ".hidden.jpg").write_text("ignored")
    (root / "cat" / ".DS_Store.jpg").write_text("ignored")
    assert sum(load_dataset(_settings(root)).sizes().values()) == 24


def test_a_truncated_image_is_named_when_the_cache_is_built(tmp_path):
    root = _folder(tmp_path / "photos")
    data = (root / "cat" / "003.jpg").read_bytes()
    (root / "cat" / "003.jpg").write_bytes(data[:-40])  # the header reads; the pixels stop short
    with pytest.raises(ValueError, match=r"cannot decode the image .*003\.jpg.*truncated"):
        load_dataset(_settings(root))
    assert not list((tmp_path.parent).glob("**/images-*.npy.tmp*"))  # nothing half-written left behind


@pytest.mark.parametrize("cache", [True, False])
def test_the_pipeline_gives_every_sample_once_per_epoch(tmp_path, cache):
    root = _folder(tmp_path / "photos")
    d = load_dataset(_settings(root, cache=cache, test_split=0.2))
    batches = make_pipeline(d.x_train, d.y_train, 4, shuffle=True, seed=0)
    seen = []
    for images, labels in batches:
        images = keras.ops.convert_to_numpy(images)
        assert images.dtype == np.float32 and images.shape[1:] == (8, 8, 3)
        seen += keras.ops.convert_to_numpy(labels).tolist()
    assert sorted(seen) == sorted(d.y_train.tolist())
    predicted = [keras.ops.convert_to_numpy(b) for b in make_pipeline(d.x_test, None, 4, shuffle=False)]
    # the tf.data decoder and Pillow agree on these smooth images to within a few grey levels
    np.testing.assert_allclose(np.concatenate(predicted), np.asarray(d.x_test), atol=3 / 255)


def test_predictions_and_the_baseline_on_streamed_data(tmp_path, monkeypatch):
    from kerascnn.evaluation import baselines
    from kerascnn.evaluation.metrics import predict_probabilities

    root = _folder(tmp_path / "photos")
    d = load_dataset(_settings(root))
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(2, "softmax")])
    np.testing.assert_allclose(
        predict_probabilities(model, d.x_test, batch_size=4),
        keras.ops.convert_to_numpy(model(np.asarray(d.x_test))),
        atol=1e-6,
    )
    monkeypatch.setattr(baselines, "SAMPLE", 10)
    scored = baselines.score_baseline("svc", d)
    assert scored["fit_samples"] == 10 and scored["accuracy"] == 1.0  # dark against light: separable
