-- The pending deliveries, apart from the log. A delivery has a row here from when it is
-- queued (or replayed) until its last attempt; the worker's claims, leases and retries
-- read and write only this small table, with two indexes, whose rows are updated in place
-- (HOT: no indexed column changes with a lease, and `fillfactor` leaves room in each page).
-- Before, every claim rewrote the delivery's whole row in the log and an entry in each of
-- its nine indexes (40,000 updates for 20,000 deliveries, 1,335 of them HOT), and the claim
-- walked the just-delivered rows' entries left in the pending index.
CREATE TABLE webhook_queue (
    delivery_id     BIGINT PRIMARY KEY REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    destination_id  BIGINT NOT NULL,
    -- A test notification: sent even while its destination is disabled.
    test            BOOLEAN NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    locked_until    TIMESTAMPTZ
) WITH (fillfactor = 70);

CREATE INDEX webhook_queue_due_idx ON webhook_queue (destination_id, next_attempt_at, delivery_id);
CREATE INDEX webhook_queue_tests_idx ON webhook_queue (destination_id, next_attempt_at, delivery_id)
    WHERE test;

INSERT INTO webhook_queue (delivery_id, destination_id, test, next_attempt_at, locked_until)
SELECT id, destination_id, event_type = 'test', next_attempt_at, locked_until
FROM webhook_deliveries WHERE status = 'pending';

DROP INDEX webhook_deliveries_due_by_destination_idx;
DROP INDEX webhook_deliveries_pending_tests_idx;
ALTER TABLE webhook_deliveries DROP COLUMN next_attempt_at, DROP COLUMN locked_until;
