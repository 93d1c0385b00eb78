# syntax=docker/dockerfile:1
# One small, non-root image holding the single `orderflow` binary; the
# command line picks the service (command-api, relay, projector, query-api,
# fulfilment, migrate).
#
# Dependencies are built in a layer of their own with cargo-chef: `plan`
# reduces the workspace to its manifests and lock file (recipe.json), and
# `cook` builds only the dependencies from that. The layer is reused as long
# as no manifest or Cargo.lock changes, so a source edit rebuilds only the
# workspace's own crates.

ARG RUST_IMAGE=rust:1.95-slim-bookworm

FROM ${RUST_IMAGE} AS chef
RUN cargo install --locked cargo-chef@0.1.77
WORKDIR /src

FROM chef AS plan
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
# The release image can use either event store (EVENT_STORE at run time).
ARG CARGO_FEATURES=kurrentdb
COPY --from=plan /src/recipe.json recipe.json
# The recipe carries Cargo.lock; the `--locked` build below fails if the
# cooked dependencies ever drifted from it.
RUN cargo chef cook --release --recipe-path recipe.json \
    --bin orderflow --features "$CARGO_FEATURES"
COPY . .
RUN cargo build --release --locked --bin orderflow --features "$CARGO_FEATURES" \
    && cp target/release/orderflow /orderflow

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /orderflow /usr/local/bin/orderflow
# distroless's `nonroot` (65532), as the Kubernetes manifests expect.
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/orderflow"]
CMD ["--help"]
