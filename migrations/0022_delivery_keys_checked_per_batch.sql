-- Foreign keys of the delivery tables whose check each inserted row paid with a query of its
-- own: `EXPLAIN ANALYZE` of 2,000 deliveries as fan-out inserts them, 41 of 88 ms went to the
-- three checks; the attempt records spent a fifth of their time on theirs. The same facts
-- are now kept per statement:
-- - a delivery's destination exists: `queue::insert_deliveries` locks the batch's
--   destinations (`FOR KEY SHARE`, once each) and queues only for those it found;
-- - an attempt's and a queue row's delivery exists: the attempt record writes both only for
--   the deliveries its own update found, and a replay takes its queue rows from the log rows
--   it updates;
-- - deleting rows still takes theirs with them, however it happens (a destination deleted,
--   its workspace deleted, the log pruned): the statement triggers below, once per statement
--   with every deleted row, where the cascades ran a query per row;
-- - events are never deleted, so a delivery's event needs no `ON DELETE SET NULL`.
ALTER TABLE webhook_queue DROP CONSTRAINT webhook_queue_delivery_id_fkey;
ALTER TABLE webhook_attempts DROP CONSTRAINT webhook_attempts_delivery_id_fkey;
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_destination_id_fkey;
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_event_id_fkey;

-- Rows found by key from an array: as a join, the planner may hash a whole table to find a
-- few rows (a transition table has no statistics).
CREATE FUNCTION webhook_destinations_take_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM webhook_deliveries WHERE destination_id = ANY(ARRAY(SELECT id FROM gone));
    RETURN NULL;
END $$;
CREATE TRIGGER webhook_destinations_take_deliveries AFTER DELETE ON webhook_destinations
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION webhook_destinations_take_deliveries();

CREATE FUNCTION webhook_deliveries_take_attempts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM webhook_attempts WHERE delivery_id = ANY(ARRAY(SELECT id FROM gone));
    DELETE FROM webhook_queue WHERE delivery_id = ANY(ARRAY(SELECT id FROM gone));
    RETURN NULL;
END $$;
CREATE TRIGGER webhook_deliveries_take_attempts AFTER DELETE ON webhook_deliveries
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION webhook_deliveries_take_attempts();
