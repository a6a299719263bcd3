"""Data: sources, checks, scaling, stratified splits, augmentation, tf.data.

:func:`load_dataset` is the one entry point: a ``data:`` config section (or
in-memory arrays) in, a checked :class:`Dataset` with train / validation / test
splits out. Everything a search needs to know about its data (input shape,
number of classes) is read from the ``Dataset``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import keras

from kerascnn.config import LAYOUTS, DataSettings
from kerascnn.data.sources import SOURCE_LAYOUTS, SOURCES
from kerascnn.data.streaming import ImageFiles, LazyArray, checked_images, is_lazy, scale
from kerascnn.validation import RANK_NAMES, check_choice, invalid

#: Augmentation knobs, each a Keras preprocessing layer active only in training.
AUGMENTATIONS = ("flip", "rotation", "translation", "zoom", "contrast", "amplitude", "noise")
FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical", "depth", "all")
#: The augmentations each rank has (1 signals, 2 images, 3 volumes) and the flips each allows.
RANK_AUGMENTATIONS = {
    1: ("flip", "translation", "amplitude", "noise"),
    2: AUGMENTATIONS,
    3: ("flip", "translation", "amplitude", "noise"),
}
RANK_FLIPS = {1: ("horizontal", "all"), 2: ("horizontal", "vertical", "horizontal_and_vertical", "all"), 3: FLIP_MODES}


@dataclass
class Dataset:
    """Checked, scaled, split arrays (``channels_last``, labels ``0..K-1``)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list = field(default_factory=list)
    source: str = "arrays"
    #: ``signals``, ``images`` or ``volumes`` (:data:`LAYOUT_RANKS`): what the arrays hold.
    layout: str = "images"

    @property
    def input_shape(self) -> tuple:
        return tuple(self.x_train.shape[1:])

    @property
    def rank(self) -> int:
        """Spatial axes of a sample: 1 (signals), 2 (images) or 3 (volumes)."""
        return LAYOUT_RANKS[self.layout]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def sizes(self) -> dict:
        return {"train": len(self.y_train), "validation": len(self.y_val), "test": len(self.y_test)}


#: What an experiment's arrays hold (``data.layout``) -> the number of spatial axes.
LAYOUT_RANKS = {name: rank for rank, name in RANK_NAMES.items()}
#: The shapes each layout accepts (without and with the channel axis).
LAYOUT_SHAPES = {
    "signals": "(N, L) or (N, L, C)",
    "images": "(N, H, W) or (N, H, W, C)",
    "volumes": "(N, D, H, W) or (N, D, H, W, C)",
}


def resolve_layout(shape: tuple, layout: str = "auto", what: str = "data") -> str:
    """The layout of an array of ``shape`` (samples first): ``layout`` checked, or read off the shape.

    ``auto`` decides only where the shape leaves no doubt: ``(N, L)`` is a
    signal, ``(N, D, H, W, C)`` a volume, ``(N, H, W, C)`` with 1 to 4
    channels an image; of 3-axis arrays, ``(N, L, C)`` with 1 to 4 channels
    is a signal (MNIST-1D's ``(4000, 40, 1)``: an image one pixel wide is
    no image) and a square ``(N, H, H)`` a grayscale image. Anything else
    (``(N, 1000, 12)``: twelve-lead signals or 1000×12 pictures? ``(N, 16,
    16, 16)``: volumes without a channel axis?) asks for ``data.layout``.
    """
    check_choice("data.layout", layout, LAYOUTS)
    ndim = len(shape)
    accepted = "; ".join(f"{k}: {v}" for k, v in LAYOUT_SHAPES.items())
    if layout == "auto":
        guess = {2: "signals", 5: "volumes"}.get(ndim)
        if ndim == 4 and 1 <= shape[-1] <= 4:
            guess = "images"
        if ndim == 3:
            guess = "signals" if 1 <= shape[-1] <= 4 else "images" if shape[1] == shape[2] else None
        if guess is None:
            doubt = {
                3: "grayscale images (N, H, W) or signals (N, L, C)",
                4: "images (N, H, W, C) or volumes without a channel axis (N, D, H, W)",
            }.get(ndim)
            raise ValueError(
                f"{what}: an array of shape {tuple(shape)} "
                + (
                    f"could be {doubt}; set data.layout to images, signals or volumes"
                    if doubt
                    else f"fits no layout ({accepted})"
                )
                + f". Received: shape={tuple(shape)}, data.layout='auto'"
            )
        return guess
    rank = LAYOUT_RANKS[layout]
    if ndim not in (rank + 1, rank + 2):
        raise ValueError(
            f"{what}: data.layout={layout!r} takes arrays of shape {LAYOUT_SHAPES[layout]}; received "
            f"an array of shape {tuple(shape)} (shapes accepted: {accepted})"
        )
    return layout


def check_arrays(x, y, what: str = "data", layout: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Refuse data a CNN cannot train on, with a message saying what is wrong.

    ``layout`` (see :func:`resolve_layout`) says whether ``x`` holds signals,
    images or volumes; a missing channel axis is added. Labels must be
    integers ``0..K-1`` with every class present and at least two classes.
    """
    lazy = is_lazy(x)  # read from disk batch by batch: its values are not scanned here
    x, y = (x if lazy else np.asarray(x)), np.asarray(y)
    layout = resolve_layout(x.shape, layout, what)
    if x.ndim == LAYOUT_RANKS[layout] + 1:
        if lazy:
            raise ValueError(f"{what}: arrays read from disk need a channel axis; received shape {x.shape}")
        x = x[..., None]
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(
            f"{what}: expected one integer label per sample ({len(x)}); received labels of shape {y.shape}"
        )
    if len(x) == 0:
        raise ValueError(f"{what}: no samples")
    if not lazy and (not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating)):
        raise ValueError(f"{what}: values must be real numbers; received dtype {x.dtype}")
    if not lazy and np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        bad = int(np.sum(~np.isfinite(x).reshape(len(x), -1).all(axis=1)))
        raise ValueError(f"{what}: {bad} sample(s) contain NaN or infinite values")
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise ValueError(f"{what}: labels must be integers 0..K-1; received non-integer values")
    elif not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{what}: labels must be integers 0..K-1; received dtype {y.dtype}")
    y = y.astype(np.int64)
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError(f"{what}: at least two classes are needed; received only label(s) {classes.tolist()}")
    if classes[0] != 0 or classes[-1] != len(classes) - 1:
        missing = sorted(set(range(int(classes[-1]) + 1)) - set(classes.tolist()))[:10]
        raise ValueError(
            f"{what}: labels must be 0..K-1 with every class present; received labels "
            f"{classes.tolist()[:20]}" + (f" (missing {missing})" if classes[0] >= 0 and missing else "")
        )
    return x, y


def split(x, y, *, validation_split: float, test_split: float, seed: int, x_test=None, y_test=None):
    """Stratified train / validation / test split (fractions of the whole data).

    With an official test split (``x_test`` given), ``test_split`` is ignored
    and validation is taken from the training data. The split is drawn over
    sample indices, so ``x`` may be a :class:`~kerascnn.data.streaming.LazyArray`
    (nothing is read).
    """
    from sklearn.model_selection import train_test_split

    n = len(y) + (0 if x_test is None else len(y_test))
    index = np.arange(len(y))
    if x_test is None:
        if not 0 < test_split < 1:
            raise invalid("data.test_split", test_split, "a fraction in (0, 1) for a source without a test split")
        index, test_index = train_test_split(index, test_size=test_split, stratify=y, random_state=seed)
        x_test, y_test = x[test_index], y[test_index]
    val_count = int(round(validation_split * n))
    if val_count < len(np.unique(y)):
        raise ValueError(
            f"data.validation_split={validation_split} leaves {val_count} validation samples, "
            f"fewer than the {len(np.unique(y))} classes; use a larger fraction"
        )
    train_index, val_index = train_test_split(index, test_size=val_count, stratify=y[index], random_state=seed)
    return x[train_index], y[train_index], x[val_index], y[val_index], x_test, y_test


def subsample(x, y, count: int, seed: int):
    """A stratified subset of ``count`` samples (for quick runs on big datasets)."""
    if count >= len(y):
        return x, y
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(np.arange(len(y)), train_size=count, stratify=y, random_state=seed)
    return x[keep], y[keep]


def load_dataset(
    data: "DataSettings | dict | None" = None, *, seed: int = 0, arrays=None, split_file=None, printer=print
) -> Dataset:
    """Load, check, scale and split a dataset.

    Args:
        data: the ``data:`` section of an experiment (:class:`kerascnn.config.DataSettings`, or a
            mapping of its keys, checked); ``None`` means the digits defaults.
        seed: makes the splits reproducible.
        arrays: ``(x, y)`` or ``(x, y, x_test, y_test)`` for ``source: arrays``.
        split_file: a split written by :func:`write_split` (a run's ``split.csv``): when it exists, an
            image folder is split as it says (the same files in each part), whatever the seed or
            the files added since.
        printer: where notes go (images decoded into the cache, images left out).

    Raises:
        ValueError / FileNotFoundError: before any training, naming the problem.
    """
    data = DataSettings.of(data)
    source = check_choice("data.source", data.source, tuple(SOURCES) + ("arrays",))
    layout = source_layout(source, data.layout)
    if source == "arrays":
        if arrays is None or len(arrays) not in (2, 4):
            raise invalid("arrays", arrays, "(x, y) or (x, y, x_test, y_test) for source 'arrays'")
        x, y, x_test, y_test = (tuple(arrays) + (None, None))[:4]
        names = None
    else:
        options = {
            k: getattr(data, k)
            for k in ("path", "image_size", "color_mode", "allow_download", "x_key", "y_key", "skip_bad_images")
        }
        x, y, x_test, y_test, names = SOURCES[source](source=source, printer=printer, **options)
    layout = resolve_layout(np.shape(x), layout, f"data ({source})")
    x, y = check_arrays(x, y, f"data ({source})", layout)
    if x_test is not None:
        x_test, y_test = check_arrays(x_test, y_test, f"test data ({source})", layout)
        if x_test.shape[1:] != x.shape[1:]:
            raise ValueError(
                f"data ({source}): test samples have shape {x_test.shape[1:]}, training samples {x.shape[1:]}"
            )
    num_classes = int(max(y.max(), -1 if y_test is None else y_test.max())) + 1
    names = list(names) if names else [str(i) for i in range(num_classes)]
    stored = read_split(split_file, x) if split_file is not None and x_test is None else None
    if stored is not None:  # the run's own split: its files, in its order
        x, y = x[np.concatenate(stored)], y[np.concatenate(stored)]
    elif data.subset:
        x, y = subsample(x, y, int(data.subset), seed)
        if x_test is not None:
            x_test, y_test = subsample(x_test, y_test, max(int(data.subset) // 4, num_classes * 2), seed)
    if is_lazy(x) and isinstance(x.store, ImageFiles):
        from kerascnn.data.sources import keras_cache_dir

        folder = None if not data.cache else keras_cache_dir("kerascnn") if data.cache is True else Path(data.cache)
        x, y = checked_images(x, y, cache=folder, skip_bad=data.skip_bad_images, printer=printer)
        if stored is not None and len(y) != sum(len(part) for part in stored):
            raise ValueError("data.path: a file of this run's stored split no longer reads as an image")
    x, x_test = (_scaled(v, data.scale) for v in (x, x_test))
    if stored is not None:
        bounds = np.cumsum([len(part) for part in stored])
        parts = [(x[a:b], y[a:b]) for a, b in zip((0, *bounds[:2]), bounds)]
        parts = (*parts[0], *parts[1], *parts[2])
    else:
        parts = split(
            x,
            y,
            validation_split=data.validation_split,
            test_split=data.test_split,
            seed=seed,
            x_test=x_test,
            y_test=y_test,
        )
    return Dataset(*parts, class_names=names, source=source, layout=layout)


def _scaled(x, mode):
    """``x`` scaled to float32 now (an array) or as each batch is read (a ``LazyArray``)."""
    if x is None:
        return None
    if is_lazy(x):
        return LazyArray(x.store, x.rows, mode, x.names)
    return scale(x, mode)


#: The columns of a stored split (``split.csv``): a file relative to ``data.path``, and its part.
SPLIT_PARTS = ("train", "validation", "test")


def write_split(path, dataset: Dataset) -> bool:
    """Write which file is in which part (``file,part`` rows) for a dataset read from files; False for arrays."""
    import csv

    from kerascnn.rundir import atomic_target

    parts = (dataset.x_train, dataset.x_val, dataset.x_test)
    if not all(is_lazy(p) and p.paths is not None for p in parts):
        return False
    with atomic_target(Path(path)) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "part"])
        for part, x in zip(SPLIT_PARTS, parts):
            writer.writerows([name, part] for name in x.paths)
    return True


def read_split(path, x) -> list[np.ndarray] | None:
    """The indices into ``x`` of each part a stored split lists; None when there is none or ``x`` has no files.

    Raises:
        ValueError: the split lists a file that is no longer in the folder, or is damaged.
    """
    import csv

    path = Path(path)
    if not path.is_file() or not is_lazy(x) or x.paths is None:
        return None
    where = {name: i for i, name in enumerate(x.paths)}
    parts: dict[str, list[int]] = {part: [] for part in SPLIT_PARTS}
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or rows[0] != ["file", "part"]:
        raise ValueError(f"{str(path)!r} is not a stored split (expected the header file,part)")
    missing = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != 2 or row[1] not in parts:
            raise ValueError(f"{str(path)!r} line {line}: expected file,part with part in {SPLIT_PARTS}; got {row}")
        if row[0] in where:
            parts[row[1]].append(where[row[0]])
        else:
            missing.append(row[0])
    if missing:
        raise ValueError(
            f"data.path: {len(missing)} file(s) of this run's split ({str(path)!r}) are no longer in the "
            f"folder, e.g. {missing[0]!r}; put them back to resume or evaluate this run, or start a new run"
        )
    if any(not parts[p] for p in SPLIT_PARTS):
        raise ValueError(f"{str(path)!r}: every part ({', '.join(SPLIT_PARTS)}) needs at least one file")
    return [np.asarray(parts[p], dtype=np.int64) for p in SPLIT_PARTS]


#: Arrays up to this size are hashed whole; larger ones (and every stream) by :data:`FINGERPRINT_ROWS` rows.
FINGERPRINT_BYTES = 64 * 2**20
FINGERPRINT_ROWS = 256


def fingerprint(dataset: Dataset, folder=None) -> dict:
    """The data's identity, per part: sample count, labels, content; with ``folder``, each file's name and size.

    A resumed run compares it with the one saved when the run was made
    (:func:`kerascnn.rundir.check_data_identity`), so trials trained on other
    data are never ranked together. Cheap on large data: labels are hashed
    whole, samples whole up to :data:`FINGERPRINT_BYTES` and otherwise as
    :data:`FINGERPRINT_ROWS` evenly spaced rows (read, for a stream, as
    training reads them), and a folder's files by name and size (no
    modification times: a copied folder is the same data).
    """
    import hashlib

    def digest(*chunks) -> str:
        h = hashlib.sha256()
        for chunk in chunks:
            h.update(chunk if isinstance(chunk, bytes) else str(chunk).encode())
        return h.hexdigest()[:16]

    out: dict = {"classes": [str(c) for c in dataset.class_names], "input_shape": list(dataset.input_shape)}
    for part, x, y in zip(
        SPLIT_PARTS, (dataset.x_train, dataset.x_val, dataset.x_test), (dataset.y_train, dataset.y_val, dataset.y_test)
    ):
        n = len(y)
        whole = not is_lazy(x) and np.asarray(x).nbytes <= FINGERPRINT_BYTES
        rows = np.arange(n) if whole else np.unique(np.linspace(0, n - 1, min(n, FINGERPRINT_ROWS)).astype(np.int64))
        samples = x.read(rows) if is_lazy(x) else np.asarray(x)[rows]
        record = {
            "samples": int(n),
            "labels": digest(np.ascontiguousarray(y, dtype=np.int64).tobytes()),
            "content": digest(str(samples.dtype), str(samples.shape), np.ascontiguousarray(samples).tobytes()),
        }
        names = getattr(x, "paths", None)
        if names is not None and folder is not None:
            root = Path(folder).expanduser()
            record["files"] = digest(*(f"{name}\0{(root / name).stat().st_size}\n" for name in names))
        out[part] = record
    return out


def source_layout(source: str, layout: str) -> str:
    """``data.layout`` checked against the source: a built-in source knows what it holds."""
    layout = check_choice("data.layout", layout, LAYOUTS)
    known = SOURCE_LAYOUTS.get(source)
    if known is not None and layout not in ("auto", known):
        raise ValueError(
            f"data.layout={layout!r} does not fit data.source={source!r}, which holds {known}; "
            f"leave data.layout at 'auto' or set it to {known!r}"
        )
    return known or layout


def augmentation_layers(augmentation: dict | None, seed: int = 0, rank: int = 2) -> list:
    """Keras layers for the ``data.augmentation`` settings, for data of ``rank`` spatial axes.

    They run inside the model (active only in training), so they work on any
    backend and travel with ``best_model.keras``. Images use Keras' own
    layers; signals and volumes the rank-free ones of
    :mod:`kerascnn.data.augment`. What a rank has no form for (a rotation of
    a signal) is refused, naming the key and what that rank allows.

    - ``translation``: shift by up to this fraction of each spatial axis;
    - ``flip``: ``horizontal`` reverses the last spatial axis (a signal's
      time), ``vertical`` the one before (height), ``depth`` a volume's
      first, ``all`` every axis; each with probability 1/2;
    - ``amplitude``: multiply by a factor in ``[1 - a, 1 + a]``;
    - ``noise``: add Gaussian noise of this standard deviation;
    - ``rotation``, ``zoom``, ``contrast``: images only, as Keras' layers.
    """
    from kerascnn.data import augment

    rank = check_choice("rank", rank, tuple(RANK_AUGMENTATIONS))
    what = RANK_NAMES[rank]
    augmentation = {k: v for k, v in (augmentation or {}).items() if v}
    for key in augmentation:
        if key not in RANK_AUGMENTATIONS[rank]:
            raise ValueError(
                f"Invalid `data.augmentation.{key}`: it has no form for {what}; {what} take "
                f"{', '.join(RANK_AUGMENTATIONS[rank])}. Received: data.augmentation.{key}="
                f"{augmentation[key]!r}"
            )
    if "flip" in augmentation:
        check_choice(f"data.augmentation.flip (for {what})", augmentation["flip"], RANK_FLIPS[rank])
    flip_axes = {
        "horizontal": (rank,),
        "vertical": (rank - 1,),
        "depth": (1,),
        "horizontal_and_vertical": (rank - 1, rank),
        "all": tuple(range(1, rank + 1)),
    }
    if rank == 2:
        makers = {
            "flip": lambda v: keras.layers.RandomFlip("horizontal_and_vertical" if v == "all" else v, seed=seed),
            "rotation": lambda v: keras.layers.RandomRotation(v, fill_mode="constant", seed=seed),
            "translation": lambda v: keras.layers.RandomTranslation(v, v, fill_mode="constant", seed=seed),
            "zoom": lambda v: keras.layers.RandomZoom(v, fill_mode="constant", seed=seed),
            "contrast": lambda v: keras.layers.RandomContrast(v, seed=seed),
        }
    else:
        makers = {
            "flip": lambda v: augment.RandomAxisFlip(flip_axes[v], seed=seed),
            "translation": lambda v: augment.RandomShift(v, seed=seed),
        }
    makers["amplitude"] = lambda v: augment.RandomAmplitude(v, seed=seed)
    makers["noise"] = lambda v: keras.layers.GaussianNoise(v, seed=seed)
    return [makers[k](v) for k, v in augmentation.items()]


def make_pipeline(x, y, batch_size: int, *, shuffle: bool, seed: int = 0, cache: bool = True):
    """Batches for ``fit`` (or, with ``y=None``, for ``predict``): shuffled, batched and prefetched.

    In-memory arrays: a ``tf.data`` pipeline (cached in memory) on TensorFlow,
    else :class:`ArrayBatches`. A :class:`~kerascnn.data.streaming.LazyArray`
    is read batch by batch: image files on TensorFlow by a ``tf.data``
    pipeline that decodes in parallel with TensorFlow's own ops (what
    ``keras.utils.image_dataset_from_directory`` runs), anything else
    (cached images, rows of a large ``.npz``, every store on JAX and PyTorch)
    by :class:`ArrayBatches` with worker threads reading ahead.

    Augmentation is not here: it runs inside the model (:func:`augmentation_layers`),
    so the pipelines only read, shuffle and batch.
    """
    lazy = is_lazy(x)
    if keras.backend.backend() == "tensorflow" and lazy and isinstance(x.store, ImageFiles):
        return _file_pipeline(x, y, batch_size, shuffle=shuffle, seed=seed)
    if keras.backend.backend() != "tensorflow" or lazy:
        from kerascnn.device import batch_multiple, gpu_names

        multiple = batch_multiple() if keras.backend.backend() != "tensorflow" else 1
        return ArrayBatches(
            x,
            y,
            batch_size,
            shuffle=shuffle,
            seed=seed,
            multiple=multiple,
            on_device=not lazy and multiple == 1 and bool(gpu_names()),
        )
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y))
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _file_pipeline(x: LazyArray, y, batch_size: int, *, shuffle: bool, seed: int):
    """Image files as ``tf.data``: the file list shuffled, decoded and resized in parallel, batched, scaled."""
    import tensorflow as tf

    from kerascnn.data.streaming import tf_decoder

    files = x.store
    paths = np.asarray([str(files.root / files.paths[r]) for r in x.rows])
    ds = tf.data.Dataset.from_tensor_slices(paths if y is None else (paths, np.asarray(y)))
    if shuffle:
        ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    divisor = {"auto": 255.0, "none": 1.0}.get(x.scale_mode, x.scale_mode)
    decode = tf_decoder(files.image_size, files.channels, float(divisor))  # scaled as each image is decoded
    ds = ds.map(
        lambda path, *label: (decode(path), *label) if label else decode(path), num_parallel_calls=tf.data.AUTOTUNE
    )
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


class ArrayBatches(keras.utils.PyDataset):
    """Samples as a ``keras.utils.PyDataset``: what the ``tf.data`` pipeline does, on any backend.

    A new permutation of all samples each epoch (``shuffle``), drawn from a
    generator seeded with ``seed``: the same seed gives the same batches, epoch
    after epoch. The last batch is the remainder, as ``tf.data``'s ``batch``.
    ``multiple``: every batch's size is made a multiple of it (the devices of
    Keras' JAX data parallelism cannot split an odd batch), by leaving out at
    most ``multiple - 1`` samples per epoch (different ones each epoch when
    shuffled); without labels (``y=None``, a prediction) the last batch is
    padded with zeros instead, so every sample is predicted. ``on_device``:
    the arrays are copied to the backend's default device once and batches
    are gathered there, so a GPU step does not wait for a host-to-device copy
    (meant for datasets that fit in GPU memory). A
    :class:`~kerascnn.data.streaming.LazyArray` is read a batch at a time by
    :data:`~kerascnn.data.streaming.DECODE_THREADS` worker threads, ahead of
    the training step.
    """

    def __init__(
        self, x, y, batch_size: int, *, shuffle: bool, seed: int = 0, multiple: int = 1, on_device: bool = False
    ):
        from kerascnn.data.streaming import DECODE_THREADS

        lazy = is_lazy(x)
        super().__init__(workers=DECODE_THREADS if lazy else 1, max_queue_size=4 if lazy else 10)
        self.x, self.y = x, (None if y is None else np.asarray(y))
        self.multiple = multiple
        self.batch_size = max(multiple, batch_size - batch_size % multiple)
        self.size = len(x) if y is None else len(x) - len(x) % multiple
        self._labels = self.y
        if on_device:
            self.x = keras.ops.convert_to_tensor(x)
            self._labels = None if y is None else keras.ops.convert_to_tensor(self.y)
        self._rng = np.random.default_rng(seed) if shuffle else None
        self._order = self._draw()

    def _draw(self):
        order = self._rng.permutation(len(self.x)) if self._rng is not None else np.arange(len(self.x))
        return order[: self.size]

    def __len__(self):
        return -(-self.size // self.batch_size)

    def __getitem__(self, index):
        idx = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        sel = idx
        if is_lazy(self.x):
            x = self.x.read(idx)
        elif self._rng is None:  # in order: a slice is a view, no copy
            sel = slice(int(idx[0]), int(idx[-1]) + 1)
            x = self.x[sel]
        elif not isinstance(self.x, np.ndarray):  # on the device: gather there
            device_idx = keras.ops.convert_to_tensor(idx)
            x = keras.ops.take(self.x, device_idx, axis=0)
            if self._labels is None:
                return x
            return x, keras.ops.take(self._labels, device_idx, axis=0)
        else:
            x = self.x[idx]
        if self._labels is None:
            short = -len(idx) % self.multiple
            return np.concatenate([x, np.zeros((short, *x.shape[1:]), x.dtype)]) if short else x
        return x, self._labels[sel]

    def on_epoch_end(self):
        if self._rng is not None:
            self._order = self._draw()
