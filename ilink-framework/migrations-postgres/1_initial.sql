-- Schema version 1 of the state database on PostgreSQL (PgStore), the same
-- tables as SQLite's (`migrations/1_initial.sql`). Inbox ids and times are
-- BIGINT; messages and credentials are JSON text (TEXT, not JSONB: kept
-- exactly as written). Text keys sort and compare byte by byte (COLLATE "C"),
-- as in SQLite, whatever the database's locale.

CREATE TABLE credentials (
    account TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    credentials TEXT NOT NULL
);

CREATE TABLE cursors (
    account TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    cursor TEXT NOT NULL
);

CREATE TABLE inbox (
    account TEXT COLLATE "C" NOT NULL,
    id BIGINT NOT NULL,
    received_at_ms BIGINT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (account, id)
);

CREATE TABLE context_tokens (
    account TEXT COLLATE "C" NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL,
    token TEXT NOT NULL,
    received_at_ms BIGINT NOT NULL,
    sent BIGINT NOT NULL,
    PRIMARY KEY (account, user_id)
);

CREATE TABLE dedup_keys (
    account TEXT COLLATE "C" NOT NULL,
    key BYTEA NOT NULL,
    entry BIGINT NOT NULL,
    recorded_at_ms BIGINT NOT NULL,
    PRIMARY KEY (account, key)
);

-- What expires next, per account.
CREATE INDEX dedup_keys_by_age ON dedup_keys (account, recorded_at_ms);
