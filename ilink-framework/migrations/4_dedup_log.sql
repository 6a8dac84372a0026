-- Schema version 4: dedup keys as an append-only log. Keyed by the keys
-- themselves, each key of a batch dirtied a B-tree page of its own; in the
-- order they are recorded, a row per message holding its keys (16 bytes
-- each, concatenated), they fill a few pages at the end of the log and
-- expire from its front. Lookups go through an index the store keeps in
-- memory (store/sqlite/dedup_index.rs).
CREATE TABLE dedup_log (
    account TEXT NOT NULL,
    seq INTEGER NOT NULL,
    keys BLOB NOT NULL,
    entry INTEGER NOT NULL,
    recorded_at_ms INTEGER NOT NULL,
    PRIMARY KEY (account, seq)
) WITHOUT ROWID;

INSERT INTO dedup_log (account, seq, keys, entry, recorded_at_ms)
SELECT account,
       ROW_NUMBER() OVER (PARTITION BY account ORDER BY recorded_at_ms, key) - 1,
       key, entry, recorded_at_ms
FROM dedup_keys;

DROP TABLE dedup_keys;
