"""scikit-learn baselines scored beside the search on the same split (``search.baselines``).

Each learns from the flattened train+validation samples (it has no
hyperparameters to select, so it gets every non-test sample, as the final
model does) and is scored on the test split with the kit's metrics. They are
the models a reader compares a CNN with: the SVC on small images, and on
MNIST-1D the logistic regression and MLP of its paper's table. Inputs are
standardised per feature first (fitted on the training samples), which every
one of them needs on data that is not already on a common scale.
"""

from __future__ import annotations

import warnings

import numpy as np

from kerascnn.config import BASELINES
from kerascnn.data.streaming import concat, is_lazy, stratified_sample

#: How each baseline is named in summaries and reports, and the scikit-learn model it is.
LABELS = {"svc": "SVC baseline", "logistic_regression": "logistic regression baseline", "mlp": "MLP baseline"}
MODELS = {
    "svc": "sklearn.svm.SVC()",
    "logistic_regression": "sklearn.linear_model.LogisticRegression(max_iter=1000)",
    "mlp": "sklearn.neural_network.MLPClassifier(hidden_layer_sizes=(100, 100), max_iter=500)",
}
#: Samples read from disk (an image folder): the baselines learn from a stratified sample of this many.
SAMPLE = 2000
assert set(LABELS) == set(MODELS) == set(BASELINES), "every name config.BASELINES allows has a label and a model"


def _estimator(name: str, seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    model = {
        "svc": lambda: SVC(random_state=seed),
        "logistic_regression": lambda: LogisticRegression(max_iter=1000),
        "mlp": lambda: MLPClassifier(hidden_layer_sizes=(100, 100), max_iter=500, random_state=seed),
    }[name]()
    return model if name == "svc" else make_pipeline(StandardScaler(), model)


def score_baseline(name: str, dataset, seed: int = 0) -> dict:
    """Fit baseline ``name`` on ``dataset``'s train+validation samples; its test metrics.

    The SVC keeps the kit's earlier recipe (scikit-learn's defaults on the
    data as loaded) so that runs made before this module compare unchanged.
    Samples read from disk (an image folder) are not all loaded: the
    baseline learns from a stratified sample of :data:`SAMPLE` of them
    (``fit_samples`` in the result, shown in the report) and predicts the
    test split in chunks.
    """
    from sklearn.exceptions import ConvergenceWarning

    from kerascnn.evaluation.metrics import classification_metrics

    flat = lambda x: x.reshape(len(x), -1)  # noqa: E731
    x_fit, y_fit = concat(dataset.x_train, dataset.x_val), np.concatenate([dataset.y_train, dataset.y_val])
    sampled = is_lazy(x_fit) and len(y_fit) > SAMPLE
    x_fit, y_fit = stratified_sample(x_fit, y_fit, SAMPLE if sampled else len(y_fit), seed)
    with warnings.catch_warnings():  # an MLP or a logistic regression stopped at max_iter is still its score
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = _estimator(name, seed).fit(flat(x_fit), y_fit)
    x_test = dataset.x_test
    step = 256 if is_lazy(x_test) else max(1, len(x_test))  # samples on disk: read and predicted in chunks
    y_pred = np.concatenate([clf.predict(flat(np.asarray(x_test[i : i + step]))) for i in range(0, len(x_test), step)])
    metrics = classification_metrics(dataset.y_test, y_pred, dataset.num_classes, per_class=False)
    out = {"model": MODELS[name], "accuracy": metrics["accuracy"], "f1_macro": metrics["f1_macro"]}
    if sampled:
        out["fit_samples"] = int(len(y_fit))
    return out
