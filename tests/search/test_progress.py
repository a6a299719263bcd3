"""Progress inside a fit: a plain line every interval off a terminal, a live line on one, none with --quiet."""

import copy
import io

import numpy as np
import pytest

import keras

from kerascnn import config
from kerascnn.search import progress, run_search
from kerascnn.search.progress import FitProgress


def _fit(callback, epochs=2, samples=12, batch_size=4):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.zeros((samples, 3), "float32"), np.zeros((samples, 2), "float32")
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, callbacks=[callback])


def test_off_a_terminal_a_plain_line_names_the_fit_epoch_step_and_an_estimate():
    out = io.StringIO()
    _fit(FitProgress("trial 7", interval=0, stream=out, live=False))
    lines = out.getvalue().splitlines()
    assert len(lines) == 6  # 2 epochs of 3 steps, every step at interval 0
    assert lines[0].startswith("  trial 7: epoch 1/2, step 1/3, ") and lines[0].endswith(" left")
    assert lines[-1].startswith("  trial 7: epoch 2/2, step 3/3, ") and "~0s left" in lines[-1]
    quiet = io.StringIO()
    _fit(FitProgress("trial 8", stream=quiet, live=False))  # the default interval: a short fit prints nothing
    assert quiet.getvalue() == ""


def test_on_a_terminal_one_live_line_is_drawn_and_erased():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    callback = FitProgress("refit final_model.keras", stream=out)
    _fit(callback)
    assert "refit final_model.keras: epoch" in out.getvalue() and callback.bar is None
    assert "\n  refit" not in out.getvalue().rstrip("\n")  # no line per step: it is redrawn in place


def test_it_survives_keras_tuners_copy_of_a_trials_callbacks():
    assert copy.deepcopy(FitProgress("trial")).label == "trial"


@pytest.mark.parametrize("shown", [True, False])
def test_a_search_names_each_trial_and_refit_unless_quiet(tmp_path, capsys, monkeypatch, shown):
    monkeypatch.setattr(progress, "INTERVAL", 0.0)
    cfg = config.resolve(
        {
            "name": "p",
            "data": {"source": "digits", "subset": 200},
            "model": {"architecture": "simple_cnn", "params": {"conv_layers": 1}},
            "search": {"max_trials": 1, "space": {"filters": [4]}},
            "train": {"epochs": 1},
        }
    )
    run_search(cfg, out=tmp_path, printer=lambda line: None, progress=shown)
    out = capsys.readouterr().out
    assert ("  trial 0: epoch 1/1, step 1/" in out) is shown
    assert ("  refit final_model.keras: epoch 1/1, step 1/" in out) is shown
