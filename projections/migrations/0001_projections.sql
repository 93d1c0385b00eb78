-- One row per projection: where it got to, which code version built its
-- tables, and whether it runs. Updated in the same transaction as the rows.
CREATE TABLE projection_checkpoints (
    name        text        PRIMARY KEY,
    version     int         NOT NULL,
    position    text        NOT NULL,
    -- Bumped whenever the tables or the position change outside the normal
    -- fold (rebuild swap, skip, retry), so a running projector drops its
    -- cached state instead of trusting it.
    generation  bigint      NOT NULL DEFAULT 0,
    state       text        NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'stopped')),
    last_error  text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Events a projection could not fold after its retries. The projection stops
-- on the first one; `projections retry|skip` resolve it.
CREATE TABLE dead_letters (
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

CREATE INDEX dead_letters_open ON dead_letters (projection) WHERE resolution IS NULL;
