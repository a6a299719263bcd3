"""Run directories: safe names, ownership, the lock, honest resume, atomic files (no training here)."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import yaml

from kerascnn import config, rundir


def _cfg(name="run", **train):
    return config.resolve({"name": name, "train": {"epochs": 1, **train}}).to_dict()


@pytest.mark.parametrize("name", ["../victim", ".", "..", "a/b", "/abs", "", "x" * 101, "with space", "a\\b", 3])
def test_names_that_could_leave_out_are_refused(name):
    with pytest.raises(ValueError, match="plain folder name"):
        rundir.check_name(name)
    with pytest.raises(config.ConfigError, match="Invalid `name`"):
        config.resolve({"name": name})


def test_run_dir_is_a_direct_child_of_out(tmp_path):
    for name in ("digits-simple", "a.b_c-1", "x" * 100):
        assert rundir.run_dir_for(name, tmp_path).parent == tmp_path


def test_atomic_files_leave_no_temporary_behind(tmp_path):
    target = tmp_path / "summary.json"
    rundir.atomic_write(target, "{}")
    rundir.atomic_write(target, b'{"a": 1}')
    with pytest.raises(RuntimeError):
        with rundir.atomic_target(tmp_path / "model.keras") as tmp:
            assert tmp.name.endswith("model.keras")  # writers that pick a format by suffix still work
            tmp.write_text("half")
            raise RuntimeError("killed while writing")
    assert json.loads(target.read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]  # no model.keras, no temp file


def test_append_after_a_line_cut_short_keeps_the_new_line_whole(tmp_path):
    path = tmp_path / "rejections.jsonl"
    rundir.append_line(path, json.dumps({"reason": "a"}))
    with open(path, "a") as f:
        f.write('{"reason": "cut sh')  # a crash in the middle of a write by some other program
    rundir.append_line(path, json.dumps({"reason": "b"}))
    records, damaged = rundir.read_jsonl(path)
    assert [r["reason"] for r in records] == ["a", "b"] and damaged == 1


def test_identity_covers_what_shapes_a_trial_only():
    base = _cfg()
    assert rundir.differences(base, _cfg(verbose=1)) == []
    assert (
        rundir.differences(base, config.resolve({**base, "search": {**base["search"], "max_trials": 50}}).to_dict())
        == []
    )
    changed = rundir.differences(base, _cfg(learning_rate=0.01, batch_size=32))
    assert changed == ["train.batch_size: 64 -> 32", "train.learning_rate: 0.001 -> 0.01"]
    assert rundir.differences(base, _cfg(epochs=5)) == ["train.epochs: 1 -> 5"]
    space = config.resolve({**base, "search": {**base["search"], "space": {"kernel_size": [3, 5]}}}).to_dict()
    assert rundir.differences(base, space) == ["search.space.kernel_size: '(not set)' -> [3, 5]"]


def test_new_run_resume_and_changed_experiment(tmp_path):
    run_dir = tmp_path / "run"
    lines = []
    rundir.open_run(run_dir, _cfg(), overwrite=False, printer=lines.append).release()
    assert (run_dir / rundir.MARKER).is_file() and rundir.is_run_dir(run_dir)
    saved = (run_dir / "config.yaml").read_text()
    assert saved.rstrip().endswith(rundir.CONFIG_END) and yaml.safe_load(saved)["train"]["epochs"] == 1
    rundir.open_run(run_dir, _cfg(verbose=2), overwrite=False).release()  # same experiment: resumes
    with pytest.raises(rundir.ExperimentChanged) as err:
        rundir.open_run(run_dir, _cfg(learning_rate=0.01), overwrite=False)
    message = str(err.value)
    assert "train.learning_rate: 0.001 -> 0.01" in message and "--set name=" in message and "--overwrite" in message
    assert (run_dir / "config.yaml").read_text() == saved  # the old settings stay on record
    (run_dir / "tuner").mkdir()
    (run_dir / "tuner" / "oracle.json").write_text("{}")
    rundir.open_run(run_dir, _cfg(learning_rate=0.01), overwrite=True, printer=lines.append).release()
    assert not (run_dir / "tuner").exists() and "emptied" in lines[-1]
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["train"]["learning_rate"] == 0.01


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_folder_the_kit_did_not_make_is_never_touched(tmp_path, overwrite):
    victim = tmp_path / "photos"
    (victim / "cats").mkdir(parents=True)
    (victim / "cats" / "1.png").write_bytes(b"precious")
    with pytest.raises(rundir.NotARun, match=f"{victim} exists and is not a kerascnn run"):
        rundir.open_run(victim, _cfg("photos"), overwrite=overwrite)
    assert (victim / "cats" / "1.png").read_bytes() == b"precious"
    assert sorted(p.name for p in victim.iterdir()) == ["cats"]  # no lock, no config written into it


def test_symlinks_files_and_an_out_that_is_a_file_are_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "link").symlink_to(elsewhere)
    with pytest.raises(rundir.NotARun, match="symbolic link"):
        rundir.open_run(tmp_path / "out" / "link", _cfg("link"), overwrite=True)
    (tmp_path / "out" / "afile").write_text("x")
    with pytest.raises(rundir.NotARun, match="is a file"):
        rundir.open_run(tmp_path / "out" / "afile", _cfg("afile"), overwrite=True)
    (tmp_path / "notadir").write_text("x")
    with pytest.raises(rundir.RunDirError, match="--out .* is a file"):
        rundir.open_run(tmp_path / "notadir" / "run", _cfg(), overwrite=False)
    assert list(elsewhere.iterdir()) == []


def test_a_run_made_before_markers_is_still_a_run(tmp_path):
    run_dir = tmp_path / "old"
    (run_dir / "tuner").mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(_cfg("old")))  # no marker, no end line
    assert rundir.is_run_dir(run_dir)
    rundir.open_run(run_dir, _cfg("old"), overwrite=False).release()
    assert (run_dir / rundir.MARKER).is_file()  # upgraded in place


def test_a_second_search_is_refused_while_the_first_holds_the_lock(tmp_path):
    run_dir = tmp_path / "run"
    first = rundir.open_run(run_dir, _cfg(), overwrite=False)
    try:
        with pytest.raises(rundir.RunLocked, match=rf"in use by another search \(pid {os.getpid()} on "):
            rundir.open_run(run_dir, _cfg(), overwrite=False)
        with pytest.raises(rundir.RunLocked):  # --overwrite does not break in either
            rundir.open_run(run_dir, _cfg(), overwrite=True)
    finally:
        first.release()
    rundir.open_run(run_dir, _cfg(), overwrite=False).release()


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import fcntl, os, time
        fd = os.open({str(run_dir / rundir.LOCK)!r}, os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, b"pid %d on elsewhere" % os.getpid())
        print("locked", flush=True)
        time.sleep(120)
    """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(rundir.RunLocked, match=f"pid {holder.pid} on elsewhere"):
            rundir.RunLock(run_dir).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    lock = rundir.RunLock(run_dir).acquire()
    assert f"pid {os.getpid()}" in (run_dir / rundir.LOCK).read_text()
    lock.release()


@pytest.mark.parametrize("damage", ["empty", "cut"])
def test_one_damaged_copy_of_the_experiment_is_repaired_from_the_other(tmp_path, damage):
    run_dir = tmp_path / "run"
    rundir.open_run(run_dir, _cfg(), overwrite=False).release()
    for name in ("config.yaml", rundir.MARKER):
        path = run_dir / name
        good = path.read_text()
        lines = good.splitlines(keepends=True)
        path.write_text("" if damage == "empty" else "".join(lines[: len(lines) // 2]))  # cut at a line boundary
        rundir.open_run(run_dir, _cfg(), overwrite=False).release()
        assert (
            json.loads(json.dumps(yaml.safe_load(path.read_text()))) == json.loads(json.dumps(yaml.safe_load(good)))
            if name == "config.yaml"
            else json.loads(path.read_text())["config"] == json.loads(good)["config"]
        )


def test_both_copies_damaged_is_named_and_nothing_is_changed(tmp_path):
    run_dir = tmp_path / "run"
    rundir.open_run(run_dir, _cfg(), overwrite=False).release()
    (run_dir / "config.yaml").write_text("name: run\nseed: 0\n")
    (run_dir / rundir.MARKER).write_text("")
    with pytest.raises(rundir.DamagedRunFile) as err:
        rundir.open_run(run_dir, _cfg(), overwrite=False)
    message = str(err.value)
    assert "config.yaml is empty or incomplete" in message and f"{rundir.MARKER} is damaged" in message
    assert "Nothing was changed" in message and "--overwrite" not in message  # never advice that deletes trials
    assert (run_dir / "config.yaml").read_text() == "name: run\nseed: 0\n"


def test_damaged_keras_tuner_state_is_named(tmp_path):
    project = tmp_path / "tuner"
    (project / "trial_0").mkdir(parents=True)
    (project / "oracle.json").write_text('{"ongoing_trials": {')
    (project / "trial_0" / "trial.json").write_text("")
    (project / "tuner0.json").write_text("{}")
    with pytest.raises(rundir.DamagedRunFile) as err:
        rundir.check_tuner_state(project)
    message = str(err.value)
    assert str(project / "oracle.json") in message and str(project / "trial_0" / "trial.json") in message
    assert "tuner0.json" not in message and "--overwrite" not in message
    rundir.check_tuner_state(tmp_path / "missing")  # a new run has no state yet


def test_no_run_file_is_written_through_a_symbolic_link(tmp_path):
    """A link where the lock, an appended log or a rewritten file goes: its target is never opened for writing."""
    victim = tmp_path / "victim.txt"
    victim.write_text("the user's file\n")
    run_dir = tmp_path / "out" / "run"
    run_dir.mkdir(parents=True)
    (run_dir / rundir.LOCK).symlink_to(victim)
    with pytest.raises(rundir.LinkedRunFile, match=r"\.kerascnn\.lock is a symbolic link .*nothing was written"):
        rundir.open_run(run_dir, _cfg(), overwrite=False, printer=lambda line: None)
    with pytest.raises(rundir.LinkedRunFile):
        rundir.open_run(run_dir, _cfg(), overwrite=True, printer=lambda line: None)
    (run_dir / "rejections.jsonl").symlink_to(victim)
    with pytest.raises(rundir.LinkedRunFile, match="rejections.jsonl is a symbolic link"):
        rundir.append_line(run_dir / "rejections.jsonl", "{}")
    (run_dir / "summary.json").symlink_to(victim)
    rundir.atomic_write(run_dir / "summary.json", "{}")  # replaces the link itself
    assert not (run_dir / "summary.json").is_symlink() and (run_dir / "summary.json").read_text() == "{}"
    (run_dir / ".tmp-{}-trials.csv".format(os.getpid())).symlink_to(victim)  # a link where the temporary goes
    rundir.atomic_write(run_dir / "trials.csv", "a,b\n")
    assert (run_dir / "trials.csv").read_text() == "a,b\n"
    assert victim.read_text() == "the user's file\n"
