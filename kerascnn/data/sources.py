"""Dataset sources: each returns raw arrays ``(x, y, x_test, y_test, class_names)``.

``x_test`` is ``None`` where the source has no official test split (digits,
image folders, most ``.npz`` files); :func:`kerascnn.data.split` then carves one
out. Keras' downloadable datasets are read from the Keras cache
(``$KERAS_HOME/datasets``, default ``~/.keras/datasets``) in the files Keras
itself writes there; if the file is missing, Keras downloads it when
``allow_download`` is true, otherwise a clear error says which file to put where.
"""

from __future__ import annotations

import gzip
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np

from kerascnn.data.streaming import IMAGE_EXTENSIONS, ImageFiles
from kerascnn.validation import invalid


def keras_cache_dir(subdir: str = "datasets") -> Path:
    """Where Keras keeps downloaded datasets (``datasets``) or application weights (``models``)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / subdir


# Files Keras writes into its cache for each dataset (what `load_data` leaves behind).
KERAS_CACHE_FILES = {
    "mnist": "mnist.npz",
    "fashion_mnist": "fashion-mnist",
    "cifar10": "cifar-10-batches-py",
    "cifar100": "cifar-100-python",
}
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]


def load_digits_source(**_):
    """scikit-learn's bundled 8×8 digits (1,797 images, pixel values 0..16): works offline."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = digits.images.astype("float32")[..., None] / 16.0
    return x, digits.target.astype("int64"), None, None, [str(c) for c in digits.target_names]


def _read_mnist(path: Path):
    with np.load(path, allow_pickle=False) as f:
        return f["x_train"], f["y_train"], f["x_test"], f["y_test"]


def _read_fashion(path: Path):
    def read(name, offset):
        with gzip.open(path / name, "rb") as f:
            return np.frombuffer(f.read(), np.uint8, offset=offset)

    y_train, y_test = read("train-labels-idx1-ubyte.gz", 8), read("t10k-labels-idx1-ubyte.gz", 8)
    x_train = read("train-images-idx3-ubyte.gz", 16).reshape(len(y_train), 28, 28)
    x_test = read("t10k-images-idx3-ubyte.gz", 16).reshape(len(y_test), 28, 28)
    return x_train, y_train, x_test, y_test


def _read_cifar_batch(file: Path, label_key: str):
    with open(file, "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    x = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return x, np.asarray(batch[label_key], dtype=np.int64)


def _read_cifar10(path: Path):
    parts = [_read_cifar_batch(path / f"data_batch_{i}", "labels") for i in range(1, 6)]
    x_test, y_test = _read_cifar_batch(path / "test_batch", "labels")
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), x_test, y_test


def _read_cifar100(path: Path, label_mode: str = "fine"):
    key = f"{label_mode}_labels"
    x, y = _read_cifar_batch(path / "train", key)
    x_test, y_test = _read_cifar_batch(path / "test", key)
    return x, y, x_test, y_test


_READERS = {"mnist": _read_mnist, "fashion_mnist": _read_fashion, "cifar10": _read_cifar10, "cifar100": _read_cifar100}


def load_keras_source(source: str, allow_download: bool = True, label_mode: str = "fine", **_):
    """MNIST, Fashion-MNIST, CIFAR-10 or CIFAR-100 from the Keras cache.

    Raises:
        FileNotFoundError: the cache lacks the dataset and downloading is off
            (or failed); the message names the file and the folder.
    """
    import keras

    path = keras_cache_dir() / KERAS_CACHE_FILES[source]
    kwargs = {"label_mode": label_mode} if source == "cifar100" else {}
    if path.exists():
        arrays = _READERS[source](path, **kwargs)
    else:
        where = (
            f"{source} is not in the Keras cache: expected {path} (the file or folder "
            f"keras.datasets.{source}.load_data() leaves there). Copy it there from a machine "
            "with network access, or use source: npz / image_folder."
        )
        if not allow_download:
            raise FileNotFoundError(where + " (data.allow_download is false)")
        try:
            arrays = getattr(keras.datasets, source).load_data(**kwargs)
            (x, y), (x_test, y_test) = arrays
            arrays = (x, y, x_test, y_test)
        except Exception as err:  # no network, proxy, interrupted download...
            raise FileNotFoundError(f"{where} Downloading it failed: {err}") from err
    x, y, x_test, y_test = arrays
    names = {"cifar10": CIFAR10_CLASSES, "fashion_mnist": FASHION_CLASSES}.get(source)
    num_classes = int(max(np.max(y), np.max(y_test))) + 1
    return x, np.ravel(y), x_test, np.ravel(y_test), names or [str(i) for i in range(num_classes)]


def load_image_folder(path=None, image_size=(64, 64), color_mode="rgb", **_):
    """``path/<class name>/<image files>``: one subfolder per class, names sorted; a file list, not pixels.

    Returns a :class:`~kerascnn.data.streaming.LazyArray` over the files:
    nothing is opened here (:func:`kerascnn.data.streaming.checked_images`
    checks the files a dataset keeps). Hidden files and folders are ignored.
    """
    from kerascnn.data.streaming import LazyArray

    if path is None:
        raise invalid("data.path", path, "the folder holding one subfolder per class")
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"data.path: no such folder {str(root)!r}")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise ValueError(f"data.path: {str(root)!r} has no class subfolders (expected one folder per class)")
    if len(classes) < 2:
        raise ValueError(
            f"data.path: {str(root)!r} has one class folder ({classes[0]!r}); a classifier needs at least two"
        )
    names, ys = [], []
    for label, name in enumerate(classes):
        files = sorted(
            f.name
            for f in (root / name).iterdir()
            if f.suffix.lower() in IMAGE_EXTENSIONS and not f.name.startswith(".")
        )
        if not files:
            raise ValueError(
                f"data.path: class folder {str(root / name)!r} holds no images ({', '.join(IMAGE_EXTENSIONS)})"
            )
        names += [f"{name}/{file}" for file in files]
        ys += [label] * len(files)
    channels = 1 if color_mode == "grayscale" else 3
    store = ImageFiles(root.resolve(), tuple(names), tuple(int(s) for s in image_size), channels)
    return LazyArray(store), np.asarray(ys, dtype=np.int64), None, None, classes


def load_npz(path=None, x_key="x", y_key="y", **_):
    """An ``.npz`` with ``x``/``y`` (or ``x_train``/``y_train``/``x_test``/``y_test``)."""
    if path is None:
        raise invalid("data.path", path, "the path of an .npz file")
    if not Path(path).is_file():
        raise FileNotFoundError(f"data.path: no such file {str(path)!r}")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as err:  # empty, truncated, not NumPy, pickled
        raise ValueError(
            f"data.path: cannot read {str(path)!r} as an .npz file ({type(err).__name__}: {err})"
        ) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(
            f"data.path: {str(path)!r} holds a single array (.npy), not an .npz of named arrays "
            "(np.savez(path, x=images, y=labels))"
        )
    try:
        with archive as f:
            keys = set(f.files)
            if {"x_train", "y_train"} <= keys:
                test = (_samples(f, path, "x_test"), f["y_test"]) if {"x_test", "y_test"} <= keys else (None, None)
                x, y = _samples(f, path, "x_train"), f["y_train"]
            elif {x_key, y_key} <= keys:
                x, y, test = _samples(f, path, x_key), f[y_key], (None, None)
            else:
                raise KeyError(sorted(keys))
    except KeyError:
        raise ValueError(
            f"data.path: {path} holds arrays {sorted(keys)}; expected {x_key!r} and "
            f"{y_key!r} (set data.x_key / data.y_key to use others), or "
            "x_train/y_train[/x_test/y_test]"
        ) from None
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as err:  # a damaged member
        raise ValueError(
            f"data.path: cannot read {str(path)!r} as an .npz file ({type(err).__name__}: {err})"
        ) from None
    return x, y, test[0], test[1], None


#: An ``.npz`` member holding more bytes than this is read by rows, when it is stored uncompressed.
STREAM_BYTES = 1 << 30


def _samples(archive, path, key: str):
    """Member ``key`` of an open ``.npz``: in memory, or, when larger than :data:`STREAM_BYTES` and stored
    uncompressed (``np.savez``), a :class:`~kerascnn.data.streaming.LazyArray` reading its rows from disk."""
    from kerascnn.data.streaming import LazyArray, stored_member_rows

    info = archive.zip.getinfo(f"{key}.npy")
    if info.file_size > STREAM_BYTES:
        rows = stored_member_rows(Path(path), f"{key}.npy")
        if rows is not None and rows.dtype.kind in "uif" and len(rows.shape) > 1:
            return LazyArray(rows)
    return archive[key]


def mnist1d_cache_file() -> Path:
    """Where the generated MNIST-1D split is kept: named by the package version and its generation settings."""
    import hashlib
    import json
    from importlib.metadata import version

    from mnist1d.data import get_dataset_args

    args = {k: v for k, v in get_dataset_args(as_dict=True).items() if k != "url"}
    key = hashlib.sha256(json.dumps([version("mnist1d"), args], sort_keys=True).encode()).hexdigest()[:12]
    return keras_cache_dir() / f"mnist1d-{key}.npz"


def load_mnist1d(**_):
    """MNIST-1D's standard split (Greydanus & Kobak): 4,000 training and 1,000 test signals of length 40.

    Generated offline by the ``mnist1d`` package (``make_dataset(get_dataset_args())``,
    its fixed seed; never its download path), then kept in the Keras cache
    under a name keyed by the package version and the generation settings,
    so a later run reads the same signals and a changed generator is never
    served stale. The generator seeds NumPy's global random state; it is
    restored afterwards.
    """
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise ImportError("data.source='mnist1d' needs the mnist1d package: pip install mnist1d") from None
    from kerascnn.rundir import atomic_target

    path = mnist1d_cache_file()
    if not path.is_file():
        state = np.random.get_state()
        try:
            d = make_dataset(get_dataset_args())
        finally:
            np.random.set_state(state)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_target(path) as tmp, open(tmp, "wb") as f:
            np.savez(
                f,
                x_train=d["x"].astype("float32"),
                y_train=d["y"].astype("int64"),
                x_test=d["x_test"].astype("float32"),
                y_test=d["y_test"].astype("int64"),
            )
    with np.load(path) as f:
        x, y, x_test, y_test = (f[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    return x, y, x_test, y_test, [str(i) for i in range(10)]


SHAPES3D_CLASSES = ["sphere", "cube", "cylinder"]


def load_shapes3d(count: int = 600, size: int = 16, seed: int = 0, **_):
    """A small generated set of 3D shapes: ``count`` volumes of ``size``³ voxels, one channel, three classes.

    Each volume holds one solid sphere, cube or cylinder (its axis along
    depth, height or width) of random size and position, plus Gaussian
    noise (standard deviation 0.1): a volume task that a 3D CNN learns in
    seconds and that no 2D slice decides alone (a cylinder seen end-on is a
    disc, as a sphere is). Deterministic for a given ``seed``; generated in
    memory, nothing downloaded or cached.
    """
    rng = np.random.default_rng(seed)
    y = np.arange(count) % len(SHAPES3D_CLASSES)
    rng.shuffle(y)
    grid = np.stack(np.meshgrid(*[np.arange(size)] * 3, indexing="ij"), axis=-1).astype("float32")  # (D, H, W, 3)
    x = np.empty((count, size, size, size, 1), dtype="float32")
    for i, label in enumerate(y):
        radius = rng.uniform(0.18, 0.3) * size
        center = rng.uniform(radius, size - 1 - radius, size=3)
        offset = np.abs(grid - center)
        if label == 0:
            solid = np.sqrt((offset**2).sum(-1)) <= radius
        elif label == 1:
            solid = offset.max(-1) <= radius * 0.8
        else:
            axis = rng.integers(3)
            across = np.delete(offset, axis, axis=-1)
            solid = (np.sqrt((across**2).sum(-1)) <= radius * 0.8) & (offset[..., axis] <= radius)
        x[i, ..., 0] = solid + rng.normal(0, 0.1, solid.shape)
    return x, y.astype("int64"), None, None, list(SHAPES3D_CLASSES)


#: Test accuracy published for a built-in source's standard split: the report prints it beside the run's.
PUBLISHED = {
    "mnist1d": {
        "paper": "Greydanus & Kobak, Scaling down deep learning with MNIST-1D, ICML 2024",
        "accuracy": {"logistic regression": 0.32, "MLP": 0.68, "CNN": 0.94, "GRU": 0.91, "human expert": 0.96},
    },
}

SOURCES = {
    "digits": load_digits_source,
    "mnist1d": load_mnist1d,
    "shapes3d": load_shapes3d,
    "mnist": load_keras_source,
    "fashion_mnist": load_keras_source,
    "cifar10": load_keras_source,
    "cifar100": load_keras_source,
    "image_folder": load_image_folder,
    "npz": load_npz,
}

#: What each built-in source holds (``data.layout``); ``npz`` and ``arrays`` say it with ``data.layout``.
SOURCE_LAYOUTS = {
    "digits": "images",
    "mnist": "images",
    "fashion_mnist": "images",
    "cifar10": "images",
    "cifar100": "images",
    "image_folder": "images",
    "mnist1d": "signals",
    "shapes3d": "volumes",
}
