# syntax=docker/dockerfile:1
# One small, non-root image holding the single `orderflow` binary; the
# command line picks the service (command-api, relay, projector, query-api).

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so source edits do not rebuild them.
COPY Cargo.toml Cargo.lock ./
COPY domain/Cargo.toml domain/
COPY event-store/Cargo.toml event-store/
COPY command-api/Cargo.toml command-api/
COPY observability/Cargo.toml observability/
COPY projections/Cargo.toml projections/
COPY query-api/Cargo.toml query-api/
COPY schema-registry/Cargo.toml schema-registry/
COPY testkit/Cargo.toml testkit/
COPY auth/Cargo.toml auth/
COPY . .
# The release image can use either event store (EVENT_STORE at run time).
ARG CARGO_FEATURES=kurrentdb
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin orderflow --features "$CARGO_FEATURES" \
    && cp target/release/orderflow /orderflow

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /orderflow /usr/local/bin/orderflow
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/orderflow"]
CMD ["--help"]
