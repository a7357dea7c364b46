-- One row per integration instance; each owns a table named <service>_<4 hex>.
CREATE TABLE integrations (
  id             text PRIMARY KEY,
  service        text NOT NULL,
  table_name     text NOT NULL UNIQUE,
  webhook_secret text,
  created_at     timestamptz NOT NULL DEFAULT now()
);

-- One row per HTTP Sync target. The URL (with its Basic Auth credentials) lives only here:
-- workflows carry the target id and activities load the URL.
CREATE TABLE sync_targets (
  id               text PRIMARY KEY,
  integration_id   text NOT NULL REFERENCES integrations (id),
  url              text NOT NULL,
  period_seconds   integer NOT NULL CHECK (period_seconds BETWEEN 1 AND 86400),
  page_size        integer NOT NULL CHECK (page_size BETWEEN 1 AND 10000),
  timeout_seconds  integer NOT NULL CHECK (timeout_seconds BETWEEN 1 AND 3600),
  mode             text NOT NULL CHECK (mode IN ('interval', 'on_insert')),
  paused           boolean NOT NULL DEFAULT false,
  created_at       timestamptz NOT NULL DEFAULT now(),
  deleted_at       timestamptz,
  -- Progress, written by the delivery activity after every 2xx page, under the target's lock. A
  -- delivery starts from the further of this cursor and the workflow's (of one generation), and a
  -- workflow started again (self-repair, restart) starts from it. (Comment only; the migrator
  -- records files by name, so the words may be corrected.)
  cursor_txid      xid8 NOT NULL DEFAULT '0',
  cursor_seq       bigint NOT NULL DEFAULT 0,
  rows_delivered   bigint NOT NULL DEFAULT 0,
  pages_delivered  bigint NOT NULL DEFAULT 0,
  post_count       bigint NOT NULL DEFAULT 0,
  post_ms_total    double precision NOT NULL DEFAULT 0,
  error_count      bigint NOT NULL DEFAULT 0,
  last_error       text,
  last_error_at    timestamptz,
  last_success_at  timestamptz
);

CREATE INDEX sync_targets_integration ON sync_targets (integration_id) WHERE deleted_at IS NULL;
