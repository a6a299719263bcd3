"""Rewrite ``kerascnn/architectures/param_counts.json``: each branching model's parameters at its defaults.

A sequential model's count follows from its layer specs; a branching one's
(ResNet, DenseNet, GoogLeNet, MobileNetV2, EfficientNet, U-Net) only from
building it, which takes ~45 s for the registry. ``kerascnn models`` and
``plan_model`` read this file instead; ``tests/architectures/test_registry.py``
checks it against built models. Run after changing a branching builder:

    python tools/param_counts.py
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    import keras

    from kerascnn.architectures import create_model, list_models, plan_model

    counts = {}
    for name in list_models():
        if plan_model(name).specs is None:
            counts[name] = int(create_model(name).count_params())
            keras.backend.clear_session()
            print(f"{name}: {counts[name]:,}")
    path = ROOT / "kerascnn" / "architectures" / "param_counts.json"
    path.write_text(json.dumps(counts, indent=1, sort_keys=True) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
