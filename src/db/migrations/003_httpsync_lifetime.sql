-- HTTP Sync targets over a long life: cursor resets, retry state, self-repair.
ALTER TABLE sync_targets
  -- Bumped by `hooksync httpsync reset`: a delivery still running from before the reset cannot
  -- move the cursor it reset (its progress is recorded only under its own generation).
  ADD COLUMN cursor_generation integer NOT NULL DEFAULT 0,
  ADD COLUMN reset_at timestamptz,
  ADD COLUMN reset_count integer NOT NULL DEFAULT 0,
  -- Failed attempts in a row (0 after a 2xx) and when the next one is due: `info` and /metrics.
  ADD COLUMN retry_attempts integer NOT NULL DEFAULT 0,
  ADD COLUMN next_attempt_at timestamptz,
  -- The target's workflow was started again from this row (self-repair or `hooksync httpsync restart`).
  ADD COLUMN workflow_restarts integer NOT NULL DEFAULT 0,
  ADD COLUMN workflow_restarted_at timestamptz,
  ADD COLUMN workflow_restart_reason text;

COMMENT ON COLUMN sync_targets.cursor_txid IS
  'Recorded after every 2xx, under the target''s delivery lock. A delivery starts from the further of '
  'this and the workflow''s cursor (of one generation), and a workflow started again starts from it.';
