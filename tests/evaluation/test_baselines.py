"""scikit-learn baselines: every name the experiment allows, scored on the test split."""

import pytest

from kerascnn.config import BASELINES
from kerascnn.data import load_dataset
from kerascnn.evaluation import baselines


def test_every_allowed_baseline_has_a_label_and_scores_the_test_split():
    assert set(baselines.LABELS) == set(baselines.MODELS) == set(BASELINES)
    data = load_dataset({"source": "digits"}, seed=0)
    scores = {name: baselines.score_baseline(name, data, seed=0) for name in BASELINES}
    for name, score in scores.items():
        assert 0.85 < score["accuracy"] <= 1 and 0 < score["f1_macro"] <= 1, name
        assert score["model"].startswith("sklearn."), name
    assert scores["svc"]["accuracy"] == pytest.approx(0.9833, abs=1e-4)  # README's SVC on the default split


def test_a_bad_baseline_name_is_refused_by_the_config():
    from kerascnn.config import ConfigError, resolve

    with pytest.raises(ConfigError, match="search.baselines.*'svc', 'logistic_regression', 'mlp'"):
        resolve({"search": {"baselines": ["svm"]}})
