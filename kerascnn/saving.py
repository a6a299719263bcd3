"""Loading a model file someone handed the kit: checked and bounded before Keras reads it.

``kerascnn evaluate``, a transfer ``backbone`` file and ``weights`` from a
``.keras`` file all open files the kit did not write. Keras'
``load_model`` trusts them: a ``.keras`` zip without ``config.json`` is a
``KeyError``, a config nested 200,000 levels deep a ``RecursionError``, one
that inflates to gigabytes is read whole into memory, and one naming
``subprocess.Popen`` fails with a bare ``TypeError``. :func:`check_model_file`
reads at most :data:`MAX_CONFIG_BYTES` of the config, measures its depth
without recursion and accepts only classes of Keras, of the kit or registered
with Keras (``keras.saving.register_keras_serializable``); :func:`load_model`
then hands the file to Keras (``safe_mode`` on) and words any failure as a
``ValueError`` naming the file.
"""

from __future__ import annotations

import json
import os
import zipfile

#: The most ``config.json`` may hold, uncompressed (EfficientNet-B7's is under 1 MB).
MAX_CONFIG_BYTES = 64 * 2**20
#: The deepest nesting of lists and objects a config may have (a model inside a model is about 20).
MAX_CONFIG_DEPTH = 200
#: Modules whose classes a model may name without being registered.
TRUSTED_PACKAGES = ("keras", "kerascnn")
H5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def check_model_file(path: str | os.PathLike, what: str = "model file") -> None:
    """Raise ``ValueError`` (``FileNotFoundError`` if absent) unless ``path`` is a model Keras can safely load.

    A ``.keras`` zip needs a ``config.json`` within the size and depth bounds
    that names only trusted or registered classes; a legacy HDF5 file is left
    to Keras. ``what`` names the file in messages (e.g. ``"`backbone`"``).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} {path!r}: no such file")
    with open(path, "rb") as f:
        if f.read(len(H5_SIGNATURE)) == H5_SIGNATURE:
            return
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{what} {path!r} is not a Keras model: neither a .keras archive (zip) nor HDF5 (.h5)")
    with zipfile.ZipFile(path) as archive:
        if "config.json" not in archive.namelist():
            raise ValueError(
                f"{what} {path!r} has no config.json: not a model saved with model.save() (a .weights.h5 "
                "file holds weights only, to be loaded into a built model)"
            )
        with archive.open("config.json") as member:
            text = member.read(MAX_CONFIG_BYTES + 1)
    if len(text) > MAX_CONFIG_BYTES:
        raise ValueError(
            f"{what} {path!r}: its config.json is larger than {MAX_CONFIG_BYTES // 2**20} MiB uncompressed; "
            "a model's configuration is far smaller, so it is not read"
        )
    try:
        config = json.loads(text)
    except RecursionError:
        raise ValueError(f"{what} {path!r}: its config.json nests deeper than {MAX_CONFIG_DEPTH} levels") from None
    except ValueError as err:
        raise ValueError(f"{what} {path!r}: its config.json is not valid JSON ({err})") from None
    _check_config(config, what, path)


def _check_config(config, what: str, path: str) -> None:
    """Depth and named classes, walked with a stack (no recursion, so no depth can overflow it)."""
    from keras.saving import get_custom_objects

    registered = get_custom_objects()
    stack = [(config, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_CONFIG_DEPTH:
            raise ValueError(f"{what} {path!r}: its config.json nests deeper than {MAX_CONFIG_DEPTH} levels")
        if isinstance(node, dict):
            module = node.get("module")
            if isinstance(module, str) and "class_name" in node:
                trusted = module.split(".")[0] in TRUSTED_PACKAGES or node.get("registered_name") in registered
                if not trusted:
                    raise ValueError(
                        f"{what} {path!r} names {str(node['class_name'])[:80]!r} from module {module[:80]!r}, "
                        "which is neither Keras' nor the kit's: register that class with "
                        "keras.saving.register_keras_serializable and import its module first (nothing was run)"
                    )
            stack.extend((value, depth + 1) for value in node.values())
        elif isinstance(node, list):
            stack.extend((value, depth + 1) for value in node)


def load_model(path: str | os.PathLike, what: str = "model file", compile: bool = False):
    """``keras.saving.load_model`` of a checked file (:func:`check_model_file`); a failure is one ``ValueError``."""
    import keras  # the kit's serializable layers are registered by ``import kerascnn``, which ran to get here

    check_model_file(path, what)
    try:
        return keras.saving.load_model(path, compile=compile)
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError, zipfile.BadZipFile) as err:
        reason = str(err).strip().splitlines()[0][:300] if str(err).strip() else type(err).__name__
        raise ValueError(f"{what} {os.fspath(path)!r} cannot be loaded by Keras: {reason}") from None
