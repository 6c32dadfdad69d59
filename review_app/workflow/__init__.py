"""The QC inspectors' workflow, beside the pages that present it: sampling plans, inspection,
feedback and disputes, calibration, dashboard queries, and the read models they share (evaluation
and call views). Pages call these modules and hold no SQL; access rules are checked here."""
