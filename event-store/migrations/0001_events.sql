-- The event log. It is also the outbox: the relay tails this table, nothing
-- is published inside the write transaction.
CREATE TABLE events (
    global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Readers order by (transaction_id, global_position) and only read below
    -- the oldest running transaction, because identities are handed out before
    -- commit and so commit out of order (see DESIGN.md).
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    stream_id       text        NOT NULL,
    stream_version  bigint      NOT NULL CHECK (stream_version > 0),
    event_id        uuid        NOT NULL UNIQUE,
    event_type      text        NOT NULL,
    schema_version  int         NOT NULL,
    payload         jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream_id, stream_version)
);

CREATE INDEX events_commit_order ON events (transaction_id, global_position);

-- First response of a command sent with an Idempotency-Key, written in the
-- same transaction as the command's events so the two can never disagree.
CREATE TABLE idempotency_keys (
    key             text        PRIMARY KEY,
    request_hash    text        NOT NULL,
    response        jsonb       NOT NULL,
    stream_id       text        NOT NULL,
    stream_version  bigint      NOT NULL,
    position        text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
