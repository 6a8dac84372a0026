-- Schema version 4: the workers of a cluster and their leases on accounts
-- (docs/scaling.md). Times are the database server's clock (now()), so
-- the workers' own clocks do not matter.

-- A bot process sharing the accounts of this database. It is alive while
-- its heartbeat is younger than its ttl_ms; a worker that stops cleanly
-- deletes its row.
CREATE TABLE workers (
    id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ttl_ms BIGINT NOT NULL,
    -- Draining: it takes no new accounts and hands its own over.
    stopping BOOLEAN NOT NULL DEFAULT false
);

-- Who polls and sends for an account. `epoch` grows by one at every change
-- of holder: each write of the holder checks its epoch in the same
-- transaction (FOR SHARE), so a worker that lost the lease writes nothing.
-- A lease is free when `worker` is NULL or its worker is no longer alive.
CREATE TABLE leases (
    account TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    worker TEXT COLLATE "C",
    epoch BIGINT NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX leases_by_worker ON leases (worker);
