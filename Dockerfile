# syntax=docker/dockerfile:1
# The same glibc release build the tests and e2e/bench measure (`cargo build --release -p
# metrics-server`; its memory figures assume glibc's allocator, tuned at start-up), on a
# distroless base with glibc: no shell, no package manager, non-root.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
RUN cargo build --release --locked -p metrics-server \
 && cp target/release/metrics-server /metrics-server

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /metrics-server /metrics-server
USER 65534:65534
ENTRYPOINT ["/metrics-server"]
