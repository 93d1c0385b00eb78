-- Facts that live only in the memory of the process running the saga (the
-- payment provider's circuit breaker), upserted every few seconds with the
-- time, so the console can show them and how fresh they are.
CREATE TABLE IF NOT EXISTS component_status (
    component    text        PRIMARY KEY,
    state        text        NOT NULL,
    detail       text        NOT NULL DEFAULT '',
    reported_by  text        NOT NULL,
    reported_at  timestamptz NOT NULL
);
