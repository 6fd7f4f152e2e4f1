-- Instances remember verified credentials briefly; any change to who may sign in, however it
-- is made (the service, a cascade, or by hand), tells them to forget. Row triggers: the
-- notifications of one transaction are folded into one at commit.
CREATE FUNCTION notify_credentials_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('credentials_changed', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER users_credentials_changed
    AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION notify_credentials_changed();

-- Recording a token's last use is not a change of who it lets in.
CREATE TRIGGER api_tokens_credentials_changed
    AFTER UPDATE OF token_hash, user_id OR DELETE ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION notify_credentials_changed();

CREATE TRIGGER sessions_credentials_changed
    AFTER UPDATE OR DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION notify_credentials_changed();

CREATE TRIGGER users_truncated
    AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION notify_credentials_changed();
CREATE TRIGGER api_tokens_truncated
    AFTER TRUNCATE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION notify_credentials_changed();
CREATE TRIGGER sessions_truncated
    AFTER TRUNCATE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION notify_credentials_changed();
