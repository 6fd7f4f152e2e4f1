-- How long an endpoint asked its answer to be reused (`cache_seconds`, clamped); null: the
-- configured SIDEBAR_CACHE_TTL.
ALTER TABLE sidebar_cache ADD COLUMN cache_seconds INTEGER;
