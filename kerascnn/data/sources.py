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

from kerascnn.validation import invalid

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


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
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


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
        where = (f"{source} is not in the Keras cache: expected {path} (the file or folder "
                 f"keras.datasets.{source}.load_data() leaves there). Copy it there from a machine "
                 "with network access, or use source: npz / image_folder.")
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


def load_image_folder(path=None, image_size=(64, 64), color_mode="rgb", skip_bad_images=False, printer=print, **_):
    """``path/<class name>/<image files>``: one subfolder per class, names sorted.

    An image that cannot be read (empty, truncated, not an image) stops the
    load with its file named; with ``skip_bad_images`` it is left out and the
    count is reported instead.
    """
    import keras

    if path is None:
        raise invalid("data.path", path, "the folder holding one subfolder per class")
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"data.path: no such folder {str(root)!r}")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise ValueError(f"data.path: {str(root)!r} has no class subfolders (expected one folder per class)")
    xs, ys, bad = [], [], []
    for label, name in enumerate(classes):
        files = sorted(f for f in (root / name).iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise ValueError(f"data.path: class folder {str(root / name)!r} holds no images "
                             f"({', '.join(IMAGE_EXTENSIONS)})")
        for file in files:
            try:
                img = keras.utils.load_img(file, color_mode=color_mode, target_size=tuple(image_size))
                xs.append(keras.utils.img_to_array(img, dtype="uint8"))
            except Exception as err:  # PIL raises several types for empty, truncated or foreign files
                if not skip_bad_images:
                    raise ValueError(f"data.path: cannot read the image {str(file)!r} ({type(err).__name__}: "
                                     f"{err}). Remove or replace it, or set data.skip_bad_images: true to "
                                     "leave unreadable images out.") from None
                bad.append(file)
                continue
            ys.append(label)
    if bad:
        printer(f"data.path: left out {len(bad)} unreadable image(s) (data.skip_bad_images), e.g. {str(bad[0])!r}")
    if not xs:
        raise ValueError(f"data.path: none of the images in {str(root)!r} could be read")
    return np.stack(xs), np.asarray(ys, dtype=np.int64), None, None, classes


def load_npz(path=None, x_key="x", y_key="y", **_):
    """An ``.npz`` with ``x``/``y`` (or ``x_train``/``y_train``/``x_test``/``y_test``)."""
    if path is None:
        raise invalid("data.path", path, "the path of an .npz file")
    if not Path(path).is_file():
        raise FileNotFoundError(f"data.path: no such file {str(path)!r}")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as err:  # empty, truncated, not NumPy, pickled
        raise ValueError(f"data.path: cannot read {str(path)!r} as an .npz file ({type(err).__name__}: {err})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"data.path: {str(path)!r} holds a single array (.npy), not an .npz of named arrays "
                         "(np.savez(path, x=images, y=labels))")
    try:
        with archive as f:
            keys = set(f.files)
            if {"x_train", "y_train"} <= keys:
                test = (f["x_test"], f["y_test"]) if {"x_test", "y_test"} <= keys else (None, None)
                x, y = f["x_train"], f["y_train"]
            elif {x_key, y_key} <= keys:
                x, y, test = f[x_key], f[y_key], (None, None)
            else:
                raise KeyError(sorted(keys))
    except KeyError:
        raise ValueError(f"data.path: {path} holds arrays {sorted(keys)}; expected {x_key!r} and "
                         f"{y_key!r} (set data.x_key / data.y_key to use others), or "
                         "x_train/y_train[/x_test/y_test]") from None
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as err:  # a damaged member
        raise ValueError(f"data.path: cannot read {str(path)!r} as an .npz file ({type(err).__name__}: {err})") from None
    return x, y, test[0], test[1], None


SOURCES = {
    "digits": load_digits_source,
    "mnist": load_keras_source,
    "fashion_mnist": load_keras_source,
    "cifar10": load_keras_source,
    "cifar100": load_keras_source,
    "image_folder": load_image_folder,
    "npz": load_npz,
}
