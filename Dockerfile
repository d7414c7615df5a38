# syntax=docker/dockerfile:1
# The Janus image: one static binary on distroless/static (CA certificates and tzdata, no shell, no
# package manager), running as uid/gid 1000. Build from the repository root:
#
#   docker build -t registry.example.com/janus:0.1.0 .
#   docker push registry.example.com/janus:0.1.0
#
# then install the chart with --set image.repository=registry.example.com/janus --set image.tag=0.1.0.
# The binary is linked statically against glibc (`+crt-static`); `file` reports "static-pie linked" and
# `ldd` "statically linked" (checked by hand on the same command, see charts/janus/README.md).

ARG RUST_VERSION=1.95.0

FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --locked --target x86_64-unknown-linux-gnu --bin janus \
 && install -D -m 0755 target/x86_64-unknown-linux-gnu/release/janus /out/janus \
 && strip /out/janus \
 && mkdir -p /out/var/lib/janus

FROM gcr.io/distroless/static-debian12
COPY --from=build /out/janus /janus
# Writable data (SQLite file, the agent's key); the chart mounts a volume here.
COPY --from=build --chown=1000:1000 /out/var/lib/janus /var/lib/janus
USER 1000:1000
WORKDIR /var/lib/janus
EXPOSE 8080
ENTRYPOINT ["/janus"]
CMD ["serve"]
