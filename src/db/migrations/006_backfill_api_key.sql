-- The upstream API key a backfill lists the integration's resources with (Stripe: sk_… or rk_…).
-- A secret: read and written only through src/db/backfill-credentials.ts, never selected whole
-- into views, logs or Temporal. NULL: no backfill has been started.
ALTER TABLE integrations ADD COLUMN backfill_api_key text;
