-- Foundation schema: users, plans and limits, quota balances, the usage ledger,
-- studies, series, jobs and result versions. Times are milliseconds since the Unix
-- epoch (BIGINT) so both backends compare and bucket them the same way.

CREATE TABLE plans (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL
);

CREATE TABLE plan_limits (
    plan        TEXT NOT NULL REFERENCES plans(name),
    quota_type  TEXT NOT NULL,
    limit_value BIGINT NOT NULL CHECK (limit_value >= 0),
    PRIMARY KEY (plan, quota_type)
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'operator')),
    plan          TEXT NOT NULL REFERENCES plans(name),
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    mode          TEXT NOT NULL DEFAULT 'auto' CHECK (mode IN ('auto', 'review')),
    outbox        BOOLEAN NOT NULL DEFAULT FALSE,
    token_epoch   BIGINT NOT NULL DEFAULT 0,
    period_anchor_ms BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

CREATE TABLE user_quotas (
    user_id          BIGINT NOT NULL REFERENCES users(id),
    quota_type       TEXT NOT NULL,
    used             BIGINT NOT NULL DEFAULT 0,
    limit_value      BIGINT NOT NULL,
    limit_override   BIGINT,
    period_start_ms  BIGINT NOT NULL,
    period_end_ms    BIGINT,
    last_period_used BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, quota_type)
);

CREATE TABLE usage_log (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms           BIGINT NOT NULL,
    user_id         BIGINT NOT NULL REFERENCES users(id),
    actor_id        BIGINT REFERENCES users(id),
    quota_type      TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('consume', 'refund', 'reset', 'adjust', 'plan_change')),
    amount          BIGINT NOT NULL,
    job_id          BIGINT,
    series_id       BIGINT,
    idempotency_key TEXT NOT NULL UNIQUE,
    metadata        TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX usage_log_user ON usage_log (user_id, id);
CREATE INDEX usage_log_type_time ON usage_log (quota_type, at_ms);

CREATE TABLE studies (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       BIGINT NOT NULL REFERENCES users(id),
    study_uid     TEXT NOT NULL,
    patient_id    TEXT NOT NULL,
    patient_name  TEXT NOT NULL,
    study_date    TEXT,
    description   TEXT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    UNIQUE (user_id, study_uid)
);

CREATE TABLE series (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id            BIGINT NOT NULL REFERENCES users(id),
    study_id           BIGINT NOT NULL REFERENCES studies(id),
    series_uid         TEXT NOT NULL,
    description        TEXT,
    modality           TEXT NOT NULL,
    slice_thickness_mm DOUBLE PRECISION,
    instances          BIGINT NOT NULL DEFAULT 0,
    bytes              BIGINT NOT NULL DEFAULT 0,
    state              TEXT NOT NULL,
    held_quota         TEXT,
    reason             TEXT,
    is_primary         BOOLEAN NOT NULL DEFAULT FALSE,
    revision           BIGINT NOT NULL DEFAULT 1,
    last_instance_ms   BIGINT NOT NULL,
    created_at_ms      BIGINT NOT NULL,
    updated_at_ms      BIGINT NOT NULL,
    UNIQUE (user_id, series_uid)
);
CREATE INDEX series_state ON series (state);

CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id          BIGINT NOT NULL REFERENCES users(id),
    series_id        BIGINT NOT NULL UNIQUE REFERENCES series(id),
    mode             TEXT NOT NULL CHECK (mode IN ('auto', 'review')),
    state            TEXT NOT NULL,
    step             TEXT NOT NULL,
    stage            TEXT,
    progress         DOUBLE PRECISION,
    held_quota       TEXT,
    error            TEXT,
    attempts         BIGINT NOT NULL DEFAULT 0,
    run_seq          BIGINT NOT NULL DEFAULT 1,
    lease_owner      TEXT,
    lease_expires_ms BIGINT,
    not_before_ms    BIGINT NOT NULL DEFAULT 0,
    l3               TEXT,
    created_at_ms    BIGINT NOT NULL,
    updated_at_ms    BIGINT NOT NULL
);
CREATE INDEX jobs_claim ON jobs (state, not_before_ms);
CREATE INDEX jobs_user ON jobs (user_id, id);

CREATE TABLE results (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id        BIGINT NOT NULL REFERENCES jobs(id),
    user_id       BIGINT NOT NULL REFERENCES users(id),
    version       BIGINT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('automatic', 'l3_corrected', 'mask_corrected')),
    created_by    BIGINT REFERENCES users(id),
    reason        TEXT NOT NULL,
    l3_mid_z_mm   DOUBLE PRECISION,
    analysis      TEXT NOT NULL,
    out_dir       TEXT NOT NULL,
    bytes         BIGINT NOT NULL,
    run_seq       BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (job_id, version),
    UNIQUE (job_id, run_seq)
);

-- Plans. Call and case limits are per month; storage limits are totals in bytes.
-- The free plan is small on purpose so a demo can reach it.
INSERT INTO plans (name, description) VALUES
    ('free', 'Evaluation: a handful of cases a month'),
    ('pro', 'A research group: hundreds of cases a month'),
    ('enterprise', 'A department: effectively unlimited');

INSERT INTO plan_limits (plan, quota_type, limit_value) VALUES
    ('free', 'api_calls_l3_detect', 20),
    ('free', 'api_calls_full_process', 10),
    ('free', 'api_calls_continue', 20),
    ('free', 'storage_dicom', 2147483648),
    ('free', 'storage_results', 268435456),
    ('free', 'patient_cases', 10),
    ('pro', 'api_calls_l3_detect', 2000),
    ('pro', 'api_calls_full_process', 1000),
    ('pro', 'api_calls_continue', 2000),
    ('pro', 'storage_dicom', 214748364800),
    ('pro', 'storage_results', 10737418240),
    ('pro', 'patient_cases', 1000),
    ('enterprise', 'api_calls_l3_detect', 1000000),
    ('enterprise', 'api_calls_full_process', 1000000),
    ('enterprise', 'api_calls_continue', 1000000),
    ('enterprise', 'storage_dicom', 10995116277760),
    ('enterprise', 'storage_results', 1099511627776),
    ('enterprise', 'patient_cases', 1000000);
