"""Learned (``model``) items: scikit-learn classifiers trained from inspectors' final answers.

Features: the agent's turns of a call as TF-IDF character n-grams
(1-3, word-boundary aware), which works for Chinese without word segmentation. A mono call has no
agent turns (its speech is unattributed): it is neither trained on nor judged, because the customer's
words would sway the model either way; the item answers insufficient. Classifier: logistic
regression with balanced class weights inside ``CalibratedClassifierCV`` (sigmoid), so the output is
a calibrated probability of "yes". Model files are joblib pickles in the models bucket under
``models/<name>/v<NNNNNN>.joblib`` with a JSON report next to them; a new training run adds a new
version and never touches old ones or the evaluations scored with them (each item row keeps the
model version that answered it). Only load models from a bucket you trust: a pickle runs code.
"""

from __future__ import annotations

import io
import json
import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from scoring import evidence as ev
from scoring.checks import CheckResult
from scoring.conversation import Conversation, load_conversation
from scoring.rubric import Answer, ModelCheck, Rubric
from storage.calls import Call
from storage.errors import InvalidInput, NotFound
from storage.evaluations import Evaluation, EvaluationItem, FinalSource
from storage.keys import model_key
from storage.models import utcnow
from storage.objectstore import ObjectNotFound, ObjectStore
from storage.segments import Segment
from storage.settings import get_settings
from storage.stores import get_store

log = logging.getLogger(__name__)
MIN_PER_CLASS = 4  # cross-validation and calibration need a few of each answer


@dataclass
class TrainingReport:
    model: str
    item_id: str
    labels: dict[str, int]
    trained: bool
    reason: str = ""
    version: int | None = None
    folds: int = 0
    cv_accuracy: float | None = None
    cv_kappa: float | None = None
    created_at: str = field(default_factory=lambda: utcnow().isoformat())

    def lines(self) -> list[str]:
        out = [f"model {self.model} (item {self.item_id})",
               "labels: " + (", ".join(f"{k}={v}" for k, v in sorted(self.labels.items())) or "none")]
        if self.folds:
            out.append(f"{self.folds}-fold cross-validation: accuracy {self.cv_accuracy:.3f}, "
                       f"Cohen's kappa {self.cv_kappa:.3f}")
        out.append(f"stored as version {self.version}" if self.trained else f"not trained: {self.reason}")
        return out


def agent_turns(conv: Conversation) -> list[Segment]:
    """The agent's segments in order (none on a mono call: its speakers are unknown)."""
    return conv.of("agent") if "agent" in conv.channels else []


def agent_text(conv: Conversation) -> str:
    return "\n".join(s.text.strip() for s in agent_turns(conv) if s.text.strip())


def _pipeline(calibration_folds: int) -> Any:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, lowercase=True),
        CalibratedClassifierCV(LogisticRegression(max_iter=2000, class_weight="balanced"),
                               method="sigmoid", cv=calibration_folds),
    )


def fit(texts: list[str], labels: list[str], *, model: str, item_id: str,
        min_labels: int) -> tuple[Any | None, TrainingReport]:
    """Cross-validate and fit a classifier; (None, report) when there are too few labels."""
    from sklearn.metrics import accuracy_score, cohen_kappa_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    counts = Counter(labels)
    report = TrainingReport(model=model, item_id=item_id, labels=dict(counts), trained=False)
    least = min((counts.get(a, 0) for a in ("yes", "no")), default=0)
    if len(labels) < min_labels or least < MIN_PER_CLASS:
        report.reason = (f"too few labels: {len(labels)} (need {min_labels}, and at least {MIN_PER_CLASS} "
                         "of each of yes and no)")
        return None, report
    folds = min(5, max(2, least // 2))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    predicted = cross_val_predict(_pipeline(2), texts, labels, cv=cv)
    report.folds = folds
    report.cv_accuracy = float(accuracy_score(labels, predicted))
    report.cv_kappa = float(cohen_kappa_score(labels, predicted))
    pipe = _pipeline(min(3, least)).fit(texts, labels)
    report.trained = True
    return pipe, report


def labelled_examples(session: Session, item_id: str) -> list[tuple[str, str]]:
    """(call ID, final answer) of the newest inspector-final yes/no answer per call for ``item_id``."""
    stmt = (select(Evaluation.call_id, EvaluationItem.final_answer)
            .join(Evaluation, col(Evaluation.id) == EvaluationItem.evaluation_id)
            .where(EvaluationItem.item_id == item_id, EvaluationItem.final_source == FinalSource.human,
                   col(EvaluationItem.final_answer).in_(["yes", "no"]))
            .order_by(col(Evaluation.id)))
    newest: dict[str, str] = {}
    for call_id, answer in session.exec(stmt):
        newest[call_id] = str(answer)
    return sorted(newest.items())


# --- model files ----------------------------------------------------------------------------------------
def _versions(store: ObjectStore, name: str) -> list[int]:
    bucket = get_settings().bucket_models
    out = []
    for info in store.list(bucket, f"models/{name}/"):
        stem = info.key.rsplit("/", 1)[-1]
        if stem.startswith("v") and stem.endswith(".joblib") and stem[1:-7].isdigit():
            out.append(int(stem[1:-7]))
    return sorted(out)


def save_model(store: ObjectStore, pipe: Any, report: TrainingReport) -> int:
    """Store a trained model as the next version of its name; returns the version."""
    import joblib

    bucket = get_settings().bucket_models
    version = (_versions(store, report.model) or [0])[-1] + 1
    report.version = version
    meta = json.dumps(asdict(report), ensure_ascii=False, indent=2).encode()
    store.put_stream(bucket, model_key(report.model, version, "json"), io.BytesIO(meta), length=len(meta),
                     content_type="application/json")
    buf = io.BytesIO()
    joblib.dump(pipe, buf)
    data = buf.getvalue()
    # the model file goes last: a version counts only once its model file exists
    store.put_stream(bucket, model_key(report.model, version), io.BytesIO(data), length=len(data))
    log.info("train: stored model %s version %s", report.model, version)
    return version


def load_latest(store: ObjectStore, name: str) -> tuple[int, Any] | None:
    """(version, pipeline) of the newest model called ``name``, or None if never trained."""
    import joblib

    versions = _versions(store, name)
    if not versions:
        return None
    data = store.get_range(get_settings().bucket_models, model_key(name, versions[-1]))
    return versions[-1], joblib.load(io.BytesIO(data))


def model_item(rubric: Rubric, item_id: str) -> ModelCheck:
    it = rubric.item(item_id)
    if it is None:
        raise NotFound(f"item {item_id!r} in rubric {rubric.id} v{rubric.version}")
    if not isinstance(it.check, ModelCheck):
        raise InvalidInput(f"item {item_id!r} is a {it.check.kind} check, not a model check")
    return it.check


def train(
    session: Session, item_id: str, rubric: Rubric, *, store: ObjectStore | None = None,
) -> TrainingReport:
    """Train the model behind ``item_id`` from inspectors' final answers; store it if there are enough."""

    check = model_item(rubric, item_id)
    texts, labels = [], []
    for call_id, answer in labelled_examples(session, item_id):
        call = session.get(Call, call_id)
        if call is None:
            continue
        text = agent_text(load_conversation(session, call))
        if text:
            texts.append(text)
            labels.append(answer)
    pipe, report = fit(texts, labels, model=check.model, item_id=item_id,
                       min_labels=get_settings().model_min_labels)
    if pipe is not None:
        save_model(store or get_store(), pipe, report)
    return report


class ModelPredictor:
    """Answers ``model`` items with the newest stored model of each name (loaded once per instance)."""

    def __init__(self, store: ObjectStore | None = None) -> None:
        self._store = store
        self._cache: dict[str, tuple[int, Any] | None] = {}

    def _model(self, name: str) -> tuple[int, Any] | None:
        if name not in self._cache:

            self._store = self._store or get_store()
            try:
                self._cache[name] = load_latest(self._store, name)
            except ObjectNotFound:
                self._cache[name] = None
        return self._cache[name]

    def __call__(self, check: ModelCheck, conv: Conversation) -> CheckResult:
        found = self._model(check.model)
        if found is None:
            reason = f"model {check.model!r} is not trained yet (too few labels)"
            return CheckResult(Answer.insufficient, reason)
        version, pipe = found
        tag = f"{check.model}@v{version}"
        turns = agent_turns(conv)
        text = agent_text(conv)
        if not text:
            why = "no agent speech to judge" if "agent" in conv.channels else "mono recording: no agent turns"
            return CheckResult(Answer.insufficient, why, model_version=tag)
        classes = list(pipe.classes_)
        p_yes = float(pipe.predict_proba([text])[0][classes.index("yes")])
        if abs(p_yes - check.threshold) < check.margin:
            return CheckResult(Answer.insufficient, f"model unsure (p(yes)={p_yes:.2f})", confidence=p_yes,
                               model_version=tag)
        segs = [(i, s) for i, s in enumerate(conv.segments) if s.text.strip() and s in turns]
        if p_yes >= check.threshold:
            probs = pipe.predict_proba([s.text for _, s in segs])[:, classes.index("yes")]
            i, best = segs[int(probs.argmax())]
            evid = (ev.of_segment(best, i, note=f"most indicative turn (p={probs.max():.2f})"),)
            answer = Answer.yes
        else:
            evid = (ev.searched("agent", segs[0][1].start, segs[-1][1].end, "agent turns judged"),)
            answer = Answer.no
        return CheckResult(answer, f"model {tag}: p(yes)={p_yes:.2f}", evid, confidence=p_yes,
                           model_version=tag)
