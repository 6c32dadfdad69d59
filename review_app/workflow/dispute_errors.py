"""The refusals of the dispute flow (reviews and auto-submitted evaluations alike)."""

from __future__ import annotations

from storage.errors import Conflict, Forbidden, InvalidInput


class DisputeWindowClosed(Forbidden):
    """the dispute window has closed"""


class DisputeOpen(Conflict):
    """a dispute is already open for this review"""


class DisputeNeedsReason(InvalidInput):
    """say why you dispute the evaluation"""


class NotYourReview(Forbidden):
    """only the agent of the call can acknowledge or dispute its review"""


class DisputeNotOpen(Conflict):
    """the dispute is no longer open"""


class AutoScoreNeedsReview(InvalidInput):
    """an auto-submitted score is changed by reviewing the call (it waits in the team queue), not here"""
