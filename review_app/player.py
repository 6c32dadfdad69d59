"""The audio player: an ``<audio>`` element fed by the media endpoint, with a waveform, a playhead,
click-to-seek, a clock and a speed control, in one self-contained component frame (no CDN, no files).

The browser fetches audio only from ``/v1/media/<call>?token=…`` (recorder/media.py): on the
recorder API when ``CALLQC_API_PUBLIC_URL`` is set, else on the review app's own server, which mounts
the same endpoint (review_app/server.py). The token is minted per user, call and play request
(storage/media_tokens.py, audited); stored calls are read with HTTP Range, so seeking fetches only
the part played. A live call plays the endpoint's chunked stream, with a running call clock and a
marker of when the listener joined.

Transcript lines and evidence links seek the player in place (:func:`seek_document`): a second,
invisible component frame calls the player frame's ``callqcSeek`` (both frames are this app's
own origin), so the audio element keeps its address and token and only its ``currentTime`` moves —
no reload, no new grant, no new audit row beyond the ranged reads the seek itself makes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from review_app.workflow.waveform import COLOURS, LANE_H, Envelope, svg
from storage.settings import get_settings

SPEEDS = (0.75, 1.0, 1.25, 1.5, 2.0)
CATCH_UP_S = 1.5  # a live player this far behind what it has received jumps ahead to 0.3 s behind it


@dataclass(frozen=True)
class PlayerText:
    """The player's words in the UI language (set as text by the script, never as HTML)."""

    speed: str
    live: str
    joined: str


def media_src(call_id: str, token: str, *, mixed: bool = False) -> str:
    """The address the browser plays: the API's when one is public, else this app's own."""
    base = (get_settings().api_public_url or "").rstrip("/")
    query = {"token": token, **({"channels": "mixed"} if mixed else {})}
    return f"{base}/v1/media/{quote(call_id, safe='')}?{urlencode(query)}"


def _js(value: object) -> str:
    """A value as a JavaScript literal that cannot end the script element."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def document(src: str, *, call_id: str = "", start_s: float, duration_s: float, labels: list[str], text: PlayerText,
         envelope: Envelope | None = None, live_from_s: float | None = None, nonce: int = 0) -> str:
    """The component's document. ``live_from_s`` set: a live stream joined at that second of the call."""
    live = live_from_s is not None
    wave = svg(envelope) if envelope is not None and not live else ""
    lanes = len(envelope.peaks) if wave and envelope is not None else 0
    options = "".join(f'<option value="{s}"{" selected" if s == 1.0 else ""}>{s:g}×</option>' for s in SPEEDS)
    return f"""<!-- play {nonce} -->
<div style="font-family:sans-serif;font-size:13px;color:#333">
<div id="lanes" style="display:flex;gap:12px"></div>
<div id="wave" style="position:relative;cursor:pointer;height:{LANE_H * lanes}px;background:#f6f7f9">{wave}
<div id="head" style="position:absolute;top:0;bottom:0;left:0;width:2px;background:#d33"></div></div>
<audio id="p" controls autoplay preload="metadata" style="width:100%"></audio>
<div><span id="clock"></span> · <label><span id="speedl"></span>
<select id="speed">{options}</select></label> <span id="mark"></span></div>
</div>
<script>
const SRC = {_js(src)}, START = {_js(float(start_s))}, DUR = {_js(float(duration_s))};
const LIVE_FROM = {_js(live_from_s)}, LABELS = {_js(labels[:lanes])}, COLOURS = {_js(COLOURS)};
const CATCH_UP_S = {_js(CATCH_UP_S)}, CALL = {_js(call_id)};
const TEXT = {_js({"speed": text.speed, "live": text.live, "joined": text.joined})};
const a = document.getElementById("p"), wave = document.getElementById("wave");
const head = document.getElementById("head"), clock = document.getElementById("clock");
const fmt = s => {{ s = Math.max(0, Math.floor(s)); const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
  const mm = String(m).padStart(2, "0"), ss = String(s % 60).padStart(2, "0");
  return h ? `${{h}}:${{mm}}:${{ss}}` : `${{mm}}:${{ss}}`; }};
LABELS.forEach((l, i) => {{ const e = document.createElement("span"); e.textContent = "■ " + l;
  e.style.color = COLOURS[i % COLOURS.length]; document.getElementById("lanes").appendChild(e); }});
document.getElementById("speedl").textContent = TEXT.speed + " ";
if (LIVE_FROM !== null) {{ document.getElementById("mark").textContent = TEXT.joined + " " + fmt(LIVE_FROM);
  wave.style.display = "none"; }}
const tick = () => {{
  if (LIVE_FROM !== null) {{
    // keep to the live edge: what the browser buffered before it started playing would stay as delay
    const n = a.buffered.length, edge = n ? a.buffered.end(n - 1) : 0;
    if (edge - a.currentTime > CATCH_UP_S) a.currentTime = edge - 0.3;
    clock.textContent = TEXT.live + " " + fmt(LIVE_FROM + a.currentTime); return; }}
  const d = isFinite(a.duration) && a.duration > 0 ? a.duration : DUR;
  clock.textContent = fmt(a.currentTime) + " / " + fmt(d);
  head.style.left = (d > 0 ? Math.min(100, 100 * a.currentTime / d) : 0) + "%";
}};
a.addEventListener("timeupdate", tick);
a.addEventListener("loadedmetadata", () => {{ if (START > 0 && LIVE_FROM === null) a.currentTime = START;
  a.play().catch(() => {{}}); tick(); }}, {{once: true}});
wave.addEventListener("click", e => {{ const r = wave.getBoundingClientRect();
  const d = isFinite(a.duration) && a.duration > 0 ? a.duration : DUR;
  a.currentTime = Math.max(0, Math.min(1, (e.clientX - r.left) / r.width)) * d; a.play().catch(() => {{}}); tick(); }});
document.getElementById("speed").addEventListener("change", e => {{ a.playbackRate = Number(e.target.value); }});
// the seek channel (seek_document): move in place; each seek once (a re-drawn frame repeats its number)
let seekSeen = 0;
window.callqcSeek = (call, at, k) => {{
  if (call !== CALL || LIVE_FROM !== null) return false;
  if (k <= seekSeen) return true;
  seekSeen = k;
  const go = () => {{ a.currentTime = at; a.play().catch(() => {{}}); tick(); }};
  if (a.readyState >= 1) go(); else a.addEventListener("loadedmetadata", go, {{once: true}});
  return true; }};
a.src = SRC;
tick();
</script>"""


def seek_document(call_id: str, at_s: float | None, k: int) -> str:
    """An invisible frame that seeks this call's player to ``at_s`` (seek number ``k``); None: nothing.

    It looks for the player among its parent page's frames and calls its ``callqcSeek``; the player
    applies each seek number once, so this frame drawn again (a rerun that moves it) does not jump back.
    """
    return f"""<!-- seek {k} -->
<script>
const CALL = {_js(call_id)}, AT = {_js(None if at_s is None else float(at_s))}, K = {_js(int(k))};
if (AT !== null) {{
  for (const f of window.parent.document.querySelectorAll("iframe")) {{
    try {{ const w = f.contentWindow;
      if (w && typeof w.callqcSeek === "function" && w.callqcSeek(CALL, AT, K)) break; }}
    catch (e) {{ /* a frame of another origin: not the player */ }}
  }}
}}
</script>"""


def height(envelope: Envelope | None, *, live: bool) -> int:
    lanes = len(envelope.peaks) if envelope is not None and not live else 0
    return LANE_H * lanes + 110
