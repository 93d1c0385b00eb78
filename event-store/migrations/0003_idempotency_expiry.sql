-- Idempotency keys expire. Each key keeps its own expiry, fixed when it is
-- claimed (commit time + the claimant's TTL), so lookups, the replacing
-- insert and the cleanup need no TTL of their own, and a changed setting
-- applies to new keys without reviving or cutting short old ones.
ALTER TABLE idempotency_keys ADD COLUMN expires_at timestamptz;
-- Keys claimed before this migration get the default window of 24 hours.
UPDATE idempotency_keys SET expires_at = created_at + interval '24 hours';
ALTER TABLE idempotency_keys ALTER COLUMN expires_at SET NOT NULL;

-- The cleanup takes the oldest expired keys in small batches by this index.
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
