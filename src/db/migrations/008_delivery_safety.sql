-- Delivery that survives a lost lock session, and settings that reach the workflow for sure.
ALTER TABLE sync_targets
  -- Lock-delay (as Chubby's): until when a POST to this target may be in flight, by PostgreSQL's
  -- clock, written synchronously before every POST. The delivery lock is a session's advisory
  -- lock, gone the moment that session dies while its POST may still be running: whoever takes
  -- the lock next waits until this time has passed. Cleared after the POST ended.
  ADD COLUMN post_in_flight_until timestamptz,
  -- A change of settings (update, pause, resume) the workflow has not acknowledged yet: the id of
  -- the `configure` update that carries it. Self-repair sends the row's settings under this id
  -- until the workflow answers, then clears it; not before the service's own call has had its
  -- time (pending_update_at, PostgreSQL's clock), so that the two never send different settings.
  ADD COLUMN pending_update_id text,
  ADD COLUMN pending_update_at timestamptz;
