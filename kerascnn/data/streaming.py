"""Data larger than memory: a file list (or rows of an array file) read batch by batch.

A :class:`LazyArray` stands where a NumPy array of samples would: it has a
``shape``, a length, and indexing with a slice or an index array gives
another ``LazyArray`` (a subset, nothing read). Only :meth:`LazyArray.read`
(or ``np.asarray``) decodes, and only the rows asked for; values come out
scaled to float32 per batch, exactly as :func:`scale` would scale the whole
array. Behind it is a *store*:

- :class:`ImageFiles`: image files, decoded and resized on demand (Pillow,
  in threads; on TensorFlow the input pipeline decodes with TensorFlow's
  own ops, as ``keras.utils.image_dataset_from_directory`` does);
- :class:`RowFile`: the rows of an ``.npy`` array on disk (a decoded-image
  cache, or an uncompressed member of a large ``.npz``), read with
  ``os.pread``, so what is read is not kept resident as a memory map's
  pages would be.

:func:`cached_images` decodes an image folder once into a ``RowFile`` keyed
by what produced it (the files' names, sizes and modification times, the
image size, the colour mode and the decoder), so later trials and later
runs read rows instead of decoding, and a changed folder is never served a
stale cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: File suffixes read as images (Pillow and TensorFlow's decoders both read these).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
#: Threads that decode images (Pillow releases the GIL while decoding).
DECODE_THREADS = max(1, min(8, os.cpu_count() or 1))
#: Bumped when decoding changes, so older caches are not served.
CACHE_FORMAT = 1


def scale(x: np.ndarray, mode="auto") -> np.ndarray:
    """To float32: ``auto`` maps uint8 to [0, 1] and leaves floats alone; a number divides."""
    if mode == "none":
        return x.astype("float32")
    if mode == "auto":
        return (x.astype("float32") / 255.0) if x.dtype == np.uint8 else x.astype("float32")
    return x.astype("float32") / float(mode)


# ----- stores -----
@dataclass(frozen=True)
class ImageFiles:
    """Image files under ``root`` (``paths`` relative to it), decoded to ``image_size`` with ``channels``."""

    root: Path
    paths: tuple
    image_size: tuple
    channels: int

    @property
    def sample_shape(self) -> tuple:
        return (*self.image_size, self.channels)

    dtype = np.dtype("uint8")

    def __len__(self) -> int:
        return len(self.paths)

    def file(self, row: int) -> Path:
        return self.root / self.paths[row]

    def read(self, rows) -> np.ndarray:
        """Decode ``rows`` (uint8, ``(n, H, W, C)``), in threads when there are several."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), *self.sample_shape), np.uint8)
        if len(rows) < 4:
            for i, row in enumerate(rows):
                out[i] = self._decode(int(row))
            return out
        with ThreadPoolExecutor(min(DECODE_THREADS, len(rows))) as pool:
            for i, image in enumerate(pool.map(self._decode, rows.tolist())):
                out[i] = image
        return out

    def _decode(self, row: int) -> np.ndarray:
        file = self.file(row)
        try:
            return decode_image(file, self.image_size, self.channels)
        except Exception as err:  # Pillow raises several types for truncated, changed or vanished files
            raise ValueError(
                f"data.path: cannot decode the image {str(file)!r} ({type(err).__name__}: {err}); it may have "
                "been truncated or changed since the folder was listed. Remove or replace it."
            ) from None


@dataclass(frozen=True)
class RowFile:
    """The rows of a C-ordered array stored at ``offset`` in ``path`` (an ``.npy`` file or a stored ``.npz`` member).

    Rows are read with ``os.pread``, consecutive rows in one call, so only the
    batch asked for is in memory.
    """

    path: Path
    offset: int
    shape: tuple
    dtype: np.dtype

    @property
    def sample_shape(self) -> tuple:
        return tuple(self.shape[1:])

    def __len__(self) -> int:
        return int(self.shape[0])

    @property
    def row_bytes(self) -> int:
        return int(np.prod(self.sample_shape, dtype=np.int64)) * self.dtype.itemsize

    def read(self, rows) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), *self.sample_shape), self.dtype)
        if not len(rows):
            return out
        order = np.argsort(rows, kind="stable")
        ranked = rows[order]
        breaks = np.flatnonzero(np.diff(ranked) != 1) + 1  # runs of consecutive rows: one read each
        flat = out.reshape(len(rows), -1).view(np.uint8)
        size = self.row_bytes
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for run in np.split(np.arange(len(ranked)), breaks):
                first, count = int(ranked[run[0]]), len(run)
                data = os.pread(fd, size * count, self.offset + first * size)
                if len(data) != size * count:
                    raise ValueError(f"{str(self.path)!r} is shorter than its header says (truncated or changed)")
                flat[order[run]] = np.frombuffer(data, np.uint8).reshape(count, size)
        finally:
            os.close(fd)
        return out


def npy_rows(path: Path, offset: int = 0) -> RowFile:
    """The :class:`RowFile` of an ``.npy`` array starting at ``offset`` of ``path`` (C order, plain dtype)."""
    with open(path, "rb") as f:
        f.seek(offset)
        major, _ = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
        start = f.tell()
    if fortran or dtype.hasobject:
        raise ValueError(f"{str(path)!r}: an array in Fortran order or of Python objects cannot be read by rows")
    return RowFile(Path(path), start, tuple(shape), dtype)


def stored_member_rows(path: Path, member: str) -> RowFile | None:
    """The rows of ``member`` (``x.npy``) of an ``.npz`` when it is stored uncompressed (``np.savez``); else None."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    if info.compress_type != zipfile.ZIP_STORED:
        return None
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
    name_len, extra_len = int.from_bytes(local[26:28], "little"), int.from_bytes(local[28:30], "little")
    return npy_rows(Path(path), info.header_offset + 30 + name_len + extra_len)


# ----- the array that reads on demand -----
class LazyArray:
    """Rows of a store, scaled to float32 when read; indexing makes a subset, :meth:`read` reads.

    ``x[i]`` (an integer) reads one sample; ``x[idx]`` (a slice, a list or an
    index array) and :func:`concat` of subsets of one store give another
    ``LazyArray`` without reading. ``np.asarray(x)`` reads everything: use
    it only on what fits in memory.
    """

    def __init__(self, store, rows=None, scale_mode="auto", names=None):
        self.store = store
        self.rows = np.arange(len(store), dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        self.scale_mode = scale_mode
        #: Each store row's file name (relative to the data folder), when the samples are files.
        self.names = names if names is not None else getattr(store, "paths", None)

    dtype = np.dtype("float32")

    @property
    def shape(self) -> tuple:
        return (len(self.rows), *self.store.sample_shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self.read([key])[0]
        return LazyArray(self.store, self.rows[key], self.scale_mode, self.names)

    def read(self, index=None) -> np.ndarray:
        """The samples at ``index`` (all when None), decoded and scaled: float32, in that order."""
        rows = self.rows if index is None else self.rows[np.asarray(index, dtype=np.int64)]
        return scale(self.store.read(rows), self.scale_mode)

    def __array__(self, dtype=None, copy=None):
        x = self.read()
        return x if dtype is None else x.astype(dtype)

    @property
    def paths(self) -> list[str] | None:
        """The files of the samples (relative to the folder), for an image-file store."""
        return None if self.names is None else [self.names[r] for r in self.rows]

    def __repr__(self) -> str:
        return f"LazyArray(shape={self.shape}, store={type(self.store).__name__})"


def is_lazy(x) -> bool:
    return isinstance(x, LazyArray)


def concat(a, b):
    """``a`` then ``b``: ``np.concatenate`` for arrays; a subset of the store for two ``LazyArray`` of one store."""
    if is_lazy(a) or is_lazy(b):
        if not (is_lazy(a) and is_lazy(b) and a.store is b.store and a.scale_mode == b.scale_mode):
            raise TypeError("only subsets of one stored dataset can be joined without reading them")
        return LazyArray(a.store, np.concatenate([a.rows, b.rows]), a.scale_mode, a.names)
    return np.concatenate([a, b])


def stratified_sample(x, y, count: int, seed: int):
    """``(x, y)`` of at most ``count`` samples, stratified; a ``LazyArray`` sample is read into memory."""
    y = np.asarray(y)
    if count < len(y):
        from sklearn.model_selection import train_test_split

        classes = len(np.unique(y))
        keep, _ = train_test_split(np.arange(len(y)), train_size=max(count, classes), stratify=y, random_state=seed)
        x, y = x[np.sort(keep)], y[np.sort(keep)]
    return (x.read() if is_lazy(x) else x), y


# ----- decoding -----
def decode_image(file: Path, image_size: tuple, channels: int) -> np.ndarray:
    """One image file as uint8 ``(H, W, channels)``: Pillow, any mode (palette, RGBA, 16-bit, grayscale).

    A JPEG larger than the target is decoded at a reduced scale first
    (``Image.draft``: the DCT does part of the downsizing); the resize is
    bilinear. 16-bit images keep their top 8 bits, as TensorFlow's decoder
    does; the alpha channel is dropped.
    """
    from PIL import Image

    height, width = image_size
    with Image.open(file) as image:
        image.draft("RGB" if channels == 3 else "L", (width, height))
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            image = Image.fromarray((np.asarray(image, dtype=np.uint32) >> 8).clip(0, 255).astype(np.uint8))
        image = image.convert("RGB" if channels == 3 else "L")
        if image.size != (width, height):
            image = image.resize((width, height), Image.BILINEAR)
        array = np.asarray(image, dtype=np.uint8)
    return array.reshape(height, width, channels)


def tf_decoder(image_size: tuple, channels: int, divisor: float = 1.0):
    """TensorFlow ops decoding a file path to float32 ``(H, W, C)`` divided by ``divisor``: what
    ``image_dataset_from_directory`` runs (the same decode and bilinear resize), then the scaling."""
    import tensorflow as tf

    def decode(path):
        image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
        image = tf.image.resize(image, image_size, method="bilinear")
        image.set_shape((*image_size, channels))
        return image if divisor == 1.0 else image / divisor

    return decode


def check_image_file(file: Path) -> None:
    """Raise if ``file`` does not open as an image (its header is read, not its pixels)."""
    from PIL import Image

    with Image.open(file) as image:
        image.size  # noqa: B018  (the header is parsed on open; touching size keeps linters quiet)


def unreadable(files: ImageFiles) -> list[int]:
    """The rows of ``files`` whose header does not read as an image (empty, foreign, a broken link)."""
    bad = []
    for row in range(len(files)):
        try:
            check_image_file(files.file(row))
        except Exception:  # Pillow raises several types for empty, truncated or foreign files
            bad.append(row)
    return bad


def checked_images(x: LazyArray, y: np.ndarray, *, cache: Path | None, skip_bad: bool, printer=print):
    """Image files ``x`` (labels ``y``) ready to read: checked, and decoded into the cache folder ``cache``.

    ``cache``: the cache's folder, or None (decode every epoch). A cache of
    exactly these files, made before, is used without opening a file.
    Otherwise every file's header is read first: one that is not an image
    stops the load with its name, or with ``skip_bad`` is left out (the count
    said). Returns ``(x, y)``.
    """
    files = ImageFiles(x.store.root, tuple(x.paths), x.store.image_size, x.store.channels)
    folder = None if cache is None else Path(cache).expanduser()
    if folder is not None:
        hit = cached_images(files, folder, printer=printer, build=False)
        if hit is not None:
            return LazyArray(hit, names=files.paths, scale_mode=x.scale_mode), y
    bad = unreadable(files)
    if bad and not skip_bad:
        file = files.file(bad[0])
        try:
            check_image_file(file)
        except Exception as err:
            reason = f"{type(err).__name__}: {err}"
        raise ValueError(
            f"data.path: cannot read the image {str(file)!r} ({reason}). Remove or replace it, or set "
            "data.skip_bad_images: true to leave unreadable images out."
        ) from None
    if bad:
        example = str(files.file(bad[0]))
        printer(f"data.path: left out {len(bad)} unreadable image(s) (data.skip_bad_images), e.g. {example!r}")
        keep = np.setdiff1d(np.arange(len(files)), bad)
        if not len(keep):
            raise ValueError(f"data.path: none of the images in {str(files.root)!r} could be read")
        files = ImageFiles(files.root, tuple(files.paths[i] for i in keep), files.image_size, files.channels)
        y = y[keep]
    if folder is None:
        return LazyArray(files, scale_mode=x.scale_mode), y
    return LazyArray(cached_images(files, folder, printer=printer), names=files.paths, scale_mode=x.scale_mode), y


# ----- the on-disk cache -----
def cache_key(files: ImageFiles, decoder: str) -> str:
    """What produced a decoded folder: format, decoder, size, channels, and each file's name, size and mtime."""
    stats = []
    for name in files.paths:
        st = os.stat(files.root / name)
        stats.append((name, st.st_size, st.st_mtime_ns))
    text = json.dumps([CACHE_FORMAT, decoder, list(files.image_size), files.channels, stats])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def cached_images(files: ImageFiles, folder: Path, *, decoder: str = "pillow", printer=print, build=True):
    """``files`` decoded once into ``folder/images-<key>.npy``; an existing, whole cache of that key is reused.

    With ``build=False``, only an existing whole cache is returned (else None).

    The key (:func:`cache_key`) changes with any file, the image size, the
    colour mode or the decoder, so a cache is never served for other data.
    The file is written in batches to a temporary name and renamed when
    complete: an interrupted build leaves no cache behind.
    """
    from kerascnn.rundir import atomic_target

    folder = Path(folder)
    try:
        path = folder / f"images-{cache_key(files, decoder)}.npy"
    except OSError:  # a file vanished or is a broken link: no cache can be of these files
        if not build:
            return None
        raise
    shape = (len(files), *files.sample_shape)
    if path.is_file():
        try:
            rows = npy_rows(path)
            whole = path.stat().st_size == rows.offset + rows.row_bytes * len(rows)
            if rows.shape == shape and rows.dtype == np.uint8 and whole:
                return rows
        except (OSError, ValueError):
            pass
        if not build:
            return None
        printer(f"data.cache: {str(path)!r} is damaged or incomplete; decoding again")
    if not build:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    printer(f"data.cache: decoding {len(files)} images once into {str(path)!r}")
    with atomic_target(path) as tmp, open(tmp, "wb") as f:
        np.lib.format.write_array_header_2_0(f, {"descr": "|u1", "fortran_order": False, "shape": shape})
        for batch in decoded_batches(files):
            f.write(np.ascontiguousarray(batch).tobytes())
    return npy_rows(path)


def decoded_batches(files: ImageFiles, batch: int = 256):
    """Every image of ``files`` in order, decoded (Pillow, in threads) in batches of ``batch`` (uint8)."""
    for start in range(0, len(files), batch):
        yield files.read(np.arange(start, min(start + batch, len(files))))
