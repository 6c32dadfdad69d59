"""callqc: call recording and quality inspection for contact centers.

This package is the front door (the `callqc` command and the worker processes) and sits on top of
the other packages: review_app, scoring, transcribe, recorder and storage (docs/architecture.md).
"""

__version__ = "0.1.0"
