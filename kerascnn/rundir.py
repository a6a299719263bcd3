"""Run directories are the user's data: safe names, one search at a time, honest resumes, atomic files.

- **Names**: a run's ``name`` is a plain folder name, so the run directory is
  always ``<out>/<name>`` and never outside ``--out``.
- **Ownership**: the kit marks each run directory it makes
  (:data:`MARKER`, which also holds the resolved experiment). ``--overwrite``
  empties only a folder that carries the marker (or a run made before markers
  existed); any other folder is refused by name, never removed.
- **One search per run directory**: :class:`RunLock` is an exclusive
  ``flock`` on :data:`LOCK`; the kernel drops it when its process dies, so a
  lock left by a killed search is taken over without a word.
- **Honest resume**: everything that shapes a trial (:func:`identity`) must
  match the saved experiment; otherwise the differing keys are listed.
- **Atomic files**: every run file is written to a temporary file and renamed
  (:func:`atomic_write`, :func:`atomic_target`) or appended with one
  ``write(2)`` (:func:`append_line`), so a kill never leaves half a file.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import json
import os
import re
import shutil
import socket
from pathlib import Path
from typing import Iterator

import yaml

from kerascnn._version import __version__
from kerascnn.config import with_defaults
from kerascnn.validation import check_name, shown

MARKER = ".kerascnn-run.json"
LOCK = ".kerascnn.lock"
CONFIG = "config.yaml"
#: The data's identity (:func:`kerascnn.data.fingerprint`), saved when the run is made, compared on every resume.
DATA_IDENTITY = "data.json"
#: Last line of every config.yaml the kit writes: a file without it was cut short.
CONFIG_END = "# end of kerascnn config"
#: Keys that do not change how a trial is trained: they may differ when a run is resumed.
NOT_IDENTITY = (
    "name",
    "search.max_trials",
    "search.max_seconds",
    "search.worker_timeout",
    "search.constraints.max_rejections",
    "search.constraints.max_failures",
    "search.refit",
    "search.refit_seeds",
    "search.refit_epochs",
    "search.ensemble",
    "search.baselines",
    "train.verbose",
    "train.profile_batch",
    "train.steps_per_execution",
    "data.cache",
)


class RunDirError(Exception):
    """A run directory the kit will not use as asked; the message names it and says what to do."""


class RunLocked(RunDirError):
    """Another search holds the run directory."""


class ExperimentChanged(RunDirError):
    """The run directory holds trials of a different experiment."""


class DataChanged(ExperimentChanged):
    """The run directory holds trials trained on other data than the experiment now reads."""


class NotARun(RunDirError):
    """The folder was not made by kerascnn: the kit neither writes into nor removes it."""


class LinkedRunFile(RunDirError):
    """A run file is a symbolic link: the kit never writes through one (its target is outside the run's care)."""


class DamagedRunFile(RunDirError):
    """A run file cannot be read back; nothing was changed."""


# ----------------------------------------------------------------------------- names
def run_dir_for(name: str, out: str | Path = "runs") -> Path:
    """``<out>/<name>``: always a direct child of ``out``."""
    return Path(out) / check_name(name)


# ----------------------------------------------------------------------------- the file system refusing
#: What the file system, not the experiment, is to blame for: no space or quota, a file over ``ulimit -f``,
#: a read-only or vanished place, no permission, an input/output error.
ENVIRONMENT_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO)
_ERRNO_IN_TEXT = re.compile(r"\[Errno (\d+)\]|errno = (\d+)")


def environment_error(err: BaseException) -> OSError | None:
    """The file-system error behind ``err`` (itself, a cause or context, or named in HDF5's text), or ``None``.

    HDF5 (Keras' weight files) reports a failed write as a ``RuntimeError``
    whose text holds ``errno = 28``; TensorFlow wraps the ``OSError`` in its
    own; either way the search should stop with the file system's reason,
    not record a failed trial.
    """
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        text = str(err)
        found = _ERRNO_IN_TEXT.search(text)
        number = err.errno if isinstance(err, OSError) and err.errno else None
        number = number or (int(next(g for g in found.groups() if g)) if found else None)
        # TensorFlow's file errors (tf.io.gfile, under keras-tuner) carry the system's words but no number
        number = number or next((n for n in ENVIRONMENT_ERRNOS if os.strerror(n).lower() in text.lower()), None)
        if number in ENVIRONMENT_ERRNOS:
            if isinstance(err, OSError) and (err.filename or err.strerror == os.strerror(number)):
                return err  # already the system's own words
            # HDF5 names the file as filename = '...'; TensorFlow as "<path>; <the system's words>"
            where = re.search(r"filename = '([^']*)'", text) or re.match(
                r"(.+?); " + re.escape(os.strerror(number)), text, re.IGNORECASE
            )
            return OSError(number, os.strerror(number), where.group(1) if where else None)
        err = err.__cause__ or err.__context__
    return None


# ----------------------------------------------------------------------------- atomic files
def open_no_follow(path: str | Path, flags: int, mode: int = 0o644) -> int:
    """``os.open`` that refuses a symbolic link at ``path`` (:class:`LinkedRunFile`) instead of writing its target."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW, mode)
    except OSError as err:
        if err.errno != errno.ELOOP:
            raise
        raise LinkedRunFile(
            f"{path} is a symbolic link (to {os.readlink(path)!r}); the kit does not write through links, so "
            "nothing was written. Remove the link (its target is untouched) and run the same command again."
        ) from None


def _temp_name(path: Path) -> Path:
    # Same folder (so the rename is atomic), same suffix (Keras wants ".keras", matplotlib ".png").
    return path.with_name(f".tmp-{os.getpid()}-{path.name}")


def atomic_write(path: str | Path, data: str | bytes) -> None:
    """Write ``path`` whole or not at all: a temporary file, then ``os.replace``."""
    path = Path(path)
    with atomic_target(path) as tmp:
        fd = open_no_follow(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)


@contextlib.contextmanager
def atomic_target(path: str | Path) -> Iterator[Path]:
    """For writers that take a file name (``model.save``, ``savefig``): write to the yielded path."""
    path = Path(path)
    tmp = _temp_name(path)
    if tmp.is_symlink():  # a link left where the temporary goes: removed, never written through
        tmp.unlink()
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def append_line(path: str | Path, line: str) -> None:
    """Append one line with a single ``write(2)``: a kill leaves it whole or absent.

    A last line cut short by some earlier crash is ended first, so it cannot
    swallow the new one.
    """
    data = line.rstrip("\n").encode() + b"\n"
    fd = open_no_follow(path, os.O_RDWR | os.O_APPEND | os.O_CREAT)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        os.write(fd, data)
    finally:
        os.close(fd)


def read_jsonl(path: str | Path) -> tuple[list, int]:
    """The records of a JSON-lines file and how many lines could not be read (cut short)."""
    path = Path(path)
    if not path.exists():
        return [], 0
    records, damaged = [], 0
    for line in path.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError:
            damaged += 1
    return records, damaged


# ----------------------------------------------------------------------------- identity
def _flatten(config: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):  # an empty mapping adds no key: {} and a missing section are the same
            out.update(_flatten(value, path + "."))
        else:
            out[path] = value
    return out


def identity(config: dict) -> dict:
    """Every key that shapes a trial (data, model, space, training, seed), flattened to ``a.b.c``."""
    return {k: v for k, v in _flatten(config).items() if not any(k == n or k.startswith(n + ".") for n in NOT_IDENTITY)}


def differences(saved: dict, new: dict) -> list[str]:
    """``["train.learning_rate: 0.001 -> 0.01", ...]`` between two resolved configs."""
    old, cur = identity(saved), identity(new)
    missing = "(not set)"
    return [
        f"{k}: {old.get(k, missing)!r} -> {cur.get(k, missing)!r}"
        for k in sorted(set(old) | set(cur))
        if old.get(k, missing) != cur.get(k, missing)
    ]


def data_differences(saved: dict, new: dict) -> list[str]:
    """What differs between two data fingerprints, part by part, in words."""
    out = []
    for key in ("classes", "input_shape"):
        if saved.get(key) != new.get(key):
            out.append(f"{key}: {shown(saved.get(key))} -> {shown(new.get(key))}")
    words = {
        "labels": "the labels differ",
        "content": "the samples' content differs",
        "files": "a file's name or size differs",
    }
    for part in ("train", "validation", "test"):
        old, cur = saved.get(part) or {}, new.get(part) or {}
        if old.get("samples") != cur.get("samples"):
            out.append(f"{part}: {old.get('samples')} -> {cur.get('samples')} samples")
            continue
        out += [f"{part}: {text}" for key, text in words.items() if key in old and old.get(key) != cur.get(key)]
    return out


def check_data_identity(run_dir: Path, identity: dict) -> None:
    """Save the data's identity in a new run; refuse a resume on data that changed (``DataChanged``).

    A run made before the kit saved it takes the data it is resumed with.
    """
    path = Path(run_dir) / DATA_IDENTITY
    try:
        saved = json.loads(path.read_text()) if path.exists() else None
    except (ValueError, UnicodeDecodeError):
        saved = None  # damaged (cut short by a full disk): the config still guards the run; written again
    if not isinstance(saved, dict):
        atomic_write(path, json.dumps(identity, indent=1))
        return
    changed = data_differences(saved, identity)
    if changed:
        raise DataChanged(
            f"{run_dir} holds trials trained on other data than the experiment reads now; what differs "
            f"(saved -> now):\n  " + "\n  ".join(changed) + "\nResuming would rank trials trained on different "
            "data against each other and score a test split that changed. Restore the data, run under another "
            f"name (--set name=NEW_NAME) to keep both, or add --overwrite to delete the trials in {run_dir}."
        )


# ----------------------------------------------------------------------------- ownership
def _yaml_config(path: Path) -> tuple[dict | None, str]:
    """``(config, "")`` from a kit-written config.yaml, or ``(None, why it cannot be used)``."""
    if not path.exists():
        return None, "missing"
    text = path.read_text(errors="replace")
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError:
        return None, "not valid YAML (cut short?)"
    if not isinstance(loaded, dict) or not {"data", "model", "search", "train"} <= set(loaded):
        return None, "empty or incomplete" if not text.strip() or isinstance(loaded, dict) else "not a mapping"
    return loaded, "" if text.rstrip().endswith(CONFIG_END) else "cut short (its last line is missing)"


def _marker_config(run_dir: Path) -> tuple[dict | None, str]:
    path = run_dir / MARKER
    if not path.exists():
        return None, "missing"
    try:
        return json.loads(path.read_text())["config"], ""
    except (ValueError, KeyError, TypeError):
        return None, "damaged (cut short?)"


def is_run_dir(path: str | Path) -> bool:
    """Made by kerascnn: it carries the marker, or (runs made before markers) a kit config.yaml and tuner state."""
    path = Path(path)
    if (path / MARKER).is_file():
        return True
    saved, _ = _yaml_config(path / CONFIG)
    return saved is not None and saved.get("name") == path.name and (path / "tuner").is_dir()


def saved_config(run_dir: Path) -> dict | None:
    """The experiment a run directory was made for (``None`` for a new one); repairs one damaged copy.

    The marker and config.yaml both hold it; one intact copy rewrites the other.

    Raises:
        DamagedRunFile: neither copy can be read.
    """
    marker, marker_why = _marker_config(run_dir)
    text, text_why = _yaml_config(run_dir / CONFIG)
    if marker is not None:
        if text is None or text_why or with_defaults(text) != with_defaults(marker):
            write_config(run_dir / CONFIG, marker)  # the readable copy, restored from the marker
        return with_defaults(marker)
    legacy = marker_why == "missing"  # a run from before markers: config.yaml had no end line either
    if text is not None and (not text_why or (legacy and text_why.startswith("cut short (its"))):
        write_marker(run_dir, text)
        return with_defaults(text)
    if marker_why == "missing" and text_why == "missing":
        return None
    raise DamagedRunFile(
        f"{run_dir / CONFIG} is {text_why} and {run_dir / MARKER} is {marker_why}: the kit cannot tell which "
        f"experiment the trials in {run_dir} belong to. Nothing was changed. Restore {CONFIG} from a copy and "
        f"run the same command again, or keep these trials and start a new run with another name "
        f"(--set name=NEW_NAME)."
    )


def write_config(path: Path, config: dict) -> None:
    atomic_write(path, yaml.safe_dump(config, sort_keys=False) + CONFIG_END + "\n")


def write_marker(run_dir: Path, config: dict) -> None:
    atomic_write(
        run_dir / MARKER,
        json.dumps(
            {
                "kerascnn": __version__,
                "created": datetime.datetime.now().isoformat(timespec="seconds"),
                "config": config,
            },
            indent=1,
            default=str,
        ),
    )


def check_tuner_state(project_dir: Path) -> None:
    """Name every keras-tuner state file that cannot be read, before keras-tuner reloads it.

    keras-tuner's files: ``oracle.json``, ``tuner<id>.json``, ``trial_<id>/trial.json``.

    Raises:
        DamagedRunFile: listing the files; nothing was changed.
    """
    project_dir = Path(project_dir)
    damaged = []
    for path in sorted(
        p for pattern in ("oracle.json", "tuner*.json", "trial_*/trial.json") for p in project_dir.glob(pattern)
    ):
        try:
            json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError):
            damaged.append(str(path))
    if damaged:
        raise DamagedRunFile(
            f"keras-tuner cannot resume from damaged state file(s) (empty or cut short): {', '.join(damaged)}. "
            f"Nothing was changed. Restore them from a copy, or keep these trials and start a new run with another "
            "name (--set name=NEW_NAME)."
        )


# ----------------------------------------------------------------------------- lock
class RunLock:
    """An exclusive lock on a run directory, held while a search (or a chief) writes into it.

    ``flock`` is released by the kernel when its process ends, however it
    ends: a lock left by a killed search is simply taken over. The lock file
    names the holder (pid, host, start time) for the refusal message.
    """

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        import fcntl

        fd = open_no_follow(self.path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunLocked(
                f"{self.path.parent} is in use by another search ({holder}). Wait for it to finish, stop it, "
                "or run this one under another name (--set name=NEW_NAME)."
            ) from None
        except OSError:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        started = datetime.datetime.now().isoformat(timespec="seconds")
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, since {started}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self):
        return self if self._fd is not None else self.acquire()

    def __exit__(self, *exc):
        self.release()


class RunDirRemoved(RunDirError):
    """The run directory was removed (or replaced) while the search ran."""


def folder_identity(run_dir: Path) -> tuple | None:
    """``(device, inode)`` of the run directory while it holds the kit's marker; ``None`` once it does not."""
    try:
        if not (Path(run_dir) / MARKER).is_file():
            return None
        info = os.stat(run_dir)
    except OSError:
        return None
    return (info.st_dev, info.st_ino)


#: What a search writes into its run directory before it is finished (all of it the kit's own).
SEARCH_FILES = frozenset({"tuner", "tb", "trials.csv", "rejections.jsonl", "split.csv", DATA_IDENTITY, LOCK})


def stop_if_removed(run_dir: Path, identity: tuple | None) -> None:
    """Raise :class:`RunDirRemoved` if the run directory is not the one the search opened (``rm -rf`` of it).

    keras-tuner recreates the folders it writes into, so the search would
    otherwise go on into a folder without marker or config that the next
    command refuses. What it recreated is removed when it holds nothing but
    the search's own files; anything else is left as it is.
    """
    run_dir = Path(run_dir)
    if identity is None or folder_identity(run_dir) == identity:
        return
    cleaned = ""
    if run_dir.is_dir() and not (run_dir / MARKER).exists():
        if {p.name for p in run_dir.iterdir()} <= SEARCH_FILES:
            shutil.rmtree(run_dir, ignore_errors=True)
            cleaned = " and removed what it had written there since"
        else:
            cleaned = "; the folder now holds files the kit did not write, so it was left as it is"
    raise RunDirRemoved(
        f"{run_dir} was removed or replaced while the search ran (its {MARKER} is gone): the search "
        f"stopped{cleaned}. Run the same command to start the experiment again."
    )


# ----------------------------------------------------------------------------- preparing a run
def _check_parent(run_dir: Path) -> None:
    out = run_dir.parent
    if out.exists() and not out.is_dir():
        raise RunDirError(f"--out {str(out)!r} is a file, not a folder: choose a folder for the runs.")
    if run_dir.is_symlink():
        raise NotARun(
            f"{run_dir} is a symbolic link: the kit writes runs only into folders it makes inside "
            f"{out}. Choose another name (--set name=NEW_NAME) or another --out."
        )
    if run_dir.exists() and not run_dir.is_dir():
        raise NotARun(f"{run_dir} is a file, not a run directory: choose another name or --out.")


def check_usable(run_dir: Path, overwrite: bool) -> None:
    """Refuse, before any work, a run directory the kit did not make (never read, written or removed)."""
    _check_parent(run_dir)
    if run_dir.is_dir() and any(p.name != LOCK for p in run_dir.iterdir()) and not is_run_dir(run_dir):
        action = "remove it with --overwrite" if overwrite else "write into it"
        raise NotARun(
            f"{run_dir} exists and is not a kerascnn run directory (no {MARKER} or {CONFIG}): the kit "
            f"will not {action}. Choose another name (--set name=NEW_NAME) or another --out."
        )


def open_run(run_dir: Path, config: dict, overwrite: bool, printer=print) -> RunLock:
    """Create, resume or (``overwrite``) empty a run directory; return the held lock.

    Raises:
        NotARun, RunLocked, ExperimentChanged, DamagedRunFile: nothing was changed.
    """
    check_usable(run_dir, overwrite)
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = RunLock(run_dir).acquire()
    try:
        check_usable(run_dir, overwrite)  # again, now that no other search can change it
        if overwrite and is_run_dir(run_dir):
            for child in run_dir.iterdir():
                if child.name != LOCK:
                    shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
            printer(f"--overwrite: emptied the run directory {run_dir}")
        saved = saved_config(run_dir)
        if saved is None:
            write_config(run_dir / CONFIG, config)
            write_marker(run_dir, config)
        else:
            changed = differences(saved, config)
            if changed:
                raise ExperimentChanged(
                    f"{run_dir} holds trials of a different experiment; these settings differ "
                    f"(saved -> now):\n  " + "\n  ".join(changed) + "\nResuming would rank trials trained "
                    "differently against each other. Run under another name (--set name=NEW_NAME) to keep both, "
                    f"or add --overwrite to delete the trials in {run_dir} and start over."
                )
    except BaseException:
        lock.release()
        raise
    return lock
