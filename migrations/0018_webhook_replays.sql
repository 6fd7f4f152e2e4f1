-- Replays: "resend every failed delivery since ..." for one destination. The deliveries it
-- queues again carry its id until their one attempt (logged as a resend) is made; no foreign
-- key, so the hot insert path of deliveries pays no check for it.
CREATE TABLE webhook_replays (
    id             BIGSERIAL PRIMARY KEY,
    workspace_id   BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    destination_id BIGINT NOT NULL REFERENCES webhook_destinations(id) ON DELETE CASCADE,
    since          TIMESTAMPTZ NOT NULL,
    requested_by   BIGINT REFERENCES users(id) ON DELETE SET NULL,
    requested_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    deliveries     INTEGER NOT NULL
);
CREATE INDEX webhook_replays_destination_idx ON webhook_replays (destination_id, requested_at DESC);

ALTER TABLE webhook_deliveries ADD COLUMN replay_id BIGINT;
CREATE INDEX webhook_deliveries_replay_idx ON webhook_deliveries (replay_id) WHERE replay_id IS NOT NULL;
