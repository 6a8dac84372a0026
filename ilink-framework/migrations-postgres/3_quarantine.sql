-- Schema version 3: the quarantine of received messages that could not be
-- handled (undecodable, or no sender), kept as received until an operator
-- looks at them (`ilink quarantine`).
CREATE TABLE quarantine (
    account TEXT COLLATE "C" NOT NULL,
    id BIGINT NOT NULL,
    received_at_ms BIGINT NOT NULL,
    reason TEXT NOT NULL,
    raw TEXT NOT NULL,
    PRIMARY KEY (account, id)
);
