"""The QA domain: versioned rubrics, rule checks, conversation metrics, score arithmetic, evidence,
learned items and agreement with inspectors (pure logic where possible; storage in storage/evaluations.py).

Entry points: :func:`scoring.rubric.load_rubric`, :func:`scoring.autoscore.evaluate` (a
:class:`scoring.conversation.Conversation` against a rubric) and :func:`scoring.handler.handle` (the
``score`` job). See docs/scoring.md.
"""
