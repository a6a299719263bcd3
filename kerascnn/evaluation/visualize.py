"""Pictures of what a CNN computes: feature maps, first-layer filters, classic kernels.

The tools in ``tools/`` are thin command lines over these functions.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

import keras


def conv_layers(model, rank: int | None = 2) -> list:
    """The convolution layers of ``model`` (looking inside nested models), in order.

    ``rank``: only those of that rank (1, 2, 3: Conv1D/2D/3D and their
    variants); ``None``: every one.
    """
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found += conv_layers(layer, rank)
        elif _is_conv(layer, rank):
            found.append(layer)
    return found


def _inner_model(model, rank: int | None = 2):
    """The model whose own layers hold the conv layers: the architecture inside an augmentation wrapper, or
    inside the first member of an averaged model (seed-averaged refits, ensembles), however deep."""

    def holder(m):
        if any(not isinstance(layer, keras.Model) and _is_conv(layer, rank) for layer in m.layers):
            return m
        return next(
            (
                found
                for layer in m.layers
                if isinstance(layer, keras.Model)
                for found in [holder(layer)]
                if found is not None
            ),
            None,
        )

    return holder(model) or model


def _is_conv(layer, rank: int | None) -> bool:
    """Whether ``layer`` is a convolution (of ``rank``, unless ``None``)."""
    size = getattr(layer, "kernel_size", None)
    return isinstance(size, tuple) and (rank is None or len(size) == rank)


def feature_maps(model, image: np.ndarray, first_only: bool = False) -> dict[str, np.ndarray]:
    """Each conv layer's output ``(*spatial, C)`` for one input ``(*spatial, C_in)`` (a signal, image or volume).

    ``first_only``: just the first conv layer's.
    """
    rank = image.ndim - 1
    inner = _inner_model(model, rank)
    layers = conv_layers(inner, rank)
    if not layers:
        raise ValueError(f"Model {model.name!r} has no {rank}D convolution layer to visualise")
    layers = layers[:1] if first_only else layers
    probe = keras.Model(inner.inputs[0], [layer.output for layer in layers])
    outputs = probe(image[None].astype("float32"), training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return {layer.name: keras.ops.convert_to_numpy(out)[0] for layer, out in zip(layers, outputs)}


def tile_grid(tiles: np.ndarray, pad: int = 1) -> np.ndarray:
    """``(N, H, W)`` tiles, each scaled to [0, 1], in a near-square grid (2D array)."""
    n, h, w = tiles.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.ones((rows * (h + pad) + pad, cols * (w + pad) + pad), dtype="float32")
    for i, tile in enumerate(tiles):
        lo, hi = float(tile.min()), float(tile.max())
        tile = (tile - lo) / (hi - lo) if hi > lo else np.zeros_like(tile)
        r, c = divmod(i, cols)
        grid[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = tile
    return grid


def grid_shape(n: int) -> tuple[int, int]:
    """(rows, cols) of the grid :func:`tile_grid` makes for ``n`` tiles."""
    cols = math.ceil(math.sqrt(n))
    return math.ceil(n / cols), cols


def first_layer_filters(model) -> np.ndarray:
    """The first conv layer's filters as ``(filters, kh, kw)`` tiles (averaged over input channels)."""
    layers = conv_layers(_inner_model(model))
    if not layers:
        raise ValueError(f"Model {model.name!r} has no 2D convolution layer")
    kernel = np.asarray(layers[0].get_weights()[0])  # (kh, kw, in, out) or depthwise (kh, kw, in, mult)
    return np.moveaxis(kernel.mean(axis=2), -1, 0)


def save_grid(grid: np.ndarray, path: str | Path, title: str, scale: int = 8) -> Path:
    """Save a grid as a PNG, each pixel ``scale`` pixels wide, with a title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h, w = grid.shape
    fig = plt.figure(figsize=(max(2.5, w * scale / 100), max(2.5, h * scale / 100) + 0.4), dpi=100)
    ax = fig.add_axes([0, 0, 1, 1 - 0.4 / (max(2.5, h * scale / 100) + 0.4)])
    ax.imshow(grid, cmap="viridis", interpolation="nearest")
    ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def visualize_model(model, image: np.ndarray, out_dir: str | Path, tb_dir: str | Path | None = None) -> list[Path]:
    """PNG grids of every conv layer's feature maps and of the first layer's filters.

    With ``tb_dir``, the same grids go to TensorBoard as images (any backend).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    grids = {}
    for name, fmap in feature_maps(model, image).items():
        grids[f"feature_maps_{name}"] = (tile_grid(np.moveaxis(fmap, -1, 0)), f"{name}: {fmap.shape[-1]} feature maps")
    filters = first_layer_filters(model)
    grids["filters_first_layer"] = (tile_grid(filters), f"first-layer filters ({len(filters)})")
    paths = [save_grid(grid, out_dir / f"{key}.png", title) for key, (grid, title) in grids.items()]
    if tb_dir is not None:
        from kerascnn.evaluation.tensorboard import array_png, png_pb, write_summaries

        write_summaries(tb_dir, [png_pb(key, array_png(grid)) for key, (grid, _) in grids.items()])
    return paths


def load_image(path: str | Path, input_shape: tuple) -> np.ndarray:
    """An image file resized to a model's ``(H, W, C)`` input, scaled to [0, 1]."""
    color = "grayscale" if input_shape[-1] == 1 else "rgb"
    img = keras.utils.load_img(path, color_mode=color, target_size=tuple(input_shape[:2]))
    return keras.utils.img_to_array(img) / 255.0


def sample_photo(index: int = 0, gray: bool = True) -> np.ndarray:
    """One of scikit-learn's two bundled photographs (china, flower), in [0, 1]."""
    from sklearn.datasets import load_sample_images

    photo = load_sample_images().images[index].astype("float32") / 255.0
    return photo.mean(axis=-1, keepdims=True) if gray else photo


def apply_classic_kernels(image: np.ndarray, names=None) -> dict[str, np.ndarray]:
    """Each classic kernel applied to a grayscale ``(H, W, 1)`` image with a kit conv block."""
    from kerascnn.layers import CLASSIC_KERNELS, conv_block

    names = list(names or CLASSIC_KERNELS)
    inputs = keras.Input(image.shape)
    outputs = [
        conv_block(
            inputs, 1, 3, padding="same", activation="linear", use_bias=False, kernel_initializer=name, name=name
        )
        for name in names
    ]
    result = keras.Model(inputs, outputs)(image[None].astype("float32"))
    return {name: keras.ops.convert_to_numpy(out)[0, :, :, 0] for name, out in zip(names, result)}


def classic_kernels_figure(
    path: str | Path, image: np.ndarray | None = None, names=("laplacian", "gaussian", "sobel_x", "sobel_y", "box")
) -> Path:
    """The notes' kernels on a real photograph, as one figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kerascnn.layers import classic_kernel

    image = sample_photo() if image is None else image
    results = apply_classic_kernels(image, names)
    fig, axes = plt.subplots(
        2, len(names) + 1, figsize=(3 * (len(names) + 1), 6), dpi=100, gridspec_kw={"height_ratios": [4, 1.4]}
    )
    axes[0, 0].imshow(image[..., 0], cmap="gray")
    axes[0, 0].set_title("input")
    axes[1, 0].axis("off")
    for i, name in enumerate(names, start=1):
        out = results[name]
        edge = name not in ("gaussian", "box")
        axes[0, i].imshow(np.abs(out) if edge else out, cmap="gray")
        axes[0, i].set_title(name)
        axes[1, i].imshow(classic_kernel(name), cmap="coolwarm")
        for (r, c), v in np.ndenumerate(classic_kernel(name)):
            axes[1, i].text(c, r, f"{v:.2g}", ha="center", va="center", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
