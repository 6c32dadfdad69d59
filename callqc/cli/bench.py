"""`callqc bench tune`: the fastest decoding settings on this machine that keep the word error rate."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from storage.errors import InvalidInput


def _ints(raw: str, what: str) -> list[int]:
    try:
        return [int(x) for x in raw.split(",") if x.strip()]
    except ValueError:
        raise InvalidInput(f"--{what} {raw!r}: give whole numbers separated by commas") from None


def _layouts(raw: str) -> list[tuple[int, int]]:
    out = []
    for part in (p.strip() for p in raw.split(",") if p.strip()):
        threads, sep, replicas = part.partition("x")
        if not sep or not threads.isdigit() or not replicas.isdigit():
            raise InvalidInput(f"--layouts {part!r}: write THREADSxREPLICAS, e.g. 1x2,2x1")
        out.append((int(threads), int(replicas)))
    return out


def register(app: typer.Typer) -> None:
    bench = typer.Typer(help="Measurements on this machine.", no_args_is_help=True)

    @bench.command("tune")
    def tune_cmd(
        folder: Path = typer.Argument(..., help="A folder of your recordings; `<name>.txt` next to one is its "
                                      "reference transcript (the call's words in time order)."),
        batch: str = typer.Option("1,4", help="Batch sizes to try."),
        beam: str = typer.Option("1,2,5", help="Beam widths to try (the largest is the careful reference)."),
        layouts: str = typer.Option("1x2,2x1", help="Threads per replica × replicas to try."),
        max_wer_loss: float = typer.Option(0.5, min=0.0, help="WER points a faster setting may lose against the "
                                           "most careful one."),
        model: str = typer.Option(None, help="Model name (default: the configured one)."),
        write: Path = typer.Option(None, help="Env file to set the chosen CALLQC_ lines in (e.g. .env, which the "
                                   "settings read); default: print them."),
        json_out: Path = typer.Option(None, "--json", help="Also write every trial's figures as JSON here."),
    ) -> None:
        """Sweep batch size, beam and threads × replicas on your calls; keep the fastest that keeps WER."""
        from storage.settings import get_settings
        from transcribe.compute import ComputeSettings
        from transcribe.models import resolve_model
        from transcribe.tuning import choose, env_lines, load_calls, settings_grid, sweep, write_env

        grid = settings_grid(_ints(batch, "batch"), _ints(beam, "beam"), _layouts(layouts))
        calls = load_calls(folder)
        with_refs = all(c.reference is not None for c in calls)
        seconds = sum(c.audio.duration_s for c in calls)
        typer.echo(f"{len(calls)} calls, {seconds:.0f} s of audio, {len(grid)} settings; WER against "
                   + ("your references" if with_refs else f"the beam-{max(_ints(beam, 'beam'))} output"))
        trials = sweep(resolve_model(model), calls, grid, language=get_settings().asr_language,
                       compute=ComputeSettings.from_settings())
        best = choose(trials, max_wer_loss=max_wer_loss)
        for t in sorted(trials, key=lambda t: -t.speed):
            mark = "  <- chosen" if t is best else ""
            typer.echo(f"{t.speed:7.2f}× real time  WER {t.wer:5.1f} %  {t.setting.label()}{mark}")
        lines = env_lines(best.setting)
        if json_out is not None:
            json_out.write_text(json.dumps({"with_references": with_refs, "chosen": lines, "trials": [
                {"batch_size": t.setting.batch_size, "beam_size": t.setting.beam_size,
                 "cpu_threads": t.setting.cpu_threads, "num_workers": t.setting.num_workers,
                 "speed": t.speed, "wer": t.wer} for t in trials]}, indent=2) + "\n", encoding="utf-8")
        if write is not None:
            write_env(write, lines)
            typer.echo(f"wrote {', '.join(lines)} to {write}")
        else:
            typer.echo("\n".join(lines))

    app.add_typer(bench, name="bench")
