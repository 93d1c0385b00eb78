-- A projection whose owner keeps failing with a transient error (connection,
-- serialization, deadlock, a store that is away) backs off and tries again;
-- these say why and when, so `projections status` shows `backing off`
-- instead of a bare `running`. Cleared once the projection moves again.
ALTER TABLE projection_checkpoints
    ADD COLUMN backoff_error text,
    ADD COLUMN backoff_until timestamptz;
