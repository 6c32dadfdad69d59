"""Names vulture cannot see used: typer commands and FastAPI routes (called by their frameworks),
SQLModel/pydantic fields and validators, enum members, SQLAlchemy hooks, ObjectStore protocol methods,
and API the tests use. `make lint` runs vulture with this file; a name here is used, not dead code.
Regenerate the list (and read it) with: vulture --make-whitelist."""
# ruff: noqa
app_cmd  # unused function (callqc/cli/app.py:25)
user_add  # unused function (callqc/cli/app.py:63)
user_list  # unused function (callqc/cli/app.py:81)
user_disable  # unused function (callqc/cli/app.py:92)
run_cmd  # unused function (callqc/cli/archive.py:24)
verify_cmd  # unused function (callqc/cli/archive.py:57)
hold_cmd  # unused function (callqc/cli/archive.py:77)
release_cmd  # unused function (callqc/cli/archive.py:88)
list_cmd  # unused function (callqc/cli/archive.py:97)
config_cmd  # unused function (callqc/cli/config.py:26)
migrate_cmd  # unused function (callqc/cli/db.py:11)
ingest_cmd  # unused function (callqc/cli/ingest.py:18)
watch_cmd  # unused function (callqc/cli/recorder.py:17)
api_cmd  # unused function (callqc/cli/recorder.py:41)
retrieve_cmd  # unused function (callqc/cli/retrieve.py:12)
rubric_check  # unused function (callqc/cli/scoring.py:30)
model_train  # unused function (callqc/cli/scoring.py:54)
rescore  # unused function (callqc/cli/scoring.py:96)
show_cmd  # unused function (callqc/cli/show.py:70)
up_cmd  # unused function (callqc/cli/up.py:89)
work_cmd  # unused function (callqc/cli/work.py:23)
status_cmd  # unused function (callqc/cli/work.py:40)
retry_cmd  # unused function (callqc/cli/work.py:84)
redact_cmd  # unused function (callqc/cli/redact.py)
redactions_cmd  # unused function (callqc/cli/redact.py)
clip_cmd  # unused function (callqc/cli/redact.py)
export_cmd  # unused function (callqc/cli/redact.py)
mime  # AudioFile.mime: the review app's download button (transcribe/redaction/edits.py)
languages  # Rules.languages: which language files were merged (transcribe/redaction/rules.py)
clip_for  # the review app's clip download; tests use it (transcribe/redaction/edits.py)
export_for  # the review app's export download; tests use it (transcribe/redaction/edits.py)
words_to_digits  # the tests' reading of a whole text (transcribe/redaction/spoken_numbers.py)
_callqc_error  # unused function (recorder/api.py:78)
post_recording  # unused function (recorder/api.py:85)
healthz  # unused function (recorder/api.py:114)
ingest_stream  # unused function (recorder/ingest.py:125)
replay_run  # unused function (review_app/workflow/sampling.py:327)
model_config  # unused variable (scoring/rubric.py:44)
_._one  # unused method (scoring/rubric.py:53)
_._one_list  # unused method (scoring/rubric.py:94)
_._compiles  # unused method (scoring/rubric.py:113)
_._unique_ids  # unused method (scoring/rubric.py:204)
users  # unused variable (storage/access.py:41)
_.seekable  # unused method (storage/archive/images.py:79)
_.readinto  # unused method (storage/archive/images.py:88)
total_bytes  # unused variable (storage/archive/tables.py:41)
retention_mode  # unused variable (storage/archive/tables.py:58)
stored_at  # unused variable (storage/archive/tables.py:61)
verified_at  # unused variable (storage/archive/tables.py:62)
agent_talk_s  # unused variable (storage/call_metrics.py:26)
customer_talk_s  # unused variable (storage/call_metrics.py:27)
agent_rate  # unused variable (storage/call_metrics.py:32)
customer_rate  # unused variable (storage/call_metrics.py:33)
inbound  # unused variable (storage/calls.py:33)
outbound  # unused variable (storage/calls.py:34)
internal  # unused variable (storage/calls.py:35)
_sqlite_pragmas  # unused function (storage/db.py:34)
_.isolation_level  # unused attribute (storage/db.py:37)
_sqlite_begin  # unused function (storage/db.py:45)
calibration  # unused variable (storage/evaluations.py:28)
segment  # unused variable (storage/evaluations.py:50)
superseded_by  # unused variable (storage/evaluations.py:86)
_.presigned_get  # unused method (storage/local_store.py:160)
_.get_retention  # unused method (storage/local_store.py:177)
_.get_legal_hold  # unused method (storage/local_store.py:189)
impl  # unused variable (storage/models.py:26)
cache_ok  # unused variable (storage/models.py:27)
_.process_bind_param  # unused method (storage/models.py:29)
_.process_result_value  # unused method (storage/models.py:36)
GOVERNANCE  # unused variable (storage/objectstore.py:36)
_.presigned_get  # unused method (storage/objectstore.py:89)
_.get_retention  # unused method (storage/objectstore.py:97)
_.get_legal_hold  # unused method (storage/objectstore.py:103)
auto_evaluation_id  # unused variable (storage/reviews.py:57)
by_user  # unused variable (storage/reviews.py:72)
opened_at  # unused variable (storage/reviews.py:85)
resolved_by  # unused variable (storage/reviews.py:86)
resolved_at  # unused variable (storage/reviews.py:87)
score_after  # unused variable (storage/reviews.py:89)
created_by  # unused variable (storage/reviews.py:111)
submitted_at  # unused variable (storage/reviews.py:131)
created_by  # unused variable (storage/reviews.py:148)
created_by  # unused variable (storage/reviews.py:161)
_.presigned_get  # unused method (storage/s3_store.py:305)
_.get_retention  # unused method (storage/s3_store.py:330)
_.get_legal_hold  # unused method (storage/s3_store.py:344)
model_config  # unused variable (storage/settings/)
require_services  # unused variable (storage/settings/)
reset_settings  # unused function (storage/settings/)
TranscriptPublic  # unused class (storage/transcripts.py:42)
TranscriptSegmentPublic  # unused class (storage/transcripts.py:70)
conversation_lines  # unused function (storage/transcripts.py:135)
search_segments  # unused function (storage/transcripts.py:142)
multilingual  # unused variable (transcribe/models.py:56)
live_calls  # the live tap's interface (docs/recorder.md), read by listeners and tests
Tap  # the live tap's reader (docs/recorder.md)
wav_data  # used by the live-capture tests to compare stored audio
resumed_by  # column of call_pauses
# closing the loop (issue 16)
set_cmd  # unused function (callqc/cli/notify.py, callqc/cli/schedule.py)
monthly_cmd  # unused function (callqc/cli/report.py)
run_once_cmd  # unused function (callqc/cli/schedule.py)
loop_cmd  # unused function (callqc/cli/schedule.py)
_.fill  # openpyxl cell style (review_app/report_files.py)
_.font  # openpyxl cell style
_.alignment  # openpyxl cell style
_.number_format  # openpyxl cell format
_.freeze_panes  # openpyxl sheet view
evaluated  # Kpis field (scoring/kpi.py), read by name through review_app/kpi_labels.py
score_human  # Kpis field
score_auto  # Kpis field
hold_share  # Kpis field
holds_per_call  # Kpis field
silence_share  # Kpis field
overtalk_share  # Kpis field
overtalks_per_call  # Kpis field
aht_s  # Kpis field
fcr_item_rate  # Kpis field
complaint_share  # Kpis field
done_by  # RoutedCall column (storage/routing.py)
claimed_by  # SamplingClaim column (storage/schedules.py)
claimed_at  # SamplingClaim column
rubric_assign  # unused function (callqc/cli/scoring.py)
rubric_rules  # unused function (callqc/cli/scoring.py)
to_digits  # unused function (scoring/numerals.py: bench/zh_scoring.py's CER, tests; redaction's API)
to_chinese  # unused function (scoring/numerals.py: tests; redaction's API)
toneless_similarity  # unused function (scoring/phonetic.py: tests)
sounds  # unused function (scoring/phonetic.py: tests)
ring_s  # column of cdr_records (start -> answer), for the KPI handle-time work
wrapup_s  # column of cdr_records (not in Asterisk CDR; queue_log has it)
picked_at  # unused variable (storage/live_picks.py:54)
final_answers  # review_app/workflow/evalview.py: the dashboard's FCR answers read raw (tests/test_rollups.py)
human_n  # HourStats column (storage/rollups.py), read by name through rollups.SUMS
human_sum  # HourStats column (storage/rollups.py), read by name through rollups.SUMS
auto_n  # HourStats column (storage/rollups.py), read by name through rollups.SUMS
auto_sum  # HourStats column (storage/rollups.py), read by name through rollups.SUMS
held_n  # HourStats column (storage/rollups.py), read by name through rollups.SUMS
held_hold_s  # HourStats column (storage/rollups.py), read by name through rollups.SUMS
held_duration_s  # HourStats column (storage/rollups.py), read by name through rollups.SUMS
held_count  # HourStats column (storage/rollups.py), read by name through rollups.SUMS
metric_n  # HourStats column (storage/rollups.py), read by name through rollups.SUMS
metric_non_talk_s  # HourStats column (storage/rollups.py), read by name through rollups.SUMS
metric_overtalk_s  # HourStats column (storage/rollups.py), read by name through rollups.SUMS
metric_duration_s  # HourStats column (storage/rollups.py), read by name through rollups.SUMS
metric_overtalk_count  # HourStats column (storage/rollups.py), read by name through rollups.SUMS
acw_n  # HourStats column (storage/rollups.py), read by name through rollups.SUMS
acw_talk_s  # HourStats column (storage/rollups.py), read by name through rollups.SUMS
fcr_item_n  # HourStats column (storage/rollups.py), read by name through rollups.SUMS
fcr_item_yes  # HourStats column (storage/rollups.py), read by name through rollups.SUMS
complaint_n  # HourStats column (storage/rollups.py), read by name through rollups.SUMS
complaint_yes  # HourStats column (storage/rollups.py), read by name through rollups.SUMS
passed_n  # HourStats column (storage/rollups.py), read by name through rollups.SUMS
passed_yes  # HourStats column (storage/rollups.py), read by name through rollups.SUMS
critical_fails  # HourStats column (storage/rollups.py), read by name through rollups.SUMS
review_scored  # HourStats column (storage/rollups.py), read by name through rollups.SUMS
review_score_sum  # HourStats column (storage/rollups.py), read by name through rollups.SUMS
review_pass_known  # HourStats column (storage/rollups.py), read by name through rollups.SUMS
review_passed  # HourStats column (storage/rollups.py), read by name through rollups.SUMS
review_retraining  # HourStats column (storage/rollups.py), read by name through rollups.SUMS
auto_critical_fails  # HourStats column (storage/rollups.py), read by name through rollups.SUMS
fcr_answers  # HourStats column (storage/rollups.py), read by name through rollups.SUMS
fcr_answers_yes  # HourStats column (storage/rollups.py), read by name through rollups.SUMS
refreshed_at  # RollupState column (when the watermark last moved)
paused_s  # dataclass field read through asdict (scoring/metrics.py CallMetrics.to_json)
nonspeech_s  # unused variable (scoring/metrics.py: a CallMetrics field, in to_json via asdict)
heard_at  # column of live_segments: when a line was stored (bench/live_listen.py's transcript delay)
voice_print  # transcribe/voiceprint.py: one channel's print in one go (bench/channel_check.py and the tests; the job uses call_prints)
is_partition  # storage/partitions.py: used by storage/migrations/env.py (not scanned) and tests/test_schema.py
written_at  # column of live_levels: when a row was stored (what a look at the table tells of the writer's delay)
cpu_s  # ForcedScorer: CPU seconds spent, read by bench/zh_verify.py
encodes  # ForcedScorer: encoder passes, read by bench/zh_verify.py
generate_segment_batched  # transcribe/cascade.py: overrides faster-whisper's BatchedInferencePipeline method, called by its forward()
first_digit  # Hit: the first written digit when the audio span starts earlier, read by bench/redaction.py
CALLER_INDEX  # storage/repeats.py: declared for the schema (migration 0033), used by the database
CALLEE_INDEX
repeat_any  # storage/repeats.py: hour_repeats columns, read by name (f"repeat_{scope}")
repeat_tenant
repeat_team
agreement_of  # scoring/agreement.py: agreement from a list of pairs, the raw definition the rollup is tested against
reviewed_pairs  # scoring/agreement.py: the raw pairs of a window, which tests/test_agreement_rollup.py compares with the rollup
fcr_known  # storage/repeats.py: hour_repeats and day_repeats column, read by name (windows.rolled_reads)
decodes  # redecode.WhisperDecoder: primed re-decodes made, read by bench/redaction.py
