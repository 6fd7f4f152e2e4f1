-- Fan-out takes turns per workspace (each workspace's oldest events first): events not yet
-- fanned out, by workspace, replace the index by id alone.
CREATE INDEX events_webhooks_pending_by_workspace_idx ON events (workspace_id, id)
    WHERE NOT webhooks_fanned_out;
DROP INDEX events_webhooks_pending_idx;
