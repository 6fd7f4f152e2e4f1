-- Consecutive deliveries to a destination that failed every attempt, since when, whether its
-- managers were warned, and the last error: a long enough streak disables it (with notice).
ALTER TABLE webhook_destinations
    ADD COLUMN failed_deliveries INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN failing_since TIMESTAMPTZ,
    ADD COLUMN failure_warned BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN last_failure TEXT;
