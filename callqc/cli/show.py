"""`callqc show [CALL_ID] [--json]`: one call (with transcript and evaluation), or the newest calls."""

from __future__ import annotations

import getpass
import json

import typer
from rich.console import Console
from rich.table import Table

from callqc.cli.redact import print_spans
from review_app.workflow import callview as views
from storage import audit
from storage.db import session
from storage.models import AuditAction
from storage.redactions import redactions_json, with_originals
from storage.segments import format_line


def _fmt_s(seconds: float) -> str:
    m, s = divmod(seconds, 60)
    return f"{int(m):02d}:{s:04.1f}"


def _print_call(doc: dict) -> None:
    c = doc["call"]
    console = Console()
    # Values came from outside (PBX metadata, error texts): printed as text, never as Rich markup.
    console.print(f"{c['call_id']}  status: {c['status']}" + (f"  error: {c['last_error']}" if c["last_error"] else ""),
                  markup=False, highlight=False)
    for label, key in (("agent", "agent_id"), ("team", "team"), ("queue", "queue"),
                       ("direction", "direction"), ("caller", "caller"), ("callee", "callee"),
                       ("started", "started_at")):
        if c.get(key):
            console.print(f"  {label:<10} {c[key]}", markup=False, highlight=False)
    console.print(f"  {'audio':<10} {c['codec']} {c['sample_rate']} Hz {c['channels']} ch, "
                  f"{_fmt_s(c['duration_s'])}, {c['size_bytes']} bytes, channel map {c['channel_map']}")
    console.print(f"  {'stored':<10} {c['audio_key']} sha256 {c['sha256'][:16]}…"
                  + ("" if c["hot_present"] else f" (archived {c['archived_at']})"))


def _print_results(doc: dict) -> None:
    console = Console()
    t = doc["transcript"]
    if t is not None:
        console.print(f"\n[bold]transcript[/bold] ({t['language']}, {t['model']['name']}"
                      + (", mono: speakers unknown" if t["mono"] else "") + ")")
        lines = [format_line(d["speaker"], d["start"], d["end"], d["text"]) for d in t["segments"]]
        for line in lines or ["(no speech)"]:
            console.print("  " + line, markup=False, highlight=False)
    m = doc["metrics"]
    if m is not None:
        console.print("\n[bold]metrics[/bold]")
        for key, value in m.items():
            if key not in ("schema", "call_id", "updated_at"):
                console.print(f"  {key:<20} {value}", markup=False, highlight=False)
    ev = doc["evaluation"]
    if ev is not None:
        verdict = "pass" if ev["passed"] else "fail"
        console.print(f"\n[bold]evaluation[/bold] {ev['rubric']['id']} v{ev['rubric']['version']}: "
                      f"{ev['total']:.1f} ({verdict}, pass mark {ev['pass_mark']}), critical {ev['critical_score']}"
                      + ("  [yellow]needs review[/yellow]" if ev["needs_review"] else ""))
        table = Table("item", "answer", "points", "evidence")
        for it in ev["items"]:
            ans = it["final_answer"] or it["auto_answer"] or ""
            evid = "; ".join(
                f"{e.get('speaker') or ''}@{_fmt_s(float(e['start']))} {e.get('quote') or e['kind']}".strip()
                for e in (it["evidence"] or [])[:2]
            )
            table.add_row(it["id"], str(ans), f"{it['earned'] or 0:g}/{it['possible'] or 0:g}", evid)
        console.print(table)


def _json(doc: object) -> str:
    text = json.dumps(doc, ensure_ascii=False, indent=2)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A row stored before metadata was checked may hold a lone surrogate, which cannot be printed
        # as UTF-8; as an ASCII escape it is still valid JSON, and the listing is not cut short.
        return json.dumps(doc, ensure_ascii=True, indent=2)
    return text


def _print_redactions(red: dict | None) -> None:
    console = Console()
    if red is None:
        console.print("\n[bold]redaction[/bold]: not checked yet (`callqc redact CALL`)")
        return
    console.print(f"\n[bold]redaction[/bold]: {red['hits']} span(s), audio: {red['audio']}"
                  + (", original text kept" if red["original_text_kept"] else ""))
    if red["spans"]:
        print_spans(red["spans"])


def register(app: typer.Typer) -> None:
    @app.command("show")
    def show_cmd(
        call_id: str = typer.Argument(None, help="Call ID; omit to list the newest calls."),
        as_json: bool = typer.Option(False, "--json", help="Print the documented JSON shape."),
        limit: int = typer.Option(50, min=1, max=1000, help="How many calls to list."),
        status: str = typer.Option(None, help="List only calls with this status."),
        original: bool = typer.Option(
            False, "--original", help="The original text of redacted segments, if kept (audited)."
        ),
    ) -> None:
        """Show a call, its status, transcript (redacted), what was redacted and its evaluation; without
        CALL_ID, list calls."""
        with session(write=original) as s:
            if call_id is not None:
                doc = views.call_json(s, call_id)
                doc["redactions"] = redactions_json(s, doc["call"]["call_id"])
                if original and doc["transcript"] is not None:
                    n = with_originals(s, doc["transcript"])
                    audit.record(s, f"cli:{getpass.getuser()}", AuditAction.view_original,
                                 call_id=doc["call"]["call_id"], source="cli", detail={"segments": n})
                if as_json:
                    typer.echo(_json(doc))
                else:
                    _print_call(doc)
                    _print_results(doc)
                    _print_redactions(doc["redactions"])
                return
            calls = views.list_calls(s, limit=limit, status=status)
            if as_json:
                typer.echo(_json([views.call_public(c) for c in calls]))
                return
            table = Table("call ID", "started", "agent", "queue", "duration", "status")
            for c in calls:
                table.add_row(c.call_id, f"{c.started_at:%Y-%m-%d %H:%M}", c.agent_id or "",
                              c.queue or "", _fmt_s(c.duration_s), str(c.status))
            Console().print(table)
