"""`callqc model train`, `callqc agreement`, `callqc rescore`, `callqc flip-channels`, `callqc rubric check`:
the QA domain."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import typer

log = logging.getLogger(__name__)


def _since(value: str | None) -> datetime | None:
    from storage.errors import InvalidInput

    if value is None:
        return None
    try:
        d = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"--since {value!r}: use a date like 2026-11-01") from None
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def register(app: typer.Typer) -> None:
    rubric_app = typer.Typer(help="QA rubrics.", no_args_is_help=True)
    model_app = typer.Typer(help="Learned (model) rubric items.", no_args_is_help=True)

    @rubric_app.command("check")
    def rubric_check(file: Path = typer.Argument(..., help="Rubric YAML file.")) -> None:
        """Validate a rubric file; print its id, version, content hash and items."""
        from scoring.rubric import RubricInvalid, load_rubric, title_text

        try:
            loaded = load_rubric(file)
        except RubricInvalid as exc:
            if len(exc.problems) > 1:  # all of them, in file order; the one-line error closes the list
                for line in exc.problems:
                    typer.echo(line, err=True)
                raise RubricInvalid(f"{file}: {len(exc.problems)} problems (listed above)") from None
            raise
        r = loaded.rubric
        typer.echo(f"{r.id} version {r.version}: {title_text(r.title)} (pass mark {r.pass_mark:g} %)")
        typer.echo(f"content hash {loaded.content_hash}")
        for sec in r.sections:
            typer.echo(f"  [{sec.id}] weight {sec.weight:g}: {title_text(sec.title)}")
            for it in sec.items:
                crit = {True: " CRITICAL", "section": " critical(section)"}.get(it.critical, "")
                typer.echo(f"    {it.id:<20} {it.points:>4g} pts {it.check.kind:<12}{crit} "
                           f"{title_text(it.title)}")
        typer.echo("ok")

    @rubric_app.command("assign")
    def rubric_assign(
        file: Path = typer.Argument(..., help="Rubric YAML file (stored as its id + version)."),
        queue: str = typer.Option(None, help="Calls of this queue."),
        direction: str = typer.Option(None, help="Calls of this direction (inbound, outbound, internal)."),
        campaign: str = typer.Option(None, help="Calls whose record names this campaign (meta.campaign)."),
        tenant: str = typer.Option("default", help="Tenant of the calls."),
    ) -> None:
        """Score matching calls with this rubric from now on (the most specific rule wins)."""
        import getpass

        from scoring.rubric import load_rubric
        from scoring.versions import register_rubric
        from storage.db import migrate, session
        from storage.errors import InvalidInput
        from storage.rubric_rules import add_rule

        if direction is not None and direction not in ("inbound", "outbound", "internal"):
            raise InvalidInput(f"--direction {direction!r}: use inbound, outbound or internal")
        loaded = load_rubric(file)
        migrate()
        with session(write=True) as s:
            register_rubric(s, loaded)
            rule = add_rule(s, rubric_id=loaded.rubric.id, rubric_version=loaded.rubric.version, tenant=tenant,
                            queue=queue, direction=direction, campaign=campaign,
                            created_by=f"cli:{getpass.getuser()}")
        typer.echo(f"rule {rule.id}: {loaded.rubric.id} v{loaded.rubric.version} for tenant {tenant}"
                   f" queue={queue or '*'} direction={direction or '*'} campaign={campaign or '*'}")

    @rubric_app.command("rules")
    def rubric_rules() -> None:
        """List the rubric selection rules."""
        from storage.db import session
        from storage.rubric_rules import list_rules

        with session() as s:
            for r in list_rules(s):
                typer.echo(f"{r.id}\t{r.tenant}\t{r.queue or '*'}\t{r.direction or '*'}\t{r.campaign or '*'}\t"
                           f"{r.rubric_id} v{r.rubric_version}\t{'active' if r.active else 'off'}")

    @model_app.command("train")
    def model_train(
        item: str = typer.Argument(..., help="Item id of a `model` check in the rubric."),
        rubric: Path | None = typer.Option(None, help="Rubric file (default: the active rubric)."),
    ) -> None:
        """Train ITEM's classifier from inspectors' final answers and store a new model version."""
        from scoring.learned import train
        from scoring.rubric import active_rubric, load_rubric
        from storage.db import session
        from storage.errors import InvalidInput

        loaded = load_rubric(rubric) if rubric else active_rubric()
        with session() as s:
            report = train(s, item, loaded.rubric)
        for line in report.lines():
            typer.echo(line)
        if not report.trained:
            raise InvalidInput(f"model for {item!r} not trained: {report.reason}")

    @app.command("agreement")
    def agreement(days: int | None = typer.Option(None, help="Window in days (default: setting)")) -> None:
        """Per item: auto answer vs the inspector's final answer — agreement %, Cohen's kappa, confusion."""
        from rich.console import Console
        from rich.table import Table

        from scoring.agreement import item_agreements
        from storage.db import session

        with session() as s:
            rows = item_agreements(s, days=days)
        if not rows:
            typer.echo("no reviewed calls in the window")
            return
        table = Table("item", "reviewed", "agree %", "kappa", "undecided", "auto-submit",
                      "confusion (auto→final)")
        for a in rows:
            conf = ", ".join(f"{x}→{y}:{n}" for (x, y), n in sorted(a.confusion.items()))
            table.add_row(a.item_id, str(a.reviewed), "-" if a.agree_pct is None else f"{a.agree_pct:.1f}",
                          "-" if a.kappa is None else f"{a.kappa:.3f}", str(a.undecided),
                          "yes" if a.auto_submit else "no", conf)
        Console().print(table)

    @app.command("rescore")
    def rescore(
        rubric: Path = typer.Option(..., help="Rubric YAML (a new version; old evaluations are kept)."),
        since: str | None = typer.Option(None, help="Only calls started on or after this date (ISO)."),
    ) -> None:
        """Re-evaluate transcribed and scored calls under RUBRIC; earlier evaluations stay (inactive)."""
        from sqlmodel import col, select

        from scoring.conversation import TranscriptNotReady
        from scoring.handler import score_call
        from scoring.rubric import load_rubric
        from scoring.versions import register_rubric
        from storage.calls import Call, CallStatus
        from storage.db import session

        loaded = load_rubric(rubric)
        start = _since(since)
        with session() as s:
            register_rubric(s, loaded)
            q = select(Call.call_id).where(col(Call.status).in_([CallStatus.transcribed, CallStatus.scored]))
            if start is not None:
                q = q.where(Call.started_at >= start)
            call_ids = list(s.exec(q.order_by(col(Call.started_at))))
        done = skipped = 0
        for cid in call_ids:
            try:
                with session() as s:
                    score_call(s, cid, loaded)
                done += 1
            except TranscriptNotReady:
                skipped += 1
        r = loaded.rubric
        typer.echo(f"rescored {done} call(s) with {r.id} version {r.version}; {skipped} without transcript")

    @app.command("flip-channels")
    def flip_channels(
        call_id: str = typer.Argument(..., help="The call whose agent and customer channels are swapped."),
        reason: str = typer.Option(..., help="Why (kept in the audit log)."),
    ) -> None:
        """Swap a two-channel call's agent and customer channels: speakers re-attributed, a scored call
        scored again, audited under cli:<os user> (docs/scoring.md, "Channel check")."""
        import getpass

        from scoring.handler import flip_channels as flip
        from storage.db import session

        with session(write=True) as s:
            done, ev = flip(s, call_id, actor=f"cli:{getpass.getuser()}", reason=reason.strip()[:500])
        rescored = f"; scored again: {ev.total}" if ev is not None else ""
        typer.echo(f"{done.call_id}: channel map {done.before} -> {done.after}, {done.relabelled} segment(s) "
                   f"re-attributed{rescored}")

    app.add_typer(rubric_app, name="rubric")
    app.add_typer(model_app, name="model")
