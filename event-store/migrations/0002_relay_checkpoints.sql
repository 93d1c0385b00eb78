-- Where each relay got to: the position of the last event JetStream acked.
-- Written on the relay's leader connection, so a relay that lost its lock
-- cannot move the checkpoint.
CREATE TABLE relay_checkpoints (
    name        text        PRIMARY KEY,
    position    text        NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
