-- When and why a destination was disabled by the service (a receiver's 410 Gone), for its
-- page and API; cleared when someone enables or disables it themselves.
ALTER TABLE webhook_destinations
    ADD COLUMN disabled_at TIMESTAMPTZ,
    ADD COLUMN disabled_reason TEXT;
