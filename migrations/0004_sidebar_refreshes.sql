-- When an agent last forced a refresh of a section for a contact: refreshes are limited per
-- section and contact so a busy team cannot hammer an endpoint.
CREATE TABLE sidebar_refreshes (
    section_id   BIGINT NOT NULL REFERENCES sidebar_sections(id) ON DELETE CASCADE,
    contact_id   BIGINT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    refreshed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (section_id, contact_id)
);
