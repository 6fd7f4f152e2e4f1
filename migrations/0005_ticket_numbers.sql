-- Ticket numbers move out of the workspaces row. Every insert that references a workspace
-- takes a KEY SHARE lock on its row; updating that same row for each new ticket mixed the
-- two, so under load the row carried a MultiXact of twenty-odd members that every reader
-- and locker had to resolve (perf: a third of PostgreSQL's CPU in GetMultiXactIdMembers).
-- No foreign key points at this table, so its updates lock nothing else.
CREATE TABLE ticket_numbers (
    workspace_id BIGINT PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    last_number INTEGER NOT NULL
);

INSERT INTO ticket_numbers (workspace_id, last_number)
SELECT id, last_ticket_number FROM workspaces WHERE last_ticket_number > 0;

ALTER TABLE workspaces DROP COLUMN last_ticket_number;
