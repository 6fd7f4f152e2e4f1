-- A destination hears only of events recorded while it existed and was enabled: fan-out
-- compares each event's time with the moment the destination last started listening (made,
-- or enabled again), so events that waited to be fanned out, or happened while it was
-- disabled, never reach it.
ALTER TABLE webhook_destinations ADD COLUMN listening_since TIMESTAMPTZ;
UPDATE webhook_destinations SET listening_since = created_at;
ALTER TABLE webhook_destinations ALTER COLUMN listening_since SET NOT NULL,
                                 ALTER COLUMN listening_since SET DEFAULT now();

-- However a destination is enabled again (a page, the API, by hand), it listens from then.
CREATE FUNCTION destination_listens_from_now() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.enabled AND NOT OLD.enabled THEN
        NEW.listening_since := now();
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER webhook_destinations_listen_from_now
    BEFORE UPDATE OF enabled ON webhook_destinations
    FOR EACH ROW EXECUTE FUNCTION destination_listens_from_now();
