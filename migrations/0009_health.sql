-- Health at a glance. A destination's health reads only its deliveries of the last day.
CREATE INDEX webhook_deliveries_destination_created_idx ON webhook_deliveries (destination_id, created_at);

-- Sidebar calls by hour and outcome, kept a week, for the sections list's chart.
CREATE TABLE sidebar_call_stats (
    section_id BIGINT NOT NULL REFERENCES sidebar_sections(id) ON DELETE CASCADE,
    hour       TIMESTAMPTZ NOT NULL,
    ok         INTEGER NOT NULL DEFAULT 0,
    failed     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (section_id, hour)
);

-- When a call last succeeded (written at most once a minute per section).
ALTER TABLE sidebar_sections ADD COLUMN last_success_at TIMESTAMPTZ;
