-- Schema version 2: the send journal and saved conversation state.

-- Sends the server acknowledged while an inbox entry was being handled,
-- kept while the entry is in the inbox: a replay of the entry after a
-- crash returns these instead of sending again.
CREATE TABLE send_journal (
    account TEXT NOT NULL,
    entry INTEGER NOT NULL,
    position INTEGER NOT NULL,
    chunk INTEGER NOT NULL,
    client_id TEXT NOT NULL,
    message_id INTEGER,
    PRIMARY KEY (account, entry, position, chunk)
) WITHOUT ROWID;

-- Handlers' saved state, per conversation and key, as JSON text.
CREATE TABLE conversation_state (
    account TEXT NOT NULL,
    conversation TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (account, conversation, key)
) WITHOUT ROWID;
