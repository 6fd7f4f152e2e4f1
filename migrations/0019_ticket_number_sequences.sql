-- Each workspace numbers its tickets from a sequence of its own (`ticket_numbers.w<id>`),
-- taken inside the statement that writes the ticket. `nextval` holds no row lock until
-- commit, so tickets of one workspace are written in parallel in one round trip; the row
-- of `ticket_numbers` it replaces had to be updated in a transaction of its own first.
-- As before, numbers are never reused and a ticket that is refused takes none; a server
-- failing mid-statement can skip one.
CREATE SCHEMA ticket_numbers;

CREATE FUNCTION create_ticket_number_sequence() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE SEQUENCE ticket_numbers.%I AS integer', 'w' || NEW.id);
    RETURN NULL;
END $$;

CREATE FUNCTION drop_ticket_number_sequence() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('DROP SEQUENCE IF EXISTS ticket_numbers.%I', 'w' || OLD.id);
    RETURN NULL;
END $$;

CREATE TRIGGER workspaces_ticket_number_sequence AFTER INSERT ON workspaces
    FOR EACH ROW EXECUTE FUNCTION create_ticket_number_sequence();
CREATE TRIGGER workspaces_drop_ticket_number_sequence AFTER DELETE ON workspaces
    FOR EACH ROW EXECUTE FUNCTION drop_ticket_number_sequence();

DO $$
DECLARE
    workspace record;
BEGIN
    FOR workspace IN
        SELECT w.id, greatest(n.last_number, (SELECT max(number) FROM tickets t WHERE t.workspace_id = w.id), 0) AS last
        FROM workspaces w LEFT JOIN ticket_numbers n ON n.workspace_id = w.id
    LOOP
        EXECUTE format('CREATE SEQUENCE ticket_numbers.%I AS integer START %s', 'w' || workspace.id, workspace.last + 1);
    END LOOP;
END $$;

DROP TABLE ticket_numbers;
