-- "Load when a ticket arrives": when a ticket of its channel is opened, reopened or assigned, a
-- section may be called in the background so the agent's first open is served from the cache.
-- Off by default: the spec calls endpoints when an agent opens a ticket.
ALTER TABLE sidebar_sections ADD COLUMN load_on_arrival BOOLEAN NOT NULL DEFAULT false;

-- Events the warm-up has not looked at yet. Events from before this migration are old news:
-- the column is added as true for them, then defaults to false for new ones.
ALTER TABLE events ADD COLUMN sidebar_warmed BOOLEAN NOT NULL DEFAULT true;
ALTER TABLE events ALTER COLUMN sidebar_warmed SET DEFAULT false;
CREATE INDEX events_sidebar_warm_pending ON events (id)
    WHERE NOT sidebar_warmed AND kind IN ('ticket_opened', 'ticket_reopened', 'ticket_assigned');

-- When a section was last warmed for a contact: at most once per cache period, whatever the
-- outcome, so a failing endpoint is not called again on every new ticket of the same contact.
CREATE TABLE sidebar_warmups (
    section_id BIGINT NOT NULL REFERENCES sidebar_sections(id) ON DELETE CASCADE,
    contact_id BIGINT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    warmed_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (section_id, contact_id)
);
