"""A quiet start: TensorFlow's native start-up log lines kept out of every command's output.

TensorFlow 2.21 writes abseil's "All log messages before absl::InitializeLog()
is called…", "oneDNN custom operations are on…" and "Could not find cuda
drivers…" straight to file descriptor 2 while it loads, twice, before
``TF_CPP_MIN_LOG_LEVEL`` is read (abseil logs before it is initialised), so
neither that variable nor Python's ``warnings`` can hide them. Only the
process's own stderr descriptor can: :func:`quiet_tensorflow_import`
points it at a temporary file while Keras (and with it TensorFlow) is first
imported, then writes back every line that is not such a start-up notice, so
real errors and warnings still show, in order. The user's
``TF_CPP_MIN_LOG_LEVEL`` wins: at ``0`` (show everything) nothing is
filtered, at 1 and above the notices go as that level promises. Nothing is
filtered either when Keras' backend is not TensorFlow or TensorFlow is
already loaded.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile

#: Keras' backends the kit has an extra for; each is named after the module it needs and the extra that installs it.
BACKENDS = ("jax", "tensorflow", "torch")

#: The start-up notices dropped: abseil's pre-initialisation banner, INFO-level lines (``I0000 … file.cc:N]``,
#: oneDNN, CUDA drivers, CPU features) and the CPU-features line's continuation.
NOISE = (
    re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called"),
    re.compile(r"^I\d{4} [\d:.]+\s+\d+ [\w.]+:\d+\] "),
    re.compile(r"^To enable the following instructions: .*rebuild TensorFlow"),
)
#: Without an NVIDIA driver, TensorFlow's CUDA build logs a failed ``cuInit`` at ERROR level: no error there.
NO_DRIVER_NOISE = re.compile(r"^E\d{4} [\d:.]+\s+\d+ [\w.]+:\d+\] failed call to cuInit")


def is_noise(line: str, nvidia_driver: bool) -> bool:
    """Whether ``line`` is one of TensorFlow's start-up notices (not an error or warning of substance)."""
    return any(p.match(line) for p in NOISE) or (not nvidia_driver and bool(NO_DRIVER_NOISE.match(line)))


def filtering_wanted(environ=os.environ) -> bool:
    """Filter only where TensorFlow is the backend and not loaded yet, unless the user asked for every log line."""
    backend = environ.get("KERAS_BACKEND", "tensorflow")
    wants_all = environ.get("TF_CPP_MIN_LOG_LEVEL", "").strip() == "0"
    return backend == "tensorflow" and not wants_all and "tensorflow" not in sys.modules


@contextlib.contextmanager
def quiet_tensorflow_import():
    """While the body runs (the first ``import keras``), fd 2 goes to a file; its lines but the notices return."""
    if not filtering_wanted():
        yield
        return
    try:
        sys.stderr.flush()
        capture = tempfile.TemporaryFile()
    except (OSError, ValueError):  # no usable stderr or no temporary space: import unfiltered
        yield
        return
    saved = os.dup(2)
    with capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            driver = os.path.exists("/proc/driver/nvidia")
            kept = [
                line
                for line in capture.read().decode(errors="replace").splitlines(keepends=True)
                if not is_noise(line, driver)
            ]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def missing_backend(err: ModuleNotFoundError) -> None:
    """Keras could not load its backend (a ``pip install`` without an extra): one line naming the fix.

    From the ``kerascnn`` command (or ``python -m kerascnn``) the line goes to
    stderr and the process exits with status 2, no traceback; from an
    ``import kerascnn`` it is the ``ModuleNotFoundError``'s message. Any
    other missing module is raised as it was.
    """
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if err.name is None or err.name.split(".")[0] not in (*BACKENDS, "jaxlib"):
        raise err
    message = (
        f"Keras' backend is {backend!r} (KERAS_BACKEND), but {err.name.split('.')[0]!r} is not installed. "
        f'Install the kit with that backend: pip install "kerascnn[{backend}]" (from a checkout: '
        f'pip install ".[{backend}]"); or set KERAS_BACKEND to an installed one ({", ".join(BACKENDS)}).'
    )
    global BACKEND_ERROR
    if running_the_command():
        if _asks_only_help_or_version():  # answered without a backend; any other command ends in main()
            BACKEND_ERROR = message
            return
        print(f"kerascnn: error: {message}", file=sys.stderr)
        raise SystemExit(2)
    raise ModuleNotFoundError(message, name=err.name) from None


#: Why Keras could not load, when the command went on without it for ``--help`` / ``--version``.
BACKEND_ERROR: str | None = None


def interrupted_while_starting() -> None:
    """Ctrl-C while Keras (and TensorFlow) load: the command exits 130 with one line; an import re-raises it."""
    if not running_the_command():
        raise KeyboardInterrupt
    print("\nkerascnn: interrupted while starting (nothing was done)", file=sys.stderr)
    raise SystemExit(130)


def _asks_only_help_or_version() -> bool:
    """The command line asks for help or the version, which argparse answers before any command runs."""
    return any(arg in ("-h", "--help", "--version") for arg in sys.argv[1:])


def running_the_command() -> bool:
    """Whether this process is the ``kerascnn`` console script or ``python -m kerascnn``."""
    argv = getattr(sys, "orig_argv", sys.argv)
    as_module = "-m" in argv[:-1] and argv[argv.index("-m") + 1] == "kerascnn"
    return as_module or bool(sys.argv) and os.path.basename(sys.argv[0]) == "kerascnn"
