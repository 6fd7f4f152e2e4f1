-- A team manages its own people: several owners (the service keeps at least one active),
-- people deactivated rather than deleted, accounts whose password is yet to be chosen,
-- invitations, single-use password links, sessions and tokens people can see and limit.

DROP INDEX users_one_owner_per_workspace;
-- NULL until the person chooses one (an owner made by `therethere workspace create`).
ALTER TABLE users ALTER COLUMN password_hash DROP NOT NULL;
ALTER TABLE users ADD COLUMN deactivated_at TIMESTAMPTZ;

-- Deactivating someone changes who may sign in; the trigger already fires on any update of
-- users. Sessions get an id people can name, and what they were started from.
ALTER TABLE sessions ADD COLUMN id BIGSERIAL;
CREATE UNIQUE INDEX sessions_id_key ON sessions (id);
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
ALTER TABLE sessions ADD COLUMN client_address TEXT;

-- Existing tokens keep doing what they did: write, no expiry.
ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'write' CHECK (scope IN ('read', 'write'));
ALTER TABLE api_tokens ADD COLUMN expires_at TIMESTAMPTZ;
ALTER TABLE api_tokens ADD COLUMN last_used_from TEXT;
DROP TRIGGER api_tokens_credentials_changed ON api_tokens;
CREATE TRIGGER api_tokens_credentials_changed
    AFTER UPDATE OF token_hash, user_id, scope, expires_at OR DELETE ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION notify_credentials_changed();

CREATE TABLE invitations (
    id               BIGSERIAL PRIMARY KEY,
    workspace_id     BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    email            TEXT NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
    role             TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'agent')),
    -- SHA-256 of the link's secret; the secret itself is only in the mail.
    token_hash       BYTEA NOT NULL UNIQUE,
    invited_by       BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at       TIMESTAMPTZ NOT NULL,
    accepted_at      TIMESTAMPTZ,
    accepted_user_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    revoked_at       TIMESTAMPTZ
);
-- One open invitation per address and workspace (an expired one is resent, not duplicated).
CREATE UNIQUE INDEX invitations_open_email_key ON invitations (workspace_id, lower(email))
    WHERE accepted_at IS NULL AND revoked_at IS NULL;

-- Links to choose a password: `setup` for a new owner (24 h), `reset` when forgotten (1 h).
CREATE TABLE password_links (
    token_hash BYTEA PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL CHECK (purpose IN ('setup', 'reset')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX password_links_user_idx ON password_links (user_id);

-- Mail that carries a single-use link is never logged, and its body is erased once sent.
ALTER TABLE mail_outbox ADD COLUMN holds_secret BOOLEAN NOT NULL DEFAULT false;
