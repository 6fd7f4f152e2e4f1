-- Failed logins, counted per account (the email as typed, known or not) and per client
-- address, so every instance throttles the same guesser.
CREATE TABLE login_failures (
    key             TEXT PRIMARY KEY,
    failures        INTEGER NOT NULL,
    last_failure_at TIMESTAMPTZ NOT NULL,
    locked_until    TIMESTAMPTZ
);
CREATE INDEX login_failures_last_failure_at_idx ON login_failures (last_failure_at);

-- Fixed one-minute windows for the actions that call out on demand (test notifications,
-- resends, section Tests), keyed by action and object.
CREATE TABLE rate_limit_windows (
    key          TEXT PRIMARY KEY,
    window_start TIMESTAMPTZ NOT NULL,
    hits         INTEGER NOT NULL
);

-- Sessions also end after a time without use.
ALTER TABLE sessions ADD COLUMN last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now();
CREATE INDEX sessions_user_created_idx ON sessions (user_id, created_at);

-- Recording a session's last use is not a change of who it lets in.
DROP TRIGGER sessions_credentials_changed ON sessions;
CREATE TRIGGER sessions_credentials_changed
    AFTER UPDATE OF token_hash, user_id, csrf_token, expires_at OR DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION notify_credentials_changed();

-- Test notifications go out even while their destination is disabled; this finds them
-- without reading the backlog that waits for it to be enabled again.
CREATE INDEX webhook_deliveries_pending_tests_idx
    ON webhook_deliveries (destination_id, next_attempt_at, id)
    WHERE status = 'pending' AND event_type = 'test';
