"""Pictures of test samples for every rank: what a user of signals, images or volumes wants to see.

- :func:`examples_figure`: the misclassified test samples (or, with none,
  the first ones), each titled with its true and predicted class: signals as
  line plots (one line per channel), images as pictures, volumes as their
  three slices (depth, height, width) through their fullest planes;
- :func:`feature_maps_figure`: the first convolution layer's feature maps on
  one test sample, drawn the same way per rank (signals: the input above a
  heat map of channel against time).

:func:`write_test_figures` saves both as PNGs in the run directory (the
report links them) and as images in TensorBoard under ``tb/test``. Only
matplotlib and ``keras.ops`` are used, so they are the same on every backend.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

#: The figures' files in the run directory.
FIGURES = {"examples": "test_examples.png", "feature_maps": "feature_maps_first_layer.png"}
#: Where TensorBoard gets them (beside the trials' folders).
TB_FOLDER = "test"
_MAX = {1: 12, 2: 16, 3: 6}  # examples per figure: volumes take a row of three slices each


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _slices(volume: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """A ``(D, H, W, C)`` volume's slice across each axis where the first channel holds the most, so an
    object off the centre is cut through rather than missed (the middle slice where the volume is even)."""
    v = volume[..., 0]
    picks = [
        int(np.argmax(v.sum(axis=tuple(a for a in range(3) if a != axis)))) if np.ptp(v) > 0 else v.shape[axis] // 2
        for axis in range(3)
    ]
    d, h, w = picks
    return [(f"depth {d}", v[d]), (f"height {h}", v[:, h]), (f"width {w}", v[:, :, w])]


def _show_image(ax, image: np.ndarray) -> None:
    """An ``(H, W, C)`` sample: RGB as is (rescaled to [0, 1]), otherwise its first channel in gray."""
    if image.shape[-1] == 3:
        lo, hi = float(image.min()), float(image.max())
        ax.imshow((image - lo) / (hi - lo) if hi > lo else np.zeros_like(image))
    else:
        ax.imshow(image[..., 0], cmap="gray")
    ax.set_xticks([])
    ax.set_yticks([])


def pick_examples(y_true: np.ndarray, y_pred: np.ndarray, rank: int) -> tuple[np.ndarray, bool]:
    """Indices of the samples to show: the first misclassified ones, or the first ones if none is."""
    wrong = np.flatnonzero(np.asarray(y_true) != np.asarray(y_pred))
    if len(wrong):
        return wrong[: _MAX[rank]], True
    return np.arange(min(len(y_true), _MAX[rank])), False


def examples_figure(x: np.ndarray, y_true, y_pred, class_names, rank: int, title: str = "Test split"):
    """A figure of the misclassified samples of ``x`` (``(N, *spatial, C)``), titled true / predicted."""
    plt = _pyplot()
    index, wrong = pick_examples(y_true, y_pred, rank)
    name = lambda k: str(class_names[k]) if k < len(class_names) else str(k)  # noqa: E731
    n = max(1, len(index))
    heading = f"{title}: {int(np.sum(np.asarray(y_true) != np.asarray(y_pred)))} misclassified of {len(y_true)}" + (
        "" if wrong else " (none: the first samples are shown)"
    )
    if rank == 3:
        fig, axes = plt.subplots(n, 3, figsize=(6.6, 2.2 * n + 0.5), dpi=100, squeeze=False)
        for row, i in zip(axes, index):
            for ax, (label, plane) in zip(row, _slices(x[i])):
                ax.imshow(plane, cmap="gray")
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(label, fontsize=7)
            row[0].set_ylabel(f"true {name(y_true[i])}\npred {name(y_pred[i])}", fontsize=8)
    else:
        cols = 4 if rank == 2 else 3
        rows = -(-n // cols)
        size = (2.0, 2.0) if rank == 2 else (3.0, 1.9)
        fig, axes = plt.subplots(rows, cols, figsize=(size[0] * cols, size[1] * rows + 0.5), dpi=100, squeeze=False)
        for ax in axes.flat[len(index) :]:
            ax.axis("off")
        for ax, i in zip(axes.flat, index):
            if rank == 1:
                for c in range(x.shape[-1]):
                    ax.plot(x[i][:, c], linewidth=1)
                ax.tick_params(labelsize=6)
            else:
                _show_image(ax, x[i])
            ax.set_title(
                f"true {name(y_true[i])}, pred {name(y_pred[i])}",
                fontsize=8,
                color="firebrick" if y_true[i] != y_pred[i] else "black",
            )
    fig.suptitle(heading, fontsize=9)
    fig.tight_layout()
    return fig


def feature_maps_figure(model, sample: np.ndarray, rank: int, max_maps: int = 16):
    """A figure of the first convolution layer's feature maps on one ``sample`` (``(*spatial, C)``)."""
    from kerascnn.evaluation.visualize import feature_maps

    plt = _pyplot()
    name, fmap = next(iter(feature_maps(model, sample, first_only=True).items()))
    shown = min(max_maps, fmap.shape[-1])
    heading = f"First convolution layer '{name}': {shown} of {fmap.shape[-1]} feature maps on one test sample"
    if rank == 1:
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 4.5), dpi=100, height_ratios=[1, 2])
        for c in range(sample.shape[-1]):
            top.plot(sample[:, c], linewidth=1)
        top.set_title("input", fontsize=8)
        im = bottom.imshow(fmap[:, :shown].T, aspect="auto", cmap="viridis", interpolation="nearest")
        bottom.set(xlabel="position", ylabel="channel")
        fig.colorbar(im, ax=bottom, fraction=0.04)
    else:
        cols = 4
        rows = -(-shown // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(1.8 * cols, 1.8 * rows + 0.5), dpi=100, squeeze=False)
        for ax in axes.flat:
            ax.axis("off")
        for c, ax in enumerate(axes.flat[:shown]):
            plane = fmap[..., c] if rank == 2 else fmap[fmap.shape[0] // 2, ..., c]
            ax.imshow(plane, cmap="viridis", interpolation="nearest")
            ax.set_title(f"channel {c}" + ("" if rank == 2 else " (middle depth)"), fontsize=6)
    fig.suptitle(heading, fontsize=8)
    fig.tight_layout()
    return fig


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    _pyplot().close(fig)
    return buffer.getvalue()


def write_test_figures(
    run_dir: str | Path, model, x_test: np.ndarray, y_test, y_pred, class_names, rank: int, printer=None
) -> list[Path]:
    """Both figures as PNGs in ``run_dir`` and as images in ``run_dir/tb/test``; the paths written.

    The feature maps are left out for a model without a convolution layer
    the probe can reach; ``printer`` (if given) is told why. A figure is
    never worth a run's results.
    """
    from kerascnn import rundir
    from kerascnn.evaluation.tensorboard import png_pb, write_summaries

    run_dir = Path(run_dir)
    pngs = {"examples": _png(examples_figure(x_test, np.asarray(y_test), np.asarray(y_pred), class_names, rank))}
    index, _ = pick_examples(y_test, y_pred, rank)
    try:
        pngs["feature_maps"] = _png(feature_maps_figure(model, x_test[index[0]], rank))
    except ValueError as err:  # no convolution layer the probe reaches (a custom model): the examples still help
        if printer is not None:
            printer(f"note: no first-layer feature maps in the report: {str(err).splitlines()[0][:200]}")
    paths = []
    for key, png in pngs.items():
        path = run_dir / FIGURES[key]
        with rundir.atomic_target(path) as tmp:
            Path(tmp).write_bytes(png)
        paths.append(path)
    write_summaries(run_dir / "tb" / TB_FOLDER, [png_pb(key, png) for key, png in pngs.items()])
    return paths
