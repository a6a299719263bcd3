"""keras-tuner's distributed engine: a chief and workers on 127.0.0.1, as separate processes."""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from kerascnn.search import distributed


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A chief and workers running `kerascnn search`, each with its own log file."""

    def __init__(self, tmp_path, max_trials=4, epochs=2, worker_timeout=120, **search):
        self.tmp, self.port = tmp_path, _free_port()
        self.exp = tmp_path / "dist.yaml"
        self.exp.write_text(
            yaml.safe_dump(
                {
                    "name": "dist",
                    "data": {"source": "digits", "subset": 300},
                    "model": {"architecture": "simple_cnn", "params": {"conv_layers": 2, "dense_units": 16}},
                    "search": {
                        "max_trials": max_trials,
                        "worker_timeout": worker_timeout,
                        "space": {"kernel_size": [3, 5], "filters": [8, 16, 32]},
                        **search,
                    },
                    "train": {"epochs": epochs},
                }
            )
        )
        self.run_dir = tmp_path / "runs" / "dist"
        self.procs = {}

    def start(self, name, *role):
        log = open(self.tmp / f"{name}.log", "a")
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "kerascnn", "search", str(self.exp), "--out", str(self.tmp / "runs"), *role],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        return self.procs[name]

    def chief(self):
        return self.start("chief", "--chief", f"127.0.0.1:{self.port}")

    def worker(self, n, *flags):
        return self.start(f"worker{n}", "--worker", f"127.0.0.1:{self.port}", "--worker-id", str(n), *flags)

    def log(self, name):
        return (self.tmp / f"{name}.log").read_text()

    def wait(self, predicate, timeout, what):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return
            time.sleep(0.2)
        pytest.fail(f"timed out waiting for {what}; chief log:\n{self.log('chief')[-3000:]}")

    def rows(self):
        with open(self.run_dir / "trials.csv", newline="") as f:
            return list(csv.DictReader(f))

    def summary(self):
        return json.loads((self.run_dir / "summary.json").read_text())

    def stop(self):
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def cluster(tmp_path):
    made = []

    def make(**kwargs):
        made.append(Cluster(tmp_path, **kwargs))
        return made[-1]

    yield make
    for c in made:
        c.stop()


def test_chief_and_two_workers_share_one_search(cluster):
    """Worker 2 is also recycled: it exits (75) when handed its second trial and, restarted, runs it."""
    # pruning on, but judged only after 10 finished trials: every epoch is reported to the chief, none is pruned
    c = cluster(max_trials=4, epochs=2, pruning="median", pruning_warmup_epochs=0, pruning_min_trials=10)
    c.worker(1)  # a worker may start before its chief: it waits for it
    c.wait(lambda: "waiting for the chief" in c.log("worker1"), 120, "worker 1 to wait for its chief")
    c.chief()
    recycle = ("--recycle-after", "1")
    codes = [c.worker(2, *recycle).wait(timeout=300)]
    while codes[-1] == distributed.RECYCLE_EXIT_CODE and len(codes) < 5:
        codes.append(c.worker(2, *recycle).wait(timeout=300))
    assert codes[0] == distributed.RECYCLE_EXIT_CODE and codes[-1] == 0, (codes, c.log("worker2"))
    assert "recycled after 1 trials" in c.log("worker2")
    assert c.procs["chief"].wait(timeout=300) == 0, c.log("chief")
    assert c.procs["worker1"].wait(timeout=60) == 0, c.log("worker1")
    rows = c.rows()
    assert sorted(r["trial_id"] for r in rows) == ["0", "1", "2", "3"]  # nothing counted twice
    assert all(r["status"] == "COMPLETED" for r in rows)
    assert {r["worker"] for r in rows} == {"tuner1", "tuner2"}  # both workers ran trials
    summary = c.summary()
    assert summary["counts"] == {"completed": 4, "pruned": 0, "failed": 0, "rejected": 0}
    assert (c.run_dir / "best_model.keras").is_file() and (c.run_dir / "report.md").is_file()
    assert sorted(p.name for p in (c.run_dir / "tb").iterdir() if p.name.isdigit()) == ["0", "1", "2", "3"]
    assert c.log("chief").count("] trial ") == 4  # one progress line per trial on the chief
    trial = json.loads((c.run_dir / "tuner" / "trial_0" / "trial.json").read_text())
    steps = [o["step"] for o in trial["metrics"]["metrics"]["val_f1_macro"]["observations"]]
    assert steps == [0, 1]  # both epochs reached the chief (keras-tuner alone reports only the best one)


@pytest.mark.slow  # ~18 s; the chief-and-two-workers test sends per-epoch reports over gRPC in the default run
def test_the_chief_prunes_from_the_epochs_its_workers_report(cluster):
    """Per-epoch reports travel over keras-tuner's UpdateTrial; the chief's oracle answers STOPPED."""
    c = cluster(
        max_trials=3,
        epochs=4,
        tuner="grid",
        pruning="median",
        pruning_warmup_epochs=1,
        pruning_min_trials=2,
        space={"learning_rate": [0.01, 0.003, 0.00001], "filters": [8]},
    )
    c.chief()
    c.worker(1)
    assert c.procs["chief"].wait(timeout=300) == 0, c.log("chief")
    assert c.procs["worker1"].wait(timeout=60) == 0, c.log("worker1")
    rows = {r["learning_rate"]: r for r in c.rows()}
    assert rows["1e-05"]["status"] == "PRUNED" and rows["1e-05"]["pruned_epoch"] == "2", c.log("chief")
    assert rows["0.01"]["status"] == "COMPLETED"
    assert "PRUNED at epoch 2" in c.log("worker1") and "PRUNED at epoch 2" in c.log("chief")
    assert c.summary()["counts"]["pruned"] == 1


@pytest.mark.slow  # a kill, a restart and a recycle: ~40 s; the chief-and-two-workers test stays in the default run
def test_killed_worker_restarted_with_its_id_reruns_the_lost_trial(cluster):
    c = cluster(max_trials=5, epochs=8)
    c.chief()
    c.worker(1)
    c.worker(2)
    c.wait(lambda: "[worker tuner1] trial" in c.log("worker1"), 240, "worker 1's first trial")
    time.sleep(1.5)  # well inside its next trial
    c.procs["worker1"].send_signal(signal.SIGKILL)
    c.procs["worker1"].wait()
    done_before = {line.split()[3] for line in c.log("worker1").splitlines() if line.startswith("[worker tuner1]")}
    c.worker(1)
    assert c.procs["chief"].wait(timeout=300) == 0, c.log("chief")
    rows = c.rows()
    assert sorted(r["trial_id"] for r in rows) == [str(i) for i in range(5)]
    assert all(r["status"] == "COMPLETED" for r in rows), rows
    after = [line.split()[3] for line in c.log("worker1").splitlines() if line.startswith("[worker tuner1]")]
    rerun = [t for t in after if t not in done_before]
    assert rerun, "the restarted worker ran no trial"
    assert c.summary()["counts"]["failed"] == 0


@pytest.mark.slow  # waits out the watchdog: ~35 s; the chief-and-two-workers test stays in the default run
def test_worker_that_never_returns_is_reported_after_the_timeout(cluster):
    # Workers wait for the chief before touching the run directory, so they start their first (slow, traced)
    # epochs together on 2 cores: 15 s keeps a healthy worker from looking silent.
    c = cluster(max_trials=4, epochs=8, worker_timeout=15)
    c.chief()
    c.worker(1)
    c.worker(2)
    c.wait(lambda: "[worker tuner2] trial" in c.log("worker2"), 240, "worker 2's first trial")
    time.sleep(1.5)
    c.procs["worker2"].send_signal(signal.SIGKILL)
    assert c.procs["chief"].wait(timeout=300) == 0, c.log("chief")
    assert "worker tuner2 has not reported for 15s" in c.log("chief")
    rows = c.rows()
    failed = [r for r in rows if r["status"] == "FAILED"]
    assert len(failed) == 1 and "stopped reporting" in failed[0]["message"]
    assert c.summary()["counts"]["failed"] == 1


def test_roles_from_flags_and_environment(monkeypatch):
    for key in (distributed.ENV_ID, distributed.ENV_IP, distributed.ENV_PORT):
        monkeypatch.setenv(key, "placeholder")  # recorded, so teardown restores the variables' absence
        monkeypatch.delenv(key)
    assert distributed.role() is None
    free = _free_port()
    assert distributed.set_role(chief=f"127.0.0.1:{free}") == "chief"
    assert os.environ[distributed.ENV_ID] == "chief" and os.environ[distributed.ENV_PORT] == str(free)
    assert distributed.set_role(worker="127.0.0.1:9000", worker_id=3) == "worker"
    assert os.environ[distributed.ENV_ID] == "tuner3"
    with pytest.raises(ValueError, match="HOST:PORT"):
        distributed.set_role(chief="localhost")
    with pytest.raises(ValueError, match="--worker-id"):
        distributed.set_role(worker="127.0.0.1:9000")
    with pytest.raises(ValueError, match="not both"):
        distributed.set_role(chief="127.0.0.1:1", worker="127.0.0.1:1", worker_id=1)
    monkeypatch.setenv(distributed.ENV_RECYCLE, "placeholder")
    monkeypatch.delenv(distributed.ENV_RECYCLE)
    assert distributed.recycle_after() is None
    distributed.set_role(worker="127.0.0.1:9000", worker_id=3, recycle_after=20)
    assert distributed.recycle_after() == 20
    with pytest.raises(ValueError, match="--recycle-after.*worker"):
        distributed.set_role(chief="127.0.0.1:9000", recycle_after=5)
    with pytest.raises(ValueError, match="Received: --recycle-after=0"):
        distributed.set_role(worker="127.0.0.1:9000", worker_id=3, recycle_after=0)
    monkeypatch.setenv(distributed.ENV_RECYCLE, "often")
    with pytest.raises(ValueError, match="KERASCNN_RECYCLE_AFTER.*often"):
        distributed.recycle_after()


@pytest.mark.slow
def test_workers_per_gpu_script_restarts_recycled_workers(tmp_path):
    """tools/workers_per_gpu.sh with a stand-in nvidia-smi (two "GPUs") and RECYCLE_AFTER=1."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text("#!/bin/sh\necho 0\necho 1\n")
    (bin_dir / "kerascnn").write_text(f'#!/bin/sh\nexec {sys.executable} -m kerascnn "$@"\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    c = Cluster(tmp_path, max_trials=5, epochs=1)
    script = Path(__file__).resolve().parents[2] / "tools" / "workers_per_gpu.sh"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "RECYCLE_AFTER": "1",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONPATH": str(script.parents[1]),
    }
    done = subprocess.run(
        ["bash", str(script), str(c.exp), str(c.port), "--out", str(tmp_path / "runs")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    logs = {p.name: p.read_text() for p in (tmp_path / "runs" / "logs").iterdir()}
    assert done.returncode == 0, (done.stdout, done.stderr, logs)
    rows = c.rows()
    assert sorted(r["trial_id"] for r in rows) == [str(i) for i in range(5)]
    assert all(r["status"] == "COMPLETED" for r in rows)
    recycled = sum(log.count("recycled after 1 trials") for name, log in logs.items() if name.startswith("worker"))
    assert recycled >= 3  # 5 trials, one per process: every worker process but the last ones was recycled


def test_a_chief_on_a_busy_port_is_refused_in_one_line_before_any_work(tmp_path, monkeypatch, capsys):
    """grpc's RuntimeError used to come after the data were loaded and the run folder made."""
    from kerascnn import cli

    for key in (distributed.ENV_ID, distributed.ENV_IP, distributed.ENV_PORT):
        monkeypatch.setenv(key, "placeholder")
        monkeypatch.delenv(key)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = cli.main(["search", "digits", "--out", str(tmp_path / "runs"), "--chief", f"127.0.0.1:{port}"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert f"--chief 127.0.0.1:{port}: the port cannot be served (Address already in use)" in err
    assert not (tmp_path / "runs").exists() and distributed.role() is None
