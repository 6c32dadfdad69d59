"""Several rubrics: selection rules pick a rubric per queue, direction or campaign; versions kept."""

from __future__ import annotations

import os
import subprocess
import sys

from scoring.handler import handle
from scoring.rubric import active_rubric
from scoring.versions import register_rubric
from storage.calls import Call
from storage.db import session
from storage.evaluations import current_evaluation
from storage.jobs import JobContext
from storage.rubric_rules import add_rule
from tests.scoring_calls import good_call, store_call
from tests.test_loop_autosubmit import rubric


def _call(s, call_id: str, *, queue: str, direction: str = "inbound", campaign: str | None = None,
          tenant: str = "default") -> None:
    store_call(s, call_id, good_call(), direction=direction, meta={"campaign": campaign} if campaign else None)
    c = s.get(Call, call_id)
    c.queue, c.tenant = queue, tenant
    s.add(c)


def test_the_most_specific_rule_picks_each_calls_rubric(db_url):
    v1, v2 = rubric(1), rubric(2, '"thank you for calling", "welcome to"')
    with session() as s:
        register_rubric(s, v1)
        register_rubric(s, v2)
        add_rule(s, rubric_id="short", rubric_version=1, queue="billing", created_by="t")
        add_rule(s, rubric_id="short", rubric_version=2, queue="billing", direction="outbound", created_by="t")
        add_rule(s, rubric_id="short", rubric_version=2, campaign="spring-sale", created_by="t")
        _call(s, "billing-in", queue="billing")
        _call(s, "billing-out", queue="billing", direction="outbound")
        _call(s, "support-in", queue="support")
        _call(s, "sale", queue="support", campaign="spring-sale")
        _call(s, "other-tenant", queue="billing", tenant="bank-b")  # rules belong to their tenant
    for n, cid in enumerate(["billing-in", "billing-out", "support-in", "sale", "other-tenant"]):
        handle(JobContext(job_id=n, kind="score", call_id=cid))
    default = active_rubric().key
    with session() as s:
        used = {cid: (ev.rubric_id, ev.rubric_version) for cid in
                ("billing-in", "billing-out", "support-in", "sale", "other-tenant")
                if (ev := current_evaluation(s, cid, kind="auto")) is not None}
    assert used == {"billing-in": ("short", 1), "billing-out": ("short", 2), "support-in": default,
                    "sale": ("short", 2), "other-tenant": default}


def test_rubric_assign_cli_stores_the_version_and_the_rule(sqlite_db, tmp_path):
    path = tmp_path / "short.yaml"
    path.write_text(rubric(1).yaml_text, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    r = subprocess.run([sys.executable, "-m", "callqc", "rubric", "assign", str(path), "--queue", "billing"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "short v1 for tenant default queue=billing direction=* campaign=*" in r.stdout
    listed = subprocess.run([sys.executable, "-m", "callqc", "rubric", "rules"], capture_output=True, text=True,
                            env=env).stdout
    assert "billing" in listed and "short v1" in listed
    r = subprocess.run([sys.executable, "-m", "callqc", "rubric", "assign", str(path), "--direction", "sideways"],
                       capture_output=True, text=True, env=env)
    assert r.returncode != 0 and "sideways" in r.stderr and len(r.stderr.strip().splitlines()) == 1
