"""callqc: call recording and quality inspection for contact centers.

This package is the front door (the `callqc` command and the worker loop); the rooms are the
top-level packages recorder, transcribe, scoring, review_app and storage.
"""

__version__ = "0.1.0"
