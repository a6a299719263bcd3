import gzip
import pickle

import numpy as np
import pytest

import keras

from kerascnn.data import check_arrays, load_dataset, make_pipeline
from kerascnn.data.sources import keras_cache_dir


def test_digits_default_split_is_stratified_and_reproducible():
    a = load_dataset({"source": "digits"}, seed=0)
    b = load_dataset({"source": "digits"}, seed=0)
    assert a.sizes() == {"train": 1167, "validation": 270, "test": 360}
    assert a.input_shape == (8, 8, 1) and a.num_classes == 10
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0
    counts = np.bincount(a.y_test)
    assert counts.max() - counts.min() <= 2  # stratified: every class about 36
    c = load_dataset({"source": "digits"}, seed=1)
    assert not np.array_equal(a.y_test, c.y_test)


def test_arrays_source_and_channel_axis():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (60, 10, 10), dtype=np.uint8)
    y = np.repeat([0, 1, 2], 20)
    d = load_dataset({"source": "arrays", "test_split": 0.2, "validation_split": 0.2}, arrays=(x, y))
    assert d.input_shape == (10, 10, 1) and d.x_train.dtype == np.float32 and d.x_train.max() <= 1
    assert sum(d.sizes().values()) == 60


@pytest.mark.parametrize(
    "x, y, message",
    [
        (np.zeros(10), np.arange(10) % 2, "fits no layout"),
        (np.zeros((10, 2, 2, 2, 2, 2)), np.arange(10) % 2, "fits no layout"),
        (np.zeros((10, 40, 12)), np.arange(10) % 2, "could be grayscale images .* or signals .*data.layout"),
        (np.zeros((10, 16, 16, 16)), np.arange(10) % 2, "could be images .* or volumes .*data.layout"),
        (np.zeros((10, 8, 8)), np.zeros(9), "one integer label per sample"),
        (np.full((10, 8, 8), np.nan), np.arange(10) % 2, "NaN"),
        (np.zeros((10, 8, 8)), np.zeros(10), "at least two classes"),
        (np.zeros((10, 8, 8)), np.arange(10) % 2 + 1, "labels must be 0..K-1"),
        (np.zeros((10, 8, 8)), np.where(np.arange(10) % 2, 3, 0), "missing [1, 2]"),
        (np.zeros((10, 8, 8)), (np.arange(10) % 2) + 0.5, "non-integer"),
        (np.zeros((10, 8, 8)), np.array(["a", "b"] * 5), "labels must be integers"),
        (np.zeros((0, 8, 8)), np.zeros(0), "no samples"),
    ],
)
def test_bad_arrays_are_refused(x, y, message):
    with pytest.raises(ValueError, match=message.replace("[", "\\[").replace("]", "\\]")):
        check_arrays(x, y)


def _write_png(path, value, size=12):
    from PIL import Image

    Image.fromarray(np.full((size, size, 3), value, np.uint8)).save(path)


def test_image_folder(tmp_path):
    for name, value in (("cat", 10), ("dog", 200)):
        (tmp_path / name).mkdir()
        for i in range(10):
            _write_png(tmp_path / name / f"{i}.png", value + i)
    d = load_dataset(
        {
            "source": "image_folder",
            "path": str(tmp_path),
            "image_size": [8, 8],
            "validation_split": 0.2,
            "test_split": 0.2,
        }
    )
    assert d.class_names == ["cat", "dog"] and d.input_shape == (8, 8, 3)
    cats = np.asarray(d.x_train[d.y_train == 0])
    assert cats.max() < 0.2  # dark images are class 0


def test_image_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="no class subfolders"):
        load_dataset({"source": "image_folder", "path": str(tmp_path)})
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _write_png(tmp_path / "a" / "x.png", 1)
    with pytest.raises(ValueError, match="holds no images"):
        load_dataset({"source": "image_folder", "path": str(tmp_path)})
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_dataset({"source": "image_folder", "path": str(tmp_path / "missing")})


def test_npz_source(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "d.npz",
        x_train=rng.random((40, 6, 6, 2)),
        y_train=np.arange(40) % 4,
        x_test=rng.random((12, 6, 6, 2)),
        y_test=np.arange(12) % 4,
    )
    d = load_dataset({"source": "npz", "path": str(tmp_path / "d.npz"), "validation_split": 0.2})
    assert d.sizes()["test"] == 12 and d.input_shape == (6, 6, 2) and d.num_classes == 4
    np.savez(tmp_path / "bad.npz", images=np.zeros((4, 2, 2)))
    with pytest.raises(ValueError, match="expected 'x' and 'y'"):
        load_dataset({"source": "npz", "path": str(tmp_path / "bad.npz")})


def test_mnist_from_a_keras_cache_file(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    cache = keras_cache_dir()
    cache.mkdir(parents=True)
    rng = np.random.default_rng(0)
    np.savez(
        cache / "mnist.npz",
        x_train=rng.integers(0, 255, (50, 28, 28), dtype=np.uint8),
        y_train=np.arange(50) % 10,
        x_test=rng.integers(0, 255, (20, 28, 28), dtype=np.uint8),
        y_test=np.arange(20) % 10,
    )
    d = load_dataset({"source": "mnist", "validation_split": 0.2, "allow_download": False})
    assert d.input_shape == (28, 28, 1) and d.sizes()["test"] == 20 and d.num_classes == 10


def test_fashion_mnist_from_cache_idx_files(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    folder = keras_cache_dir() / "fashion-mnist"
    folder.mkdir(parents=True)

    def write(name, header, array):
        with gzip.open(folder / name, "wb") as f:
            f.write(bytes(header) + array.astype(np.uint8).tobytes())

    write("train-labels-idx1-ubyte.gz", 8 * [0], np.arange(40) % 10)
    write("t10k-labels-idx1-ubyte.gz", 8 * [0], np.arange(20) % 10)
    write("train-images-idx3-ubyte.gz", 16 * [0], np.zeros((40, 28, 28)))
    write("t10k-images-idx3-ubyte.gz", 16 * [0], np.ones((20, 28, 28)))
    d = load_dataset({"source": "fashion_mnist", "validation_split": 0.25, "allow_download": False})
    assert d.class_names[0] == "T-shirt/top" and d.sizes()["test"] == 20


def test_cifar10_from_cache_batches(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    folder = keras_cache_dir() / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 255, (10, 3072), dtype=np.uint8), b"labels": list(range(10))}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    d = load_dataset({"source": "cifar10", "validation_split": 0.2, "allow_download": False})
    assert d.input_shape == (32, 32, 3) and d.class_names[0] == "airplane" and d.sizes()["test"] == 10


def test_missing_keras_dataset_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError) as err:
        load_dataset({"source": "cifar100", "allow_download": False})
    assert str(tmp_path / "datasets" / "cifar-100-python") in str(err.value)


@pytest.mark.backend
def test_pipeline_batches_and_shuffles():
    import keras

    x = np.arange(10, dtype="float32").reshape(10, 1, 1, 1)
    ds = make_pipeline(x, np.arange(10), 4, shuffle=True, seed=0)
    if keras.backend.backend() == "tensorflow":
        batches = [b[1].numpy().tolist() for b in ds]
    else:  # a keras.utils.PyDataset of the same batches
        assert isinstance(ds, keras.utils.PyDataset)
        batches = [ds[i][1].tolist() for i in range(len(ds))]
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(sum(batches, [])) == list(range(10))


def _epochs(ds, n):
    out = []
    for _ in range(n):
        out.append([ds[i][1].tolist() for i in range(len(ds))])
        ds.on_epoch_end()
    return out


@pytest.mark.backend
def test_array_batches_same_seed_same_batches_every_sample_once_per_epoch():
    from kerascnn.data import ArrayBatches

    x, y = np.arange(23, dtype="float32").reshape(23, 1), np.arange(23)
    first = _epochs(ArrayBatches(x, y, 5, shuffle=True, seed=3), 3)
    assert first == _epochs(ArrayBatches(x, y, 5, shuffle=True, seed=3), 3)  # same seed, same batches
    assert first != _epochs(ArrayBatches(x, y, 5, shuffle=True, seed=4), 3)
    for epoch in first:
        assert [len(b) for b in epoch] == [5, 5, 5, 5, 3] and sorted(sum(epoch, [])) == list(range(23))
    assert first[0] != first[1]  # reshuffled each epoch
    batch = ArrayBatches(x, y, 5, shuffle=True, seed=3)[0]
    np.testing.assert_array_equal(batch[0][:, 0], batch[1])  # images and labels stay paired
    assert _epochs(ArrayBatches(x, y, 10, shuffle=False), 1) == [[list(range(10)), list(range(10, 20)), [20, 21, 22]]]


@pytest.mark.backend
@pytest.mark.parametrize("shuffle", [True, False])
def test_array_batches_on_the_device_are_the_same_batches(shuffle):
    from kerascnn.data import ArrayBatches

    x, y = np.arange(46, dtype="float32").reshape(23, 2), np.arange(23)
    host = ArrayBatches(x, y, 5, shuffle=shuffle, seed=1)
    on_device = ArrayBatches(x, y, 5, shuffle=shuffle, seed=1, on_device=True)
    for _ in range(2):
        for i in range(len(host)):
            (xh, yh), (xd, yd) = host[i], on_device[i]
            assert not isinstance(xd, np.ndarray)  # a backend tensor
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(xd), xh)
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(yd), yh)
        host.on_epoch_end(), on_device.on_epoch_end()


@pytest.mark.backend
def test_array_batches_split_evenly_over_data_parallel_devices():
    from kerascnn.data import ArrayBatches

    x, y = np.zeros((23, 1), "float32"), np.arange(23)
    epochs = _epochs(ArrayBatches(x, y, 5, shuffle=True, seed=0, multiple=2), 4)
    for epoch in epochs:
        assert [len(b) for b in epoch] == [4, 4, 4, 4, 4, 2]  # every batch splits over 2 devices
        assert len(set(sum(epoch, []))) == 22  # one sample left out this epoch
    left_out = [frozenset(range(23)) - set(sum(epoch, [])) for epoch in epochs]
    assert len(set(left_out)) > 1  # a different one from epoch to epoch


def test_an_unreadable_image_is_named_or_skipped_with_a_count(tmp_path):
    for name, value in (("cat", 10), ("dog", 200)):
        (tmp_path / name).mkdir()
        for i in range(6):
            _write_png(tmp_path / name / f"{i}.png", value + i)
    (tmp_path / "dog" / "empty.png").write_bytes(b"")
    (tmp_path / "cat" / "cut.png").write_bytes((tmp_path / "cat" / "0.png").read_bytes()[:20])
    data = {"source": "image_folder", "path": str(tmp_path), "image_size": [8, 8], "test_split": 0.25}
    with pytest.raises(ValueError, match=rf"cannot read the image '{tmp_path / 'cat' / 'cut.png'}'.*skip_bad_images"):
        load_dataset(data)
    lines = []
    d = load_dataset({**data, "skip_bad_images": True, "cache": False}, printer=lines.append)
    assert sum(d.sizes().values()) == 12 and lines == [
        f"data.path: left out 2 unreadable image(s) (data.skip_bad_images), e.g. '{tmp_path / 'cat' / 'cut.png'}'"
    ]


def test_a_damaged_npz_is_named(tmp_path):
    good = tmp_path / "good.npz"
    np.savez(good, x=np.zeros((4, 8, 8)), y=np.arange(4))
    (tmp_path / "cut.npz").write_bytes(good.read_bytes()[:100])
    (tmp_path / "empty.npz").write_bytes(b"")
    np.save(tmp_path / "one.npy", np.zeros(3))
    for name, message in (("cut.npz", "cannot read"), ("empty.npz", "cannot read"), ("one.npy", "single array")):
        with pytest.raises(
            ValueError, match=rf"data.path: '{tmp_path / name}'.*{message}|{message} '{tmp_path / name}'"
        ):
            load_dataset({"source": "npz", "path": str(tmp_path / name)})


# --- data of every rank ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "shape, layout, rank, sample",
    [
        ((30, 40), "auto", 1, (40, 1)),  # (N, L): a signal, the channel axis added
        ((30, 40, 1), "auto", 1, (40, 1)),  # MNIST-1D's shape: an image one pixel wide is no image
        ((30, 100, 3), "auto", 1, (100, 3)),  # three-channel signals
        ((30, 9, 9), "auto", 2, (9, 9, 1)),  # square: grayscale images
        ((30, 9, 7, 3), "auto", 2, (9, 7, 3)),
        ((30, 6, 6, 6, 1), "auto", 3, (6, 6, 6, 1)),
        ((30, 40, 12), "signals", 1, (40, 12)),  # twelve-lead signals, said so
        ((30, 40, 12), "images", 2, (40, 12, 1)),  # or 40×12 pictures
        ((30, 6, 6, 6), "volumes", 3, (6, 6, 6, 1)),
    ],
)
def test_each_layout_is_read_with_its_channel_axis(shape, layout, rank, sample):
    x = np.random.default_rng(0).random(shape).astype("float32")
    d = load_dataset({"source": "arrays", "layout": layout, "test_split": 0.2}, arrays=(x, np.arange(30) % 3))
    assert d.rank == rank and d.input_shape == sample
    assert d.layout == {1: "signals", 2: "images", 3: "volumes"}[rank]


def test_a_layout_that_does_not_fit_the_arrays_or_the_source_is_named():
    x, y = np.zeros((10, 8, 8)), np.arange(10) % 2
    with pytest.raises(ValueError, match="data.layout='volumes' takes arrays of shape \\(N, D, H, W\\)"):
        check_arrays(x, y, layout="volumes")
    with pytest.raises(ValueError, match="data.layout='signals' does not fit data.source='digits', which holds images"):
        load_dataset({"source": "digits", "layout": "signals"})
    with pytest.raises(ValueError, match="data.layout"):
        load_dataset({"source": "digits", "layout": "sound"})


def test_npz_signals(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "s.npz",
        x_train=rng.random((50, 40, 1)),
        y_train=np.arange(50) % 5,
        x_test=rng.random((20, 40, 1)),
        y_test=np.arange(20) % 5,
    )
    d = load_dataset({"source": "npz", "path": str(tmp_path / "s.npz")})
    assert d.layout == "signals" and d.input_shape == (40, 1) and d.sizes()["test"] == 20


def test_mnist1d_is_the_standard_split_generated_once_and_read_from_the_cache(tmp_path, monkeypatch):
    import mnist1d.data

    from kerascnn.data import sources

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    state = np.random.get_state()
    a = load_dataset({"source": "mnist1d"}, seed=0)
    assert np.random.get_state()[1].tolist() == state[1].tolist()  # the generator's global seed is undone
    assert a.layout == "signals" and a.input_shape == (40, 1) and a.num_classes == 10
    assert a.sizes()["test"] == 1000 and a.sizes()["train"] + a.sizes()["validation"] == 4000
    cached = sources.mnist1d_cache_file()
    assert cached.is_file() and cached.parent == tmp_path / "datasets"
    monkeypatch.setattr(mnist1d.data, "make_dataset", lambda *a, **k: pytest.fail("generated again"))
    b = load_dataset({"source": "mnist1d"}, seed=0)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    with np.load(cached) as f:  # what the package generates with its default arguments (its fixed seed)
        assert f["x_train"].shape == (4000, 40) and f["x_test"].shape == (1000, 40)


def test_shapes3d_volumes_are_deterministic_and_balanced():
    a = load_dataset({"source": "shapes3d"}, seed=0)
    b = load_dataset({"source": "shapes3d"}, seed=0)
    assert a.layout == "volumes" and a.input_shape == (16, 16, 16, 1)
    assert a.class_names == ["sphere", "cube", "cylinder"]
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert sum(a.sizes().values()) == 600 and set(np.bincount(np.concatenate([a.y_train, a.y_val, a.y_test]))) == {200}
