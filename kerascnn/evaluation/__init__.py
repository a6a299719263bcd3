"""Measurement: scikit-learn metrics, the Keras callback that logs them, run summaries."""

from kerascnn.evaluation.metrics import METRIC_NAMES, SklearnMetrics, classification_metrics, objective_names

__all__ = ["METRIC_NAMES", "SklearnMetrics", "classification_metrics", "objective_names"]
