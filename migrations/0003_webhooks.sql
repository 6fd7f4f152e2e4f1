-- Webhook notifications: destinations, the durable delivery queue, and every attempt.

CREATE TABLE webhook_destinations (
    id            BIGSERIAL PRIMARY KEY,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    -- Set for a personal destination (its owner); NULL for a workspace destination.
    owner_user_id BIGINT REFERENCES users(id) ON DELETE CASCADE,
    name          TEXT NOT NULL DEFAULT '' CHECK (length(name) <= 100),
    url           TEXT NOT NULL,
    events        TEXT[] NOT NULL,
    enabled       BOOLEAN NOT NULL DEFAULT true,
    secret        TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX webhook_destinations_workspace_idx ON webhook_destinations (workspace_id);
CREATE INDEX webhook_destinations_owner_idx ON webhook_destinations (owner_user_id);

-- Fan-out marks each domain event once it has become deliveries; the partial index keeps
-- finding the unprocessed ones cheap however long the history grows.
ALTER TABLE events ADD COLUMN webhooks_fanned_out BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX events_webhooks_pending_idx ON events (id) WHERE NOT webhooks_fanned_out;

CREATE TABLE webhook_deliveries (
    id              BIGSERIAL PRIMARY KEY,
    -- The payload's `ulid`: the same on every retry and resend.
    ulid            TEXT NOT NULL UNIQUE,
    workspace_id    BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    destination_id  BIGINT NOT NULL REFERENCES webhook_destinations(id) ON DELETE CASCADE,
    event_id        BIGINT REFERENCES events(id) ON DELETE SET NULL,
    event_type      TEXT NOT NULL,
    -- The exact body bytes sent on every attempt.
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    locked_until    TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- One delivery per event, destination and type, so a re-run fan-out cannot duplicate.
CREATE UNIQUE INDEX webhook_deliveries_once_idx ON webhook_deliveries (event_id, destination_id, event_type)
    WHERE event_id IS NOT NULL;
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_log_idx ON webhook_deliveries (destination_id, id DESC);
CREATE INDEX webhook_deliveries_created_idx ON webhook_deliveries (created_at);

CREATE TABLE webhook_attempts (
    id               BIGSERIAL PRIMARY KEY,
    delivery_id      BIGINT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    -- 'automatic' (first try and retries) or 'resend' (asked for by a person).
    trigger          TEXT NOT NULL CHECK (trigger IN ('automatic', 'resend')),
    started_at       TIMESTAMPTZ NOT NULL,
    duration_ms      INTEGER NOT NULL,
    url              TEXT NOT NULL,
    request_headers  JSONB NOT NULL,
    response_status  INTEGER,
    response_headers JSONB,
    response_body    TEXT,
    error            TEXT,
    succeeded        BOOLEAN NOT NULL
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);
