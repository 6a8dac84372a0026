-- Schema version 1 of the state database (SqliteStore).
-- Inbox ids and times are integers; messages and credentials are JSON text.

CREATE TABLE credentials (
    account TEXT NOT NULL PRIMARY KEY,
    credentials TEXT NOT NULL
);

CREATE TABLE cursors (
    account TEXT NOT NULL PRIMARY KEY,
    cursor TEXT NOT NULL
);

CREATE TABLE inbox (
    account TEXT NOT NULL,
    id INTEGER NOT NULL,
    received_at_ms INTEGER NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (account, id)
) WITHOUT ROWID;

CREATE TABLE context_tokens (
    account TEXT NOT NULL,
    user_id TEXT NOT NULL,
    token TEXT NOT NULL,
    received_at_ms INTEGER NOT NULL,
    sent INTEGER NOT NULL,
    PRIMARY KEY (account, user_id)
) WITHOUT ROWID;

CREATE TABLE dedup_keys (
    account TEXT NOT NULL,
    key BLOB NOT NULL,
    entry INTEGER NOT NULL,
    recorded_at_ms INTEGER NOT NULL,
    PRIMARY KEY (account, key)
) WITHOUT ROWID;

-- What expires next, per account.
CREATE INDEX dedup_keys_by_age ON dedup_keys (account, recorded_at_ms);
