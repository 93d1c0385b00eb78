-- The process manager's own tables, beside the runtime's checkpoint (they
-- commit with it). Both are folded from the `fulfilment-*` streams; the
-- streams stay the truth.

-- One row per instance: where it is, for `sagas status` and metrics.
CREATE TABLE IF NOT EXISTS fulfilment_instances (
    order_id   uuid PRIMARY KEY,
    phase      text NOT NULL,
    state      jsonb NOT NULL,
    last_event text NOT NULL,
    version    bigint NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS fulfilment_instances_phase ON fulfilment_instances (phase, updated_at);

-- Deadlines the instances set. The scheduler fires due rows once; a row
-- that no longer matters still fires and `decide` ignores it, so nothing
-- here races the instance.
CREATE TABLE IF NOT EXISTS fulfilment_deadlines (
    deadline_id uuid PRIMARY KEY,
    order_id    uuid NOT NULL,
    kind        text NOT NULL,
    due_at      timestamptz NOT NULL,
    fired_at    timestamptz
);
CREATE INDEX IF NOT EXISTS fulfilment_deadlines_due ON fulfilment_deadlines (due_at) WHERE fired_at IS NULL;
