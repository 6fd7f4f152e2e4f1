-- The delivery log filtered by status and type: the log's index carries both, so a page of
-- any filter is an index-only walk of one destination's entries, newest first. Without them
-- the planner walked the primary key backwards past other destinations' newer deliveries
-- (60 ms for a first page with 100,000 of them in the way). Status changes already rewrite
-- every index entry (it is in partial indexes' predicates), so carrying it costs no extra.
CREATE INDEX webhook_deliveries_log_filters_idx ON webhook_deliveries (destination_id, id DESC)
    INCLUDE (status, event_type);
DROP INDEX webhook_deliveries_log_idx;
