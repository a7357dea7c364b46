-- The ingest inbox: the API writes every verified event here (2xx once its INSERT has committed)
-- and the shard's ingest workflow applies and removes it. Temporal carries only wake-ups.
-- No primary key: `id` is unique by its sequence, and one index serves both the INSERT and the
-- apply's "oldest rows of this shard first"; every extra index is paid on each event.
CREATE TABLE ingest_inbox (
  id             bigserial NOT NULL,
  integration_id text NOT NULL,
  shard          smallint NOT NULL,
  -- What the API read from the event (the descriptor's interpret), so the apply orders versions
  -- without parsing bodies it will discard.
  remote_key     text NOT NULL,
  version_at     timestamptz NOT NULL,
  precedence     smallint NOT NULL,
  deleted        boolean NOT NULL,
  -- The upstream's event id, for integrations that de-duplicate by it.
  event_id       text,
  -- The verified body as received; parsed once, by the apply, and only for the newest version of a key.
  body           text NOT NULL,
  received_at    timestamptz NOT NULL DEFAULT now()
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000, autovacuum_vacuum_insert_scale_factor = 0);

CREATE INDEX ingest_inbox_shard ON ingest_inbox (integration_id, shard, id);

-- Events the upsert could not apply (the database refused the row), with the error: never dropped
-- silently. `hooksync integrations retry-failed <id>` puts them back into the inbox.
CREATE TABLE ingest_dead_letters (
  id             bigserial PRIMARY KEY,
  integration_id text NOT NULL,
  shard          smallint NOT NULL,
  remote_key     text NOT NULL,
  version_at     timestamptz NOT NULL,
  precedence     smallint NOT NULL,
  deleted        boolean NOT NULL,
  event_id       text,
  body           text NOT NULL,
  received_at    timestamptz NOT NULL,
  error          text NOT NULL,
  failed_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX ingest_dead_letters_integration ON ingest_dead_letters (integration_id, id);

-- Event ids already applied, for integrations that de-duplicate redeliveries by id; kept for the
-- integration's window (longer than the upstream retries), then pruned by the sweep.
CREATE TABLE ingest_seen_events (
  integration_id text NOT NULL,
  event_id       text NOT NULL,
  seen_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (integration_id, event_id)
);

CREATE INDEX ingest_seen_events_age ON ingest_seen_events (seen_at);

-- Per-instance settings of integrations that need them (e.g. where the key sits in a payload).
ALTER TABLE integrations ADD COLUMN config jsonb NOT NULL DEFAULT '{}';

-- Which kind of change a row's version is (the descriptor's precedence: Stripe created < updated
-- < deleted), so that of two versions with the same upstream timestamp the stronger one wins
-- whatever their order of arrival. Rows written before this column count as the weakest kind.
DO $$
DECLARE t text;
BEGIN
  FOR t IN SELECT table_name FROM integrations LOOP
    EXECUTE format('ALTER TABLE %I ADD COLUMN IF NOT EXISTS _precedence smallint NOT NULL DEFAULT 0', t);
  END LOOP;
END $$;

-- ISO 8601 text to timestamptz, or NULL when it is not one: a denormalized column never makes a
-- record unappliable. (PostgreSQL 15 has no pg_input_is_valid.)
CREATE FUNCTION hooksync_iso_timestamptz(t text) RETURNS timestamptz
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
  IF t IS NULL OR t !~ '^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|z|[+-]\d{2}(:?\d{2})?)$' THEN
    RETURN NULL;
  END IF;
  RETURN t::timestamptz;
EXCEPTION WHEN others THEN
  RETURN NULL;
END $$;
