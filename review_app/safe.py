"""Untrusted text (transcripts, comments, metadata, names, IDs) shown as text, never as Markdown or HTML.

Streamlit reads Markdown in ``st.markdown``, ``st.write`` of a string, captions, titles, alerts,
and widget labels (links and images included). Every piece of data put into such a string goes
through :func:`md` first: it backslash-escapes every ASCII punctuation mark, which CommonMark then
shows literally, so ``![x](http://…)``, ``<img …>``, ``[a](javascript:…)``, ``:red[…]``,
``:material/…:`` and ``$…$`` are shown as typed and load nothing; bare addresses (``http://…``,
``www.…``, ``a@b.c``) get an invisible word joiner so they are not turned into links. Plain-text elements
(``st.text``, ``st.code``, dataframes) need no escaping.
"""

from __future__ import annotations

import re

_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")
# GFM turns bare addresses into links even when their punctuation is escaped; an invisible word
# joiner (U+2060) after the scheme's colon, inside "www." and before "@" keeps them plain text
_AUTOLINK = re.compile(r"(?i)(?<=[a-z0-9])(:)(?=//)|(?<=www)(\.)|(@)")
JOINER = "\u2060"


def md(value: object) -> str:
    """``value`` as Markdown source that renders exactly as its text (line breaks kept)."""
    text = "" if value is None else str(value)
    text = "".join(c if c.isprintable() or c in "\n\t" else "\ufffd" for c in text)
    text = _AUTOLINK.sub(lambda m: JOINER + m.group(0) if m.group(3) else m.group(0) + JOINER, text)
    return _PUNCT.sub(r"\\\1", text).replace("\n", "  \n")
