-- The helpdesk core: workspaces, people, conversations, and the event outbox.

CREATE TABLE workspaces (
    id                 BIGSERIAL PRIMARY KEY,
    name               TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- Per-workspace ticket numbers are handed out from here under a row lock.
    last_ticket_number INTEGER NOT NULL DEFAULT 0,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    email         TEXT NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
    handle        TEXT NOT NULL CHECK (handle ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
    role          TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'agent')),
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- People log in with their email alone, so an email belongs to one user across workspaces.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE UNIQUE INDEX users_handle_key ON users (workspace_id, handle);
-- Exactly one owner per workspace: at most one here, at least one by construction.
CREATE UNIQUE INDEX users_one_owner_per_workspace ON users (workspace_id) WHERE role = 'owner';

CREATE TABLE sessions (
    token_hash  BYTEA PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

CREATE TABLE api_tokens (
    id           BIGSERIAL PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash   BYTEA NOT NULL UNIQUE,
    -- The first characters, shown in the UI so a user can tell tokens apart.
    prefix       TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at TIMESTAMPTZ
);
CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id);

CREATE TABLE channels (
    id           BIGSERIAL PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX channels_name_key ON channels (workspace_id, lower(name));

CREATE TABLE contacts (
    id           BIGSERIAL PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    email        TEXT NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX contacts_email_key ON contacts (workspace_id, lower(email));

CREATE TABLE tickets (
    id           BIGSERIAL PRIMARY KEY,
    ulid         TEXT NOT NULL UNIQUE,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    number       INTEGER NOT NULL,
    subject      TEXT NOT NULL CHECK (length(subject) BETWEEN 1 AND 500),
    status       TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    channel_id   BIGINT REFERENCES channels(id) ON DELETE SET NULL,
    contact_id   BIGINT NOT NULL REFERENCES contacts(id),
    assignee_id  BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, number)
);
CREATE INDEX tickets_list_idx ON tickets (workspace_id, status, updated_at DESC);

CREATE TABLE messages (
    id             BIGSERIAL PRIMARY KEY,
    ulid           TEXT NOT NULL UNIQUE,
    workspace_id   BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    ticket_id      BIGINT NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    author_kind    TEXT NOT NULL CHECK (author_kind IN ('contact', 'agent')),
    author_user_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    body           TEXT NOT NULL CHECK (length(body) BETWEEN 1 AND 100000),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX messages_ticket_idx ON messages (ticket_id, id);

CREATE TABLE notes (
    id           BIGSERIAL PRIMARY KEY,
    ulid         TEXT NOT NULL UNIQUE,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    ticket_id    BIGINT NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    author_id    BIGINT NOT NULL REFERENCES users(id),
    body         TEXT NOT NULL CHECK (length(body) BETWEEN 1 AND 100000),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX notes_ticket_idx ON notes (ticket_id, id);

CREATE TABLE note_mentions (
    note_id BIGINT NOT NULL REFERENCES notes(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (note_id, user_id)
);

-- The transactional outbox: every domain action writes its event here in the same
-- transaction as the change, so consumers see exactly the actions that committed.
CREATE TABLE events (
    id           BIGSERIAL PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    ticket_id    BIGINT NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('ticket_opened', 'ticket_reopened', 'contact_replied',
                                               'agent_replied', 'ticket_assigned', 'ticket_unassigned',
                                               'note_added', 'ticket_closed')),
    -- The user who acted; NULL when the system or the contact did.
    actor_id     BIGINT REFERENCES users(id) ON DELETE SET NULL,
    data         JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX events_ticket_idx ON events (ticket_id, id);
