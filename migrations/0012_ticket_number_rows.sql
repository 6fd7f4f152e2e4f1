-- Every workspace has its ticket-number row from the start, so a new ticket takes its number
-- with a plain UPDATE. Under load the upsert (INSERT ... ON CONFLICT DO UPDATE) that created
-- the row on first use woke every waiting ticket at each commit to re-check the conflict
-- (perf: ExecCheckIndexConstraints and XactLockTableWait a third of PostgreSQL's CPU); an
-- UPDATE's waiters queue on the row lock and only the next one wakes.
INSERT INTO ticket_numbers (workspace_id, last_number)
SELECT id, 0 FROM workspaces
ON CONFLICT (workspace_id) DO NOTHING;
