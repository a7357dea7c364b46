-- Signed deliveries and secrets at rest.
ALTER TABLE sync_targets
  -- The URL for display, its user and password replaced by ***:***. `url` itself (like every
  -- column of src/secrets/columns.ts) is sealed under HOOKSYNC_ENCRYPTION_KEY when one is given;
  -- values stored in clear before are sealed when a process first starts with a key.
  ADD COLUMN url_masked text,
  -- Standard Webhooks signing secret (whsec_…) of the target's POSTs; NULL for targets made before
  -- signing existed, until `hooksync httpsync rotate-signing-secret` gives them one.
  ADD COLUMN signing_secret text,
  -- After a rotation the old secret signs too (a second signature) until it expires.
  ADD COLUMN signing_secret_previous text,
  ADD COLUMN signing_secret_previous_expires_at timestamptz;

UPDATE sync_targets SET url_masked = regexp_replace(url, '^([A-Za-z][A-Za-z0-9+.-]*://)[^@/]*@', '\1***:***@');

ALTER TABLE sync_targets ALTER COLUMN url_masked SET NOT NULL;
