"""Conv arithmetic table: each layer's output shape, parameters and receptive field.

    python tools/conv_arith.py --model vgg16 [--input-shape 64,64,3] [--num-classes 10]
    python tools/conv_arith.py --layers stack.yaml --input-shape 8,8,1

A layers file is a YAML list of conv_block arguments, e.g.
``[{filters: 16, kernel_size: 5, padding: valid, pool: max}, {filters: 32, kernel_size: 3}]``.
If the stack does not fit the input, the first layer whose feature map collapses is named.
"""

from __future__ import annotations

import argparse
import sys


def _shape(text):
    return tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", help="a registry model name (see kerascnn models)")
    what.add_argument("--layers", help="a YAML file: a list of conv_block argument dicts")
    parser.add_argument("--input-shape", type=_shape, help="e.g. 32,32,3 (default: the model's reference input)")
    parser.add_argument("--num-classes", type=int)
    args = parser.parse_args(argv)

    from kerascnn import geometry

    if args.model:
        from kerascnn.architectures import model_info, plan_model

        shape = args.input_shape or model_info(args.model).default_input_shape
        kwargs = {"input_shape": shape, **({"num_classes": args.num_classes} if args.num_classes else {})}
        try:
            plan = plan_model(args.model, **kwargs)
        except ValueError as err:
            print(f"{args.model} does not fit {shape}: {err}")
            return 1
        if plan.specs is None:
            print(f"{args.model} is not described as a layer stack; build it and use model.summary().")
            return 1
        specs = plan.specs
    else:
        import yaml

        from kerascnn.layers import conv_block_specs

        if not args.input_shape:
            parser.error("--layers needs --input-shape")
        shape = args.input_shape
        with open(args.layers) as f:
            layers = yaml.safe_load(f) or []
        specs = []
        for i, layer in enumerate(layers, start=1):
            specs += conv_block_specs(**{"name": f"block{i}", **layer}, rank=len(shape) - 1)
    report = geometry.check_fits(shape, specs)
    print(geometry.format_table(report.table))
    total = geometry.total_params(report.table)
    if report.ok:
        print(f"\n{len(report.table)} layers, {total:,} parameters; input {'×'.join(map(str, shape))} fits.")
        return 0
    print(f"\nDoes not fit: {report.reason}")
    print(f"Smallest input that fits: {geometry.min_input_size(specs, shape[-1], len(shape) - 1)}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
