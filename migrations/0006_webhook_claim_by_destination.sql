-- Claims take each destination's oldest due deliveries (up to its room) and then the oldest
-- of those overall. Indexed by destination first, the backlog of a destination that is
-- skipped (it already has all the attempts under way it may have) is never read; with the
-- old index on next_attempt_at alone, every claim fetched and discarded that whole backlog.
DROP INDEX webhook_deliveries_due_idx;
CREATE INDEX webhook_deliveries_due_by_destination_idx
    ON webhook_deliveries (destination_id, next_attempt_at, id) WHERE status = 'pending';
