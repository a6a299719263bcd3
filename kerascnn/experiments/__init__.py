"""The experiments that ship with the kit: ``kerascnn search NAME`` runs one from any folder.

Each is a commented YAML file beside this module (installed with the
package); ``kerascnn experiments`` lists them and ``kerascnn init FILE --from
NAME`` copies one to edit. The checkout's ``experiments/`` folder links to
these same files.
"""

from __future__ import annotations

from pathlib import Path

#: The experiment ``kerascnn search`` runs when given none.
DEFAULT = "digits"
HERE = Path(__file__).parent


def names() -> list[str]:
    """The built-in experiments' names, the default first."""
    found = sorted(p.stem for p in HERE.glob("*.yaml"))
    return sorted(found, key=lambda n: n != DEFAULT)


def path(name: str) -> Path | None:
    """The file of built-in experiment ``name`` (``digits`` or ``digits.yaml``), or ``None``."""
    stem = name[:-5] if name.endswith(".yaml") else name
    candidate = HERE / f"{stem}.yaml"
    return candidate if "/" not in name and stem in names() else None


def summary(name: str) -> str:
    """What a built-in experiment shows: the first sentence of its opening comment."""
    words = []
    for line in path(name).read_text().splitlines():
        text = line.lstrip("#").strip()
        if not line.startswith("#") or text.startswith("Run:"):
            break
        words.append(text)
    text = " ".join(words)
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]
