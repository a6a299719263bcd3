"""``kerascnn evaluate``: the kit's metrics for any saved model on a dataset's test split."""

from __future__ import annotations

from pathlib import Path


def evaluate_model(model_path: str | Path, data: str = "digits", seed: int | None = None, split_file=None) -> dict:
    """Load ``model_path`` and score it on the test split of ``data``.

    Args:
        model_path: a ``.keras`` file (custom kit layers load after ``import kerascnn``).
        data: a data source name (``digits``, ``mnist``...) or the path of an
            experiment YAML, whose ``data`` section and ``seed`` are used, so the
            test split is the one that experiment held out.
        seed: overrides the split seed.
        split_file: a run's stored split (``split.csv``, :func:`kerascnn.data.write_split`): an image
            folder is split as that run split it (``kerascnn evaluate`` finds the run's own).

    Returns:
        ``{"metrics": {...}, "report": str, "y_true": ..., "y_pred": ..., "dataset": Dataset}``.
    """
    from sklearn.metrics import classification_report

    import kerascnn  # noqa: F401  (registers the kit's serializable objects)
    from kerascnn import config as config_module
    from kerascnn.data import load_dataset
    from kerascnn.evaluation.metrics import classification_metrics, predict_labels
    from kerascnn.saving import check_model_file, load_model

    check_model_file(model_path)  # before the data are read: a damaged or hostile file is named first
    if str(data).endswith((".yaml", ".yml")):
        cfg = config_module.load(data)
        data_section, split_seed = cfg.data, cfg.seed
    else:
        data_section, split_seed = {"source": data}, 0
    dataset = load_dataset(data_section, seed=split_seed if seed is None else seed, split_file=split_file)
    model = load_model(model_path)
    expected = tuple(model.input_shape[1:])
    if expected != dataset.input_shape:
        raise ValueError(f"The model expects inputs of shape {expected}, but {data} gives {dataset.input_shape}")
    y_pred = predict_labels(model, dataset.x_test)
    labels = list(range(dataset.num_classes))
    return {
        "metrics": classification_metrics(dataset.y_test, y_pred, dataset.num_classes),
        "report": classification_report(
            dataset.y_test,
            y_pred,
            labels=labels,
            target_names=[str(c) for c in dataset.class_names],
            zero_division=0,
            digits=4,
        ),
        "y_true": dataset.y_test,
        "y_pred": y_pred,
        "dataset": dataset,
    }


def format_evaluation(result: dict) -> str:
    m = result["metrics"]
    lines = [f"test samples: {len(result['y_true'])}"]
    lines += [
        f"{name:<20} {m[name]:.4f}"
        for name in (
            "accuracy",
            "precision_macro",
            "recall_macro",
            "f1_macro",
            "precision_weighted",
            "recall_weighted",
            "f1_weighted",
        )
    ]
    return "\n".join(lines) + "\n\n" + result["report"]
