-- Jobs: what the next result version will be (kind, reason, who asked), the operator's
-- uploaded mask for a re-measure, the L3 the pipeline detected (kept beside an operator's
-- correction), and the structured per-job pipeline log.

ALTER TABLE jobs ADD COLUMN next_kind TEXT NOT NULL DEFAULT 'automatic';
ALTER TABLE jobs ADD COLUMN next_reason TEXT NOT NULL DEFAULT 'first run';
ALTER TABLE jobs ADD COLUMN next_actor BIGINT REFERENCES users(id);
ALTER TABLE jobs ADD COLUMN mask_path TEXT;
ALTER TABLE jobs ADD COLUMN mask_tissue TEXT;
ALTER TABLE jobs ADD COLUMN detected_l3 TEXT;
ALTER TABLE jobs ADD COLUMN mask_seq BIGINT NOT NULL DEFAULT 0;
-- Slice positions and SOP Instance UIDs of the series (inferior first), recorded by the
-- first run, so L3 corrections snap to a slice without decoding the series.
ALTER TABLE jobs ADD COLUMN geometry TEXT;

CREATE TABLE job_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id  BIGINT NOT NULL REFERENCES jobs(id),
    at_ms   BIGINT NOT NULL,
    level   TEXT NOT NULL,
    stage   TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX job_log_job ON job_log (job_id, id);
