"""The kit's version (one home: the package, the run marker and ``pip`` read it)."""

__version__ = "0.1.0"
