-- Schema version 2: the send journal and saved conversation state.

-- Sends the server acknowledged while an inbox entry was being handled,
-- kept while the entry is in the inbox: a replay of the entry after a
-- crash returns these instead of sending again. Message ids are u64,
-- stored bit for bit in a BIGINT.
CREATE TABLE send_journal (
    account TEXT COLLATE "C" NOT NULL,
    entry BIGINT NOT NULL,
    position BIGINT NOT NULL,
    chunk BIGINT NOT NULL,
    client_id TEXT NOT NULL,
    message_id BIGINT,
    PRIMARY KEY (account, entry, position, chunk)
);

-- Handlers' saved state, per conversation and key, as JSON text.
CREATE TABLE conversation_state (
    account TEXT COLLATE "C" NOT NULL,
    conversation TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (account, conversation, key)
);
