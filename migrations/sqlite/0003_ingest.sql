-- Intake: archived instances (for deduplication by SOP Instance UID and digest),
-- quarantined files with their reasons, and series bookkeeping for completion,
-- storage charging and the choice of a study's primary series.

CREATE TABLE instances (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       BIGINT NOT NULL REFERENCES users(id),
    series_id     BIGINT NOT NULL REFERENCES series(id),
    sop_uid       TEXT NOT NULL,
    digest        TEXT NOT NULL,
    bytes         BIGINT NOT NULL,
    path          TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (user_id, sop_uid)
);
CREATE INDEX instances_series ON instances (series_id);

CREATE TABLE quarantine (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    BIGINT REFERENCES users(id),
    path       TEXT NOT NULL,
    reason     TEXT NOT NULL,
    code       TEXT NOT NULL,
    bytes      BIGINT NOT NULL,
    series_uid TEXT,
    at_ms      BIGINT NOT NULL
);
CREATE INDEX quarantine_user ON quarantine (user_id, id);

ALTER TABLE series ADD COLUMN first_instance_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE series ADD COLUMN charged_bytes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE series ADD COLUMN series_number BIGINT;
