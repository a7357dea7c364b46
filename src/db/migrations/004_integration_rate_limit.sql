-- An optional rate limit per integration, in events per second, enforced by each API process at
-- the webhook endpoint (429 with Retry-After past it). NULL: no limit.
ALTER TABLE integrations
  ADD COLUMN rate_limit_per_second double precision CHECK (rate_limit_per_second > 0 AND rate_limit_per_second <= 1000000);
