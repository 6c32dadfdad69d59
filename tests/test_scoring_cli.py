"""The scoring CLI: `callqc rubric check`, `callqc rescore`, `callqc agreement`, `callqc model train`."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from callqc.cli import scoring as scoring_cli
from scoring.evaluations import evaluation_json
from storage.db import session
from tests.scoring_calls import good_call, store_call
from tests.test_scoring_rubric import CONTRACT

runner = CliRunner()


def cli(*args: str):
    app = typer.Typer()
    scoring_cli.register(app)
    return runner.invoke(app, list(args))


def test_rubric_check_accepts_the_default_and_names_the_line_of_an_error(tmp_path):
    """A good rubric prints its hash and items; a bad one fails naming file and line."""
    from scoring.rubric import DEFAULT_RUBRIC, RubricInvalid

    ok = cli("rubric", "check", str(DEFAULT_RUBRIC))
    assert ok.exit_code == 0 and "content hash" in ok.output and "greeting" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(CONTRACT.replace("points: 10\n        critical", "points: -1\n        critical"))
    res = cli("rubric", "check", str(bad))
    assert isinstance(res.exception, RubricInvalid)
    assert f"{bad}:16: sections[0].items[1].points" in str(res.exception)
    worse = tmp_path / "worse.yaml"
    worse.write_text(CONTRACT.replace("points: 10\n        critical", "points: -1\n        critical")
                     .replace("weight: 70", "weight: heavy"))
    res = cli("rubric", "check", str(worse))
    assert "2 problems" in str(res.exception)
    assert f"{worse}:16: sections[0].items[1].points" in res.output and f"{worse}:21:" in res.output


def test_rescore_adds_a_version_and_agreement_reports_nothing_yet(sqlite_db, tmp_path):
    """rescore scores every transcribed call with the new version; agreement with no reviews says so."""
    with session() as s:
        store_call(s, "r-1", good_call())
    v2 = tmp_path / "v2.yaml"
    v2.write_text(CONTRACT.replace("version: 1", "version: 2"))
    res = cli("rescore", "--rubric", str(v2), "--since", "2026-11-01")
    assert res.exit_code == 0, res.output
    assert "rescored 1 call(s) with inbound-service version 2" in res.output
    with session() as s:
        assert evaluation_json(s, "r-1")["rubric"]["version"] == 2
    assert "no reviewed calls" in cli("agreement").output
    res = cli("model", "train", "empathy", "--rubric", str(v2))
    assert res.exit_code != 0 and "too few labels" in res.output


def test_show_json_has_segments_metrics_and_the_evaluation_with_evidence(sqlite_db):
    """`callqc show CALL_ID --json` carries the transcript segments, the metrics and the evaluation."""
    import json

    from callqc.cli import show
    from scoring.handler import score_call
    from scoring.rubric import load_rubric

    with session() as s:
        store_call(s, "s-1", good_call())
        score_call(s, "s-1", load_rubric())
    app = typer.Typer()
    show.register(app)
    app.command("noop")(lambda: None)  # two commands, so `show` stays a named subcommand
    res = runner.invoke(app, ["show", "s-1", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["transcript"]["segments"][0]["text"].startswith("Thank you for calling")
    assert doc["metrics"]["talk_s"]["agent"] > 0 and doc["metrics"]["schema"] == 1
    ev = doc["evaluation"]
    assert (ev["schema"], ev["call_id"], ev["rubric"]["id"], ev["kind"]) == (1, "s-1", "default", "auto")
    greeting = next(i for i in ev["items"] if i["id"] == "greeting")
    assert greeting["auto_answer"] == "yes" and greeting["evidence"][0]["speaker"] == "agent"
    assert set(greeting["evidence"][0]) == {"kind", "start", "end", "speaker", "quote", "segment", "note"}
    played = doc["transcript"]["segments"][greeting["evidence"][0]["segment"]]
    assert played["idx"] == greeting["evidence"][0]["segment"] and played["speaker"] == "agent"
    assert doc["call"]["channels"] == 2  # the channel check's verdict: the greeting is on the agent side
    assert doc["channel_check"]["verdict"] == "ok" and doc["channel_check"]["reasons"]
