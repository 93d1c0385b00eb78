-- What operators did to subscribers (retry, skip, rebuild), who and when:
-- the console writes a row in the transaction of the act itself, so an
-- act without its record (or the reverse) cannot happen.
CREATE TABLE IF NOT EXISTS operator_actions (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    -- The verified token's subject.
    actor       text        NOT NULL,
    action      text        NOT NULL,
    subscriber  text        NOT NULL,
    detail      text        NOT NULL DEFAULT ''
);

CREATE INDEX IF NOT EXISTS operator_actions_at ON operator_actions (at DESC);

-- Listing a subscriber's dead letters, newest first.
CREATE INDEX IF NOT EXISTS dead_letters_by_subscriber ON dead_letters (projection, id DESC);
