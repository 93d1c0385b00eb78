-- The runtime's own tables, in whichever database a subscriber keeps its
-- effects (the read database for projections). The names predate the
-- runtime: projections' migrations 0001/0002 created the same tables before
-- it existed, so every statement here is a no-op on such a database and
-- creates them everywhere else.

-- One row per subscriber: where it got to, which version built its effects,
-- and whether it runs. Moved in the same transaction as the effects.
CREATE TABLE IF NOT EXISTS projection_checkpoints (
    name        text        PRIMARY KEY,
    version     int         NOT NULL,
    position    text        NOT NULL,
    -- Bumped whenever the effects or the position change outside the normal
    -- loop (rebuild swap, skip, retry), so a running owner drops its cached
    -- state instead of trusting it.
    generation  bigint      NOT NULL DEFAULT 0,
    state       text        NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'stopped')),
    last_error  text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Why and until when an owner backs off from a transient error (NULL while
-- it moves).
ALTER TABLE projection_checkpoints
    ADD COLUMN IF NOT EXISTS backoff_error text,
    ADD COLUMN IF NOT EXISTS backoff_until timestamptz;

-- Events a subscriber could not handle after its retries. It stops on the
-- first one; retry/skip resolve it. `projection` is the subscriber's name.
CREATE TABLE IF NOT EXISTS dead_letters (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    projection      text        NOT NULL,
    position        text        NOT NULL,
    event_id        uuid        NOT NULL,
    stream_id       text        NOT NULL,
    event_type      text        NOT NULL,
    schema_version  int         NOT NULL,
    payload         jsonb       NOT NULL,
    error           text        NOT NULL,
    attempts        int         NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    resolution      text        CHECK (resolution IN ('retried', 'skipped')),
    resolved_at     timestamptz
);

CREATE INDEX IF NOT EXISTS dead_letters_open ON dead_letters (projection) WHERE resolution IS NULL;
