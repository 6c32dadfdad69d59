"""The one base class for errors a person should read.

An exception's docstring is its message: the CLI prints ``str(exc)`` on one line and exits non-zero.
Subclasses add a detail (what, which file, which call) after the docstring's first line.
"""

from __future__ import annotations


class CallqcError(Exception):
    """callqc failed"""

    exit_code = 1

    def __init__(self, detail: str = "") -> None:
        self.detail = " ".join(str(detail).split())  # one line, always
        super().__init__(str(self))

    def __str__(self) -> str:
        head = (type(self).__doc__ or "error").strip().splitlines()[0].rstrip(".")
        return f"{head}: {self.detail}" if self.detail else head


class NotFound(CallqcError):
    """not found"""

    exit_code = 2


class Conflict(CallqcError):
    """conflict"""

    exit_code = 3


class InvalidInput(CallqcError):
    """invalid input"""

    exit_code = 4


class Forbidden(CallqcError):
    """not allowed"""

    exit_code = 5


class ServiceUnavailable(CallqcError):
    """service unavailable"""

    exit_code = 6
