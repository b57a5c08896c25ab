"""The exceptions xsell raises.

Library code raises one of these with a message that says what was wrong,
where (column, row, file) and what to do; only the CLI turns them into a
one-line message and exit code 1.
"""

from __future__ import annotations


class XsellError(Exception):
    """Base class of every error xsell raises on purpose."""


class InputError(XsellError, ValueError):
    """Bad input data or arguments: a missing column, null ids, a bad value."""


class ModelFileError(XsellError):
    """A model file that is missing, damaged, of another format or crafted."""


class NotFittedError(XsellError):
    """A model was used before `fit` (or `from_counts`) was called."""
