-- What each relay process is doing (leading, standing by, backing off and
-- why), upserted every few seconds with the time, in the database whose
-- advisory lock elects the leader. The console reads it; a row that stops
-- moving is a process that stopped reporting.
CREATE TABLE IF NOT EXISTS relay_status (
    relay_name   text        NOT NULL,
    -- Host and process id.
    instance     text        NOT NULL,
    state        text        NOT NULL,
    detail       text        NOT NULL DEFAULT '',
    since        timestamptz NOT NULL,
    reported_at  timestamptz NOT NULL,
    PRIMARY KEY (relay_name, instance)
);
