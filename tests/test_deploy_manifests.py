"""The Kubernetes manifests and the compose file are valid and hang together.

Built-in kinds are validated offline and strictly (unknown fields fail) with kubernetes-validate's
bundled schemas; KEDA's kinds against tests/schemas/keda.sh-v1alpha1.json (written from KEDA's
documented fields: KEDA's CRDs are not bundled anywhere installable). Then the links a schema cannot
see: what the scaler and the budgets point at, probes, resources, the drain inside the grace period,
and the scaler's query run on a real PostgreSQL queue.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import sqlalchemy as sa
import yaml

from storage import queue
from storage.db import get_engine
from storage.jobs import Job, JobState
from storage.models import utcnow

ROOT = Path(__file__).resolve().parents[1]
K8S_VERSION = "1.30.0"  # the oldest Kubernetes these manifests are written for (CronJob timeZone is GA there)
KEDA_SCHEMA = json.loads((ROOT / "tests/schemas/keda.sh-v1alpha1.json").read_text())


def _docs() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted((ROOT / "deploy/k8s").glob("*.yaml")):
        out += [(path.name, d) for d in yaml.safe_load_all(path.read_text()) if d]
    return out


def _by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _f, d in _docs() if d["kind"] == kind}


def _pod_specs() -> list[tuple[str, dict[str, Any]]]:
    specs = []
    for _f, d in _docs():
        if d["kind"] in ("Deployment", "DaemonSet"):
            specs.append((d["metadata"]["name"], d["spec"]["template"]["spec"]))
        elif d["kind"] == "CronJob":
            specs.append((d["metadata"]["name"], d["spec"]["jobTemplate"]["spec"]["template"]["spec"]))
    return specs


@pytest.mark.parametrize("name,doc", _docs(), ids=lambda v: v if isinstance(v, str) else v["metadata"]["name"])
def test_every_manifest_validates_strictly_against_its_schema(name: str, doc: dict[str, Any]) -> None:
    """Each document of deploy/k8s is valid for its kind: Kubernetes' own schemas, or the KEDA schema."""
    if doc["apiVersion"].startswith("keda.sh/"):
        jsonschema.validate(doc, {**KEDA_SCHEMA, "$ref": f"#/$defs/{doc['kind']}"})
    else:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_validators_reject_what_a_cluster_would_ignore_or_refuse() -> None:
    """A misplaced field (the old `backoffLimit` on a CronJob) and a misspelt KEDA field both fail."""
    cron = _by_kind("CronJob")["callqc-dispose"]
    bad = {**cron, "spec": {**cron["spec"], "backoffLimit": 3}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)
    so = _by_kind("ScaledObject")["callqc-workers"]
    typo = {**so, "spec": {**so["spec"], "maxReplicas": 5}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(typo, {**KEDA_SCHEMA, "$ref": "#/$defs/ScaledObject"})
    no_target = {**so, "spec": {**so["spec"], "triggers": [{"type": "postgresql", "metadata": {"query": "x"}}]}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(no_target, {**KEDA_SCHEMA, "$ref": "#/$defs/ScaledObject"})


def test_scaler_and_budgets_point_at_real_workloads() -> None:
    """The ScaledObject scales the worker Deployment with a TriggerAuthentication that exists; every
    PodDisruptionBudget selects the pods of a Deployment."""
    deployments = _by_kind("Deployment")
    so = _by_kind("ScaledObject")["callqc-workers"]
    target = so["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "callqc-workers") and target["name"] in deployments
    auths = _by_kind("TriggerAuthentication")
    assert all(t["authenticationRef"]["name"] in auths for t in so["spec"]["triggers"])
    labels = [d["spec"]["template"]["metadata"]["labels"] for d in deployments.values()]
    pdbs = _by_kind("PodDisruptionBudget")
    assert set(pdbs) == {"callqc-workers", "callqc-recorder", "callqc-app"}
    for pdb in pdbs.values():
        wanted = pdb["spec"]["selector"]["matchLabels"]
        assert any(wanted.items() <= lab.items() for lab in labels), pdb["metadata"]["name"]


def test_every_container_has_resources_and_every_server_its_probes() -> None:
    """Memory and CPU requests everywhere; a readiness and a liveness probe on every long-running server."""
    for name, spec in _pod_specs():
        for c in spec["containers"]:
            requests = c.get("resources", {}).get("requests", {})
            assert {"cpu", "memory"} <= set(requests), name
    servers = {"callqc-recorder", "callqc-app", "callqc-siprec"}
    for name, spec in _pod_specs():
        if name in servers:
            c = spec["containers"][0]
            assert "readinessProbe" in c and "livenessProbe" in c, name
    recorder = _by_kind("Deployment")["callqc-recorder"]["spec"]["template"]["spec"]["containers"][0]
    assert (recorder["readinessProbe"]["httpGet"]["path"], recorder["livenessProbe"]["httpGet"]["path"]) == (
        "/healthz", "/livez")


def test_worker_drain_fits_inside_the_grace_period() -> None:
    """The worker's drain (CALLQC_WORKER_DRAIN_S) ends before Kubernetes kills the pod."""
    spec = _by_kind("Deployment")["callqc-workers"]["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in spec["containers"][0].get("env", [])}
    assert float(env["CALLQC_WORKER_DRAIN_S"]) + 10 <= spec["terminationGracePeriodSeconds"]


def test_siprec_rtp_range_matches_the_settings_bounds() -> None:
    """The SIPREC DaemonSet names an even-started RTP range inside the setting's allowed bounds."""
    from storage.settings import Settings

    c = _by_kind("DaemonSet")["callqc-siprec"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in c["env"]}
    low, high = int(env["CALLQC_SIPREC_RTP_PORT_MIN"]), int(env["CALLQC_SIPREC_RTP_PORT_MAX"])
    Settings(siprec_rtp_port_min=low, siprec_rtp_port_max=high)  # within the declared bounds
    assert low % 2 == 0 and high - low >= 1000
    assert {(p["containerPort"], p["protocol"]) for p in c["ports"]} == {(5060, "UDP"), (5060, "TCP")}


def test_compose_runs_minio_distributed_on_four_nodes() -> None:
    """Four MinIO nodes, one drive each, found by the `minio{1...4}` expansion (erasure-coded), behind
    `minio`, which callqc's settings name."""
    compose = yaml.safe_load((ROOT / "deploy/compose.yaml").read_text())
    nodes = {n: s for n, s in compose["services"].items() if n.startswith("minio") and n != "minio"}
    assert sorted(nodes) == ["minio1", "minio2", "minio3", "minio4"]
    for name, svc in nodes.items():
        assert "http://minio{1...4}:9000/data" in svc["command"] and svc["hostname"] == name
        assert svc["volumes"] == [f"{name}:/data"]
    assert set(compose["services"]["minio"]["depends_on"]) == set(nodes)
    conf = (ROOT / "deploy/minio-nginx.conf").read_text()
    assert all(f"server {n}:9000" in conf for n in nodes)
    assert "CALLQC_S3_ENDPOINT=minio:9000" in (ROOT / "deploy/.env.example").read_text()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_scalers_query_counts_due_and_running_jobs_on_postgresql(db_url: str) -> None:
    """KEDA's query runs on the real schema and counts what needs a worker: due and running jobs, not
    jobs waiting out a back-off, done or dead ones."""
    query = _by_kind("ScaledObject")["callqc-workers"]["spec"]["triggers"][0]["metadata"]["query"]
    from datetime import timedelta

    later = utcnow() + timedelta(hours=1)
    cases = [("queued", utcnow()), ("queued", utcnow()), ("running", utcnow()), ("done", utcnow()),
             ("dead", utcnow()), ("queued", later)]  # the last is waiting out a back-off
    rows = [Job(kind="score", state=JobState(s), run_after=at).model_dump(exclude={"id"}) for s, at in cases]
    with get_engine().begin() as conn:
        conn.execute(sa.insert(queue.jobs), rows)
        assert conn.execute(sa.text(query)).scalar_one() == 3
