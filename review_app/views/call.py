"""Call page: player, speaker timeline, transcript with click-to-seek, rubric with evidence, review form.

The call comes from ``?call=ID`` or the session (set by the queue and search pages); access is
decided by review_app.workflow.inspection.open_call, never here. A live call (``in_progress``) re-renders its
transcript every few seconds, so live monitoring can open in this same page.
"""

import secrets
from datetime import UTC, datetime

import streamlit as st

from review_app.i18n import answer_label, error_text, local_time, reason_label, t
from review_app.safe import md
from review_app.session import dbs, principal, source
from review_app.widgets import clock, evidence_text, player, seek, speaker_label, timeline
from review_app.workflow import live_transcript, sync_review
from review_app.workflow.evalview import HumanAnswers, Segment
from review_app.workflow.inspection import (
    ANSWERS,
    flip_channels,
    open_call,
    segments_for,
    still_live,
    submit_review,
)
from storage.access import Perm, can
from storage.errors import CallqcError
from storage.models import utcnow
from storage.reviews import ReviewMode, Verdict

PAGE_SIZE = 100
LIVE_REFRESH_S = 3
who = principal()
call_id = st.query_params.get("call") or st.session_state.get("call_id")
st.title(t("page_call"))
typed = st.text_input(t("call_id"), value=call_id or "", key="call_page_id")
if typed and typed != call_id:
    call_id = typed
if not call_id:
    st.info(t("pick_a_call"))
    st.stop()
try:
    with dbs() as s:
        # one "view" audit row per call opened, not one per widget click (each click reruns the page)
        first = st.session_state.get("viewed_call") != call_id
        view = open_call(s, who, call_id, source=source(), audit_view=first)
    st.session_state["viewed_call"] = call_id
except CallqcError as exc:
    st.error(md(error_text(exc)))
    st.stop()
st.session_state["call_id"] = call_id
c = view.call
st.subheader(md(f"{c['call_id']} · {c.get('agent_id') or '-'} · {c.get('queue') or '-'} · {clock(view.duration_s)}"))
if view.in_progress:
    st.caption(t("live_call"))
for paused_from, paused_to in view.paused:  # PCI pauses: the recording holds silence there
    st.caption(t("recording_paused", start=clock(paused_from), end=clock(paused_to)))
if view.assignment is not None:
    st.caption(t("assigned_because", reason=md(reason_label(view.assignment.reason))))

if view.channel_check is not None:
    cc = view.channel_check
    shown = t("channel_check", verdict=t(f"channel_{cc['verdict']}"), confidence=f"{cc['confidence']:.2f}")
    (st.warning if cc["verdict"] == "swapped" else st.caption)(shown)
    flippable = can(who, Perm.review) and c["status"] in ("transcribed", "scored")
    if flippable and st.button(t("flip_channels"), key="flip_channels"):
        try:
            with dbs() as s:
                flip_channels(s, who, c["call_id"], seen_flips=cc["flips"], reason="flipped on the call page")
        except CallqcError as exc:
            st.error(md(error_text(exc)))
        else:
            st.rerun()
def _so_far() -> float:
    """Seconds since the live call started: where a listener joins (the stream starts at "now")."""
    started = datetime.fromisoformat(str(c["started_at"]))
    return max(0.0, (utcnow() - (started if started.tzinfo else started.replace(tzinfo=UTC))).total_seconds())


player(who, c["call_id"], duration_s=view.duration_s, channel_map=c.get("channel_map") or {},
       live_from_s=_so_far() if view.in_progress else None)
evidence = [e for i in view.items for e in i.evidence]
timeline(view.segments, evidence, view.duration_s)


def _transcript(segments: list[Segment]) -> None:
    pages = max(1, -(-len(segments) // PAGE_SIZE))
    page = st.number_input(t("page"), 1, pages, pages if view.in_progress else 1, key="tx_page") if pages > 1 else 1
    for n, seg in enumerate(segments[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]):
        left, right = st.columns([1, 6])
        if left.button(f"▶ {clock(seg.start)}", key=f"seek:{page}:{n}", type="tertiary"):
            seek(c["call_id"], seg.start)
            st.rerun()
        right.markdown(f"**{md(speaker_label(seg.speaker))}**: {md(seg.text)}")


@st.fragment(run_every=LIVE_REFRESH_S)
def _live_transcript() -> None:
    with dbs() as s:
        segments = segments_for(s, who, c["call_id"])
        live = still_live(s, who, c["call_id"])
    if not live:
        st.rerun()  # the whole page again: now the recorded call's page
    _transcript(segments)


with st.expander(t("transcript"), expanded=view.in_progress):
    if view.in_progress:
        live_transcript.follow(c["call_id"])
        _live_transcript()
    else:
        _transcript(view.segments)


def _new_form() -> None:
    """Any edit makes a new form: submitting it again is a new review, not a repeat of the last one."""
    st.session_state[f"form:{c['call_id']}"] = secrets.token_urlsafe(16)


def _marked(item_id: str) -> None:
    """While listening: every answer or comment change is saved at once, with the call's second."""
    _new_form()
    answer = st.session_state.get(f"ans:{c['call_id']}:{item_id}") or None
    comment = st.session_state.get(f"cmt:{c['call_id']}:{item_id}", "")
    try:
        with dbs() as s:
            sync_review.mark(s, who, c["call_id"], item_id, answer, comment=comment)
    except CallqcError as exc:
        st.session_state["sync_error"] = error_text(exc)


reviewer = can(who, Perm.review)
draft = None
if reviewer:
    with dbs() as s:
        draft = sync_review.draft_of(s, who, c["call_id"])
sync = reviewer and (view.in_progress or (draft is not None and draft.review_id is None))
if sync:
    st.info(t("sync_help_live") if view.in_progress else t("sync_help_ended"))
    if err := st.session_state.pop("sync_error", None):
        st.error(md(err))
counted = view.humans[0] if view.humans else None
human_items = {i.item_id: i for i in counted.items} if counted else {}
st.header(t("rubric"))
if view.auto is not None:
    st.caption(
        t("auto_score", score=view.auto.score, rubric=md(f"{view.auto.rubric_id} v{view.auto.rubric_version}"))
    )
if counted is not None:
    st.caption(t("final_score", score=counted.score, by=md(counted.by or "-")))
choices = ["", *ANSWERS]
for item in view.items:
    with st.container(border=True):
        flag = " ⚠" if item.critical else ""
        st.markdown(f"**{md(item.title)}**{flag} · {item.points:g} {t('points')}")
        done = human_items.get(item.item_id)
        st.markdown(f"{t('auto_answer')} {answer_label(item.auto_answer)}")
        if done is not None:
            note = f" — {md(done.comment)}" if done.comment else ""
            st.markdown(f"{t('final_answer')} {answer_label(done.final_answer)}{note}")
        for k, ev in enumerate(item.evidence):
            label = f"▶ {clock(ev.start)}–{clock(ev.end)} {md(evidence_text(ev)[:60])}"
            if st.button(label, key=f"ev:{item.item_id}:{k}", type="tertiary"):
                seek(c["call_id"], ev.start)
                st.rerun()
        if reviewer:
            a, b = st.columns([1, 3])
            change = (_marked, (item.item_id,)) if view.in_progress else (_new_form, ())
            a.selectbox(
                t("your_answer"),
                choices,
                key=f"ans:{c['call_id']}:{item.item_id}",
                format_func=lambda v: t("keep_auto") if v == "" else answer_label(v),
                on_change=change[0],
                args=change[1],
            )
            b.text_input(t("item_comment"), key=f"cmt:{c['call_id']}:{item.item_id}", on_change=change[0],
                         args=change[1])
            marked = (draft.marks if draft is not None else {}).get(item.item_id)
            if marked is not None:
                st.caption(t("marked_at", at=clock(float(marked.get("at_s") or 0))))

if reviewer:
    form_key = f"form:{c['call_id']}"
    if form_key not in st.session_state:
        _new_form()
    st.header(t("your_review"))
    overall = st.text_area(t("overall_comment"), key=f"overall:{c['call_id']}", on_change=_new_form)
    verdict = st.radio(
        t("verdict"),
        [v.value for v in Verdict],
        index=None,  # no default: a pass must be chosen, not fallen into
        horizontal=True,
        key=f"verdict:{c['call_id']}",
        format_func=lambda v: t(f"verdict_{v}"),
        on_change=_new_form,
    )
    submitted = st.button(t("submit_sync_review") if sync else t("submit_review"), type="primary",
                          key="submit_review", disabled=view.in_progress)
    if submitted and verdict is None:
        st.error(t("choose_verdict"))
    elif submitted and verdict is not None:
        human = HumanAnswers(
            answers={i.item_id: st.session_state.get(f"ans:{c['call_id']}:{i.item_id}") or None for i in view.items},
            comments={i.item_id: st.session_state.get(f"cmt:{c['call_id']}:{i.item_id}", "") for i in view.items},
            comment=overall,
        )
        try:
            with dbs() as s:
                submit = sync_review.submit_sync if sync else submit_review
                review = submit(
                    s, who, c["call_id"], human=human, verdict=verdict, form_token=st.session_state[form_key]
                )
        except CallqcError as exc:
            st.error(md(error_text(exc)))
        else:
            st.session_state["flash"] = t("review_saved", id=review.id, score=review.score)
            st.rerun()  # show the stored final answers and the new review line
    if flash := st.session_state.pop("flash", None):
        st.success(flash)
for r in view.reviews:
    st.caption(
        t(
            "review_line",
            at=local_time(r.created_at),
            by=md(r.inspector),
            verdict=t(f"verdict_{r.verdict}"),
            score=r.score,
            comment=md(r.comment),
        )
        + (f" · {t('review_mode_sync')}" if r.mode == ReviewMode.sync else "")
    )
