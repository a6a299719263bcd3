"""One home for argument checks and their error messages.

Every check raises ``ValueError`` in the Keras style: which argument, what is
allowed, and ``Received: arg=value``. Builders, layer blocks and the geometry
module all call these helpers, so a message is written once and reads the same
everywhere.
"""

from __future__ import annotations

import difflib
import math
import numbers
import re
import reprlib
from typing import Any, Iterable, Sequence

#: What data of each spatial rank is called, everywhere a message names it (``data.layout`` uses these words).
RANK_NAMES = {1: "signals", 2: "images", 3: "volumes"}

#: A run's ``name``: one plain folder name, so the run directory ``<out>/<name>`` never leaves ``--out``.
NAME_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,100}")
NAME_RULE = (
    "a plain folder name: 1 to 100 letters, digits, '.', '_' or '-', not '.' or '..' "
    "(the run directory is <out>/<name>)"
)


_SHOWN = reprlib.Repr()
_SHOWN.maxlevel, _SHOWN.maxlist, _SHOWN.maxdict, _SHOWN.maxstring, _SHOWN.maxother = 3, 8, 8, 200, 200


def shown(value: Any) -> str:
    """``repr(value)`` bounded in depth and length: a message never expands a huge or aliased value."""
    text = _SHOWN.repr(value)
    return text if len(text) <= 300 else text[:296] + " ..."


def invalid(arg: str, value: Any, expected: str) -> ValueError:
    """Build the standard error for ``arg``: what was expected and what came."""
    return ValueError(f"Invalid `{arg}`: expected {expected}. Received: {arg}={shown(value)}")


def did_you_mean(value: Any, candidates: Iterable[Any]) -> str:
    """A `` (did you mean 'x'?)`` hint for a misspelt string, or ``""``."""
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, [str(c) for c in candidates], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_choice(arg: str, value: Any, choices: Sequence[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``; otherwise raise naming them."""
    try:
        ok = value in choices
    except TypeError:  # unhashable against a set-like container
        ok = False
    if ok:
        return value
    allowed = ", ".join(repr(c) for c in choices)
    raise ValueError(
        f"Invalid `{arg}`{did_you_mean(value, choices)}: allowed values are {allowed}. Received: {arg}={value!r}"
    )


def is_int(value: Any) -> bool:
    """True for Python/NumPy integers, False for bools (``True`` is not a size)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """True for Python/NumPy real numbers, False for bools (``True`` is not a rate)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_finite(value: Any) -> bool:
    """A real number that is neither infinite nor NaN (a learning rate of ``.inf`` trains nothing)."""
    return is_number(value) and math.isfinite(value)


def check_int(arg: str, value: Any, min_value: int = 1) -> int:
    """An integer ``>= min_value``."""
    if not is_int(value) or value < min_value:
        raise invalid(arg, value, f"an integer >= {min_value}")
    return int(value)


def check_positive(arg: str, value: Any, expected: str = "a positive number") -> float:
    """A number > 0 (not a bool), e.g. a learning rate or a width multiplier; ``expected`` says what it is."""
    if not is_number(value) or not value > 0:
        raise invalid(arg, value, expected)
    return float(value)


def check_fraction(arg: str, value: Any) -> float:
    """A number in ``[0, 1]`` (not a bool), e.g. a squeeze-and-excitation ratio."""
    if not is_number(value) or not 0 <= value <= 1:
        raise invalid(arg, value, "a fraction in [0, 1]")
    return float(value)


def check_rate(arg: str, value: Any) -> float:
    """A probability-like rate in ``[0, 1)``, e.g. a dropout rate."""
    if not is_number(value) or not 0 <= value < 1:
        raise invalid(arg, value, "a number in [0, 1)")
    return float(value)


def check_bool(arg: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise invalid(arg, value, "True or False")
    return value


def int_tuple(arg: str, value: Any, rank: int, min_value: int = 1) -> tuple[int, ...]:
    """Normalise an int or a length-``rank`` sequence of ints to a tuple.

    ``3`` becomes ``(3, 3)`` for rank 2; ``(1, 3)`` stays as it is.
    """
    if is_int(value):
        value_t = (value,) * rank
    elif isinstance(value, (tuple, list)) and len(value) == rank and all(is_int(v) for v in value):
        value_t = tuple(value)
    else:
        raise invalid(arg, value, f"an integer or a tuple of {rank} integers")
    if any(v < min_value for v in value_t):
        raise invalid(arg, value, f"integers >= {min_value}")
    return tuple(int(v) for v in value_t)


def check_keys(arg: str, mapping: Any, allowed: Iterable[str]) -> dict:
    """A dict whose keys are all in ``allowed``; an unknown key gets a did-you-mean."""
    if not isinstance(mapping, dict):
        raise invalid(arg, mapping, "a dict")
    allowed = sorted(allowed)
    for key in mapping:
        if key not in allowed:
            raise ValueError(
                f"Unknown key `{arg}.{key}`{did_you_mean(key, allowed)}. "
                f"Allowed keys: {', '.join(allowed)}. Received: {arg}={mapping!r}"
            )
    return mapping


def check_name(name: Any) -> str:
    """A run name is one plain folder name: letters, digits, ``.``, ``_``, ``-`` (:data:`NAME_RULE`)."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or name in (".", ".."):
        raise invalid("name", name, NAME_RULE)
    return name
