-- Secret rotation without downtime: after a regenerate with a grace period, the replaced
-- secret keeps signing `webhook-signature` (beside the new one) until `previous_secret_until`.
ALTER TABLE webhook_destinations
    ADD COLUMN previous_secret TEXT,
    ADD COLUMN previous_secret_until TIMESTAMPTZ;
