"""A real TensorBoard server over a finished search's tb/ folder, asked through its HTTP data API."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from kerascnn import config
from kerascnn.search import run_search

pytestmark = pytest.mark.backend  # the same dashboards on every Keras backend (CI: also KERAS_BACKEND=jax)

SEARCHED = ["block1/kernel_size", "block2/kernel_size", "block1/filters", "block2/filters", "learning_rate"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    out = tmp_path_factory.mktemp("tbruns")
    cfg = config.resolve(
        {
            "name": "tb",
            "data": {"source": "digits", "subset": 300},
            "model": {"architecture": "simple_cnn", "params": {"conv_layers": 2, "dense_units": 16}},
            "search": {
                "tuner": "grid",
                "max_trials": 3,
                "space": {"kernel_size": [3], "filters": [8], "learning_rate": [0.01, 1.0e12, 0.001]},
            },
            "train": {"epochs": 2, "optimizer": "sgd", "momentum": 0.0},
        }
    )
    run_dir = run_search(cfg, out=out, printer=lambda line: None)
    port = _free_port()
    tensorboard = Path(sys.executable).parent / "tensorboard"
    proc = subprocess.Popen(
        [
            str(tensorboard),
            "--logdir",
            str(run_dir / "tb"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--reload_interval",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            runs = json.loads(urllib.request.urlopen(f"{base}/data/runs", timeout=5).read())
            if any(r.endswith("validation") for r in runs):
                break
        except OSError:
            pass
        if time.time() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail("TensorBoard did not start serving the run within 90 s")
        time.sleep(0.5)
    yield base, run_dir
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def _get(base, path):
    return json.loads(urllib.request.urlopen(base + path, timeout=30).read())


def _post(base, path, body):
    request = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    return json.loads(urllib.request.urlopen(request, timeout=30).read())


def test_one_run_per_trial(server):
    base, _ = server
    runs = _get(base, "/data/runs")
    for trial in ("0", "1", "2"):
        assert f"{trial}/execution0/train" in runs and f"{trial}/execution0/validation" in runs
    assert "run_info" in runs


def test_scalar_tags_include_the_sklearn_metrics(server):
    base, _ = server
    tags = _get(base, "/data/plugin/scalars/tags")
    val = tags["0/execution0/validation"]
    for tag in (
        "epoch_f1_macro",
        "epoch_precision_macro",
        "epoch_recall_macro",
        "epoch_f1_weighted",
        "epoch_accuracy",
        "epoch_loss",
    ):
        assert tag in val, tag
    train = tags["0/execution0/train"]
    for tag in ("epoch_f1_macro", "epoch_precision_weighted", "epoch_learning_rate", "epoch_loss"):
        assert tag in train, tag


def test_hparams_experiment_lists_every_knob_and_the_metrics(server):
    base, _ = server
    experiment = _post(base, "/data/plugin/hparams/experiment", {"experimentName": ""})
    names = {h["name"] for h in experiment["hparamInfos"]}
    assert set(SEARCHED) <= names
    metrics = {(m["name"]["group"], m["name"]["tag"]) for m in experiment["metricInfos"]}
    assert ("validation", "epoch_f1_macro") in metrics and ("validation", "epoch_precision_macro") in metrics


def test_every_trial_is_a_session_and_the_failed_one_is_marked(server):
    base, run_dir = server
    groups = _post(
        base,
        "/data/plugin/hparams/session_groups",
        {
            "experimentName": "",
            "startIndex": 0,
            "sliceSize": 100,
            "colParams": [],
            "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
        },
    )
    assert groups["totalSize"] == 3
    status = {g["hparams"]["learning_rate"]: g["sessions"][0]["status"] for g in groups["sessionGroups"]}
    assert status == {0.01: "STATUS_SUCCESS", 1e12: "STATUS_FAILURE", 0.001: "STATUS_SUCCESS"}


def test_confusion_matrix_images_and_text_summaries(server):
    base, run_dir = server
    images = _get(base, "/data/plugin/images/tags")
    assert "confusion_matrix" in images["0/execution0/validation"]
    text = _get(base, "/data/plugin/text/tags")
    assert "trial_summary" in text["0/execution0/validation"]
    assert set(text["run_info"]) == {"config", "device"}
    import csv

    with open(run_dir / "trials.csv", newline="") as f:
        failed = [r["trial_id"] for r in csv.DictReader(f) if r["status"] == "FAILED"]
    assert len(failed) == 1 and "failure" in text[f"{failed[0]}/execution0"]


@pytest.mark.slow
def test_scalars_and_hparams_pages_render_in_headless_chromium(server, tmp_path):
    """Screenshots kept in the run directory (needs Debian's `chromium`)."""
    from PIL import Image

    base, run_dir = server
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("headless Chromium is needed: apt-get install chromium")
    for page in ("scalars", "hparams"):
        shot = run_dir / f"tensorboard_{page}.png"
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--virtual-time-budget=15000",
                "--window-size=1400,900",
                f"--screenshot={shot}",
                f"{base}/#{page}",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        with Image.open(shot) as img:
            colors = img.convert("RGB").getcolors(maxcolors=1 << 20)
            assert img.size == (1400, 900) and colors and len(colors) > 50  # a rendered page, not a blank one
