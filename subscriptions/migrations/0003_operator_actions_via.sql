-- Where an act came from: `console` (a signed-in operator, `actor` is the
-- token's subject) or `cli` (`orderflow projections|sagas`, `actor` from
-- `--actor`, by default the shell user at the host). Every row before this
-- column came from the console.
ALTER TABLE operator_actions
    ADD COLUMN IF NOT EXISTS via text NOT NULL DEFAULT 'console'
        CHECK (via IN ('console', 'cli'));
