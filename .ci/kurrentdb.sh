#!/usr/bin/env bash
# The KurrentDB store (feature kurrentdb; its gRPC client is slow to build):
# lint it, run only its own unit tests (the event store's other unit tests
# run once, in `cargo test --workspace`), and its conformance suite. The
# suite needs a server, so its tests are #[ignore]d and counted as ignored;
# with KURRENTDB_URL set they run (and must pass).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo clippy -p orderflow --features kurrentdb --all-targets -- -D warnings
cargo test -p orderflow-event-store --features kurrentdb --lib kurrentdb::
if [ -n "${KURRENTDB_URL:-}" ]; then
  cargo test -p orderflow-event-store --features kurrentdb --test kurrentdb_conformance \
    -- --include-ignored
else
  cargo test -p orderflow-event-store --features kurrentdb --test kurrentdb_conformance
fi
