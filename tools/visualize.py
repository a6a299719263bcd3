"""Feature maps and first-layer filters of a saved model, as PNG grids and TensorBoard images.

python tools/visualize.py MODEL.keras --image photo.png [--out viz/] [--tb runs/x/tb/visualize]
python tools/visualize.py MODEL.keras --digit 0           # a scikit-learn digit (8×8 models)
python tools/visualize.py --kernels [--out viz/]           # the notes' classic kernels on a photograph
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="a .keras model file")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--image", help="an image file, resized to the model's input")
    source.add_argument("--digit", type=int, help="index of a scikit-learn digit (8×8 grayscale models)")
    parser.add_argument("--kernels", action="store_true", help="draw the classic kernels applied to a photograph")
    parser.add_argument("--out", default="viz", help="output folder (default viz/)")
    parser.add_argument("--tb", help="also write the grids as TensorBoard images into this log folder")
    args = parser.parse_args(argv)

    import keras

    import kerascnn  # noqa: F401  (registers the kit's layers for loading)
    from kerascnn.evaluation import visualize

    os.makedirs(args.out, exist_ok=True)
    if args.kernels:
        print(visualize.classic_kernels_figure(os.path.join(args.out, "classic_kernels.png")))
        if not args.model:
            return 0
    if not args.model:
        parser.error("give a MODEL.keras file, or --kernels")
    model = keras.saving.load_model(args.model, compile=False)
    shape = tuple(model.input_shape[1:])
    if args.image:
        image = visualize.load_image(args.image, shape)
    elif args.digit is not None:
        from sklearn.datasets import load_digits

        image = load_digits().images[args.digit].astype("float32")[..., None] / 16.0
        if image.shape != shape:
            parser.error(f"--digit gives 8×8×1 images; the model expects {shape}")
    else:
        parser.error("give --image PATH or --digit N")
    for path in visualize.visualize_model(model, image, args.out, tb_dir=args.tb):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
