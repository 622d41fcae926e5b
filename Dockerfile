# syntax=docker/dockerfile:1
# A static musl build of the same release binary the tests run (`cargo build --release -p metrics-server`),
# on a distroless base: no shell, no package manager, non-root.
FROM rust:1.95-alpine AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
RUN cargo build --release --locked -p metrics-server \
 && cp target/release/metrics-server /metrics-server

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /metrics-server /metrics-server
USER 65534:65534
ENTRYPOINT ["/metrics-server"]
