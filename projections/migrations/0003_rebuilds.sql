-- Rebuilds asked for by an operator (the console), with the progress the
-- rebuilding process reports every half second, so any query API replica
-- can show it, and a rebuild whose process died shows as silent.
CREATE TABLE IF NOT EXISTS projection_rebuilds (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    projection    text        NOT NULL,
    requested_by  text        NOT NULL,
    requested_at  timestamptz NOT NULL DEFAULT now(),
    state         text        NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done', 'failed')),
    events        bigint      NOT NULL DEFAULT 0,
    total_events  bigint,
    error         text,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);

CREATE INDEX IF NOT EXISTS projection_rebuilds_latest ON projection_rebuilds (projection, id DESC);
