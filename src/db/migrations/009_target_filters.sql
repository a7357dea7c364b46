-- Per-target filters (`httpsync create|update --match --fields --unmatched`): which rows a target
-- gets (those whose `data` contains filter_match), with which fields, and whether a row that does
-- not match comes as a key-only tombstone. filter_since is the cursor at the moment the filter was
-- last set: pages after it are read with it, pages before it were delivered under the one before.
ALTER TABLE sync_targets
  ADD COLUMN filter_match      jsonb CHECK (filter_match IS NULL OR jsonb_typeof(filter_match) = 'object'),
  ADD COLUMN filter_fields     text[] CHECK (filter_fields IS NULL OR cardinality(filter_fields) BETWEEN 1 AND 100),
  ADD COLUMN filter_unmatched  text NOT NULL DEFAULT 'skip' CHECK (filter_unmatched IN ('skip', 'tombstone')),
  ADD COLUMN filter_since_txid xid8,
  ADD COLUMN filter_since_seq  bigint;
