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

#: How each baseline is named in summaries and reports, and the scikit-learn model it is.
LABELS = {"svc": "SVC baseline", "logistic_regression": "logistic regression baseline", "mlp": "MLP baseline"}
MODELS = {
    "svc": "sklearn.svm.SVC()",
    "logistic_regression": "sklearn.linear_model.LogisticRegression(max_iter=1000)",
    "mlp": "sklearn.neural_network.MLPClassifier(hidden_layer_sizes=(100, 100), max_iter=500)",
}
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
    """
    from sklearn.exceptions import ConvergenceWarning

    from kerascnn.evaluation.metrics import classification_metrics

    flat = lambda x: x.reshape(len(x), -1)  # noqa: E731
    x_fit = np.concatenate([flat(dataset.x_train), flat(dataset.x_val)])
    y_fit = np.concatenate([dataset.y_train, dataset.y_val])
    with warnings.catch_warnings():  # an MLP or a logistic regression stopped at max_iter is still its score
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = _estimator(name, seed).fit(x_fit, y_fit)
    metrics = classification_metrics(
        dataset.y_test, clf.predict(flat(dataset.x_test)), dataset.num_classes, per_class=False
    )
    return {"model": MODELS[name], "accuracy": metrics["accuracy"], "f1_macro": metrics["f1_macro"]}
