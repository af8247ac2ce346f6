-- Quota warnings: one row the first time a balance crosses 80 % or 100 % of its limit in a
-- period, so the console and the logs can show it once rather than on every charge.
CREATE TABLE quota_warnings (
    user_id         BIGINT NOT NULL REFERENCES users(id),
    quota_type      TEXT NOT NULL,
    period_start_ms BIGINT NOT NULL,
    level           BIGINT NOT NULL CHECK (level IN (80, 100)),
    used            BIGINT NOT NULL,
    limit_value     BIGINT NOT NULL,
    at_ms           BIGINT NOT NULL,
    PRIMARY KEY (user_id, quota_type, period_start_ms, level)
);
CREATE INDEX quota_warnings_time ON quota_warnings (at_ms);

-- The limit before the last change, set in the same UPDATE that changes it, so an
-- admin adjustment is audited with its old value without a read-then-write.
ALTER TABLE user_quotas ADD COLUMN previous_limit BIGINT;
