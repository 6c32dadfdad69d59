"""Live capture: a SIPREC recording server (RFC 7866/7865) and what it shares with the media-stream input.

Modules, one noun each: ``sipmsg`` (SIP messages), ``sdp`` (offers, answers, multipart bodies),
``rsmeta`` (recording metadata → channel map), ``rtp`` (packets, G.711, loss statistics, jitter
buffer), ``codecs`` (G.722 and Opus, clocks, wideband decoding), ``journal`` (the per-call journal
on local disk and the live audio tap), ``recording`` (WAV from a journal), ``live`` (a live call's
life in the database), ``session`` (SIP dialogs), ``media`` (RTP/RTCP sockets, batched reads),
``transport`` (SIP over UDP, TCP and TLS; refusals), ``upkeep`` (timers: flushes, fsyncs, RTP
timeouts, pause polls, retries), ``server`` (the SIP methods and each session's life). See
docs/recorder.md.
"""
