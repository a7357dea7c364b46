-- Events each integration took from its inbox, counted by the apply in the statement that takes
-- them: one row per integration and shard, so concurrent applies of one integration never wait on
-- each other's counters. `integrations list` and `info` add the shards up.
CREATE TABLE ingest_event_stats (
  integration_id text NOT NULL,
  shard          smallint NOT NULL,
  -- Taken from the inbox: applied, discarded (older, or a redelivery) or dead-lettered.
  events         bigint NOT NULL DEFAULT 0,
  -- Of those, the versions that changed a row.
  applied        bigint NOT NULL DEFAULT 0,
  -- When the newest of them was received by the API.
  last_event_at  timestamptz,
  PRIMARY KEY (integration_id, shard)
);
