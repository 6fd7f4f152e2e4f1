-- Custom sidebar sections, their shared response cache, and the durable mail outbox.

CREATE TABLE sidebar_sections (
    id                   BIGSERIAL PRIMARY KEY,
    workspace_id         BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    title                TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 100),
    endpoint_url         TEXT NOT NULL,
    secret               TEXT NOT NULL CHECK (length(secret) >= 8),
    position             INTEGER NOT NULL,
    enabled              BOOLEAN NOT NULL DEFAULT true,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_error           TEXT,
    last_error_at        TIMESTAMPTZ,
    disabled_at          TIMESTAMPTZ,
    disabled_reason      TEXT,
    -- Bumped whenever the endpoint, secret or channels change: cached data of an older
    -- version is never served.
    version              INTEGER NOT NULL DEFAULT 1,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX sidebar_sections_workspace_idx ON sidebar_sections (workspace_id, position);

CREATE TABLE sidebar_section_channels (
    section_id BIGINT NOT NULL REFERENCES sidebar_sections(id) ON DELETE CASCADE,
    channel_id BIGINT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    PRIMARY KEY (section_id, channel_id)
);
CREATE INDEX sidebar_section_channels_channel_idx ON sidebar_section_channels (channel_id);

-- Successful responses only, per section and contact; shared by every instance.
CREATE TABLE sidebar_cache (
    section_id      BIGINT NOT NULL REFERENCES sidebar_sections(id) ON DELETE CASCADE,
    contact_id      BIGINT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    section_version INTEGER NOT NULL,
    items           JSONB NOT NULL,
    fetched_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (section_id, contact_id)
);

-- One outbound fetch per section and contact at a time, across instances: the holder of a
-- live lease calls the endpoint, the others wait for its result in the cache.
CREATE TABLE sidebar_fetch_leases (
    section_id   BIGINT NOT NULL REFERENCES sidebar_sections(id) ON DELETE CASCADE,
    contact_id   BIGINT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    leased_until TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (section_id, contact_id)
);

CREATE TABLE mail_outbox (
    id              BIGSERIAL PRIMARY KEY,
    workspace_id    BIGINT REFERENCES workspaces(id) ON DELETE CASCADE,
    to_address      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Set when the SMTP server accepted it.
    sent_at         TIMESTAMPTZ,
    -- Set when it was written to the log because no SMTP server is configured.
    logged_at       TIMESTAMPTZ,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    locked_until    TIMESTAMPTZ
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL;
