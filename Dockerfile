# uptime-tracker in a container: a static (musl) binary alone in a `scratch` image.
# docs/install.md, Docker.
#
#   docker build -t uptime-tracker .
#   docker run -d --name uptime-tracker --network host \
#     -v /etc/uptime-tracker/config.toml:/config/config.toml:ro \
#     -v /var/log/uptime-tracker:/logs \
#     uptime-tracker
#
# The config's log_folder must be "/logs". A host folder mounted there must be writable
# by uid 10001 (chown 10001 /var/log/uptime-tracker), or run with --user "$(id -u)".
# Router build (the daemon with auth, no simulate/report):
#   --build-arg FEATURES="--no-default-features --features auth"

# --- build: Alpine's Rust targets musl, and links statically by default ---
FROM rust:1-alpine AS build
ARG FEATURES=""
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY . .
RUN cargo build --release --locked $FEATURES \
 && mkdir -p /out/logs \
 && cp target/release/uptime-tracker /out/uptime-tracker \
 && /out/uptime-tracker --version

# --- run: nothing but the binary ---
FROM scratch
COPY --from=build /out/uptime-tracker /uptime-tracker
# An empty /logs owned by the service uid: a named volume starts as a copy of it.
COPY --from=build --chown=10001:10001 /out/logs /logs
USER 10001:10001
# The mesh port of the example configs (each node listens on its own node's port).
EXPOSE 7100/tcp
VOLUME ["/logs"]
# SIGTERM (docker stop): the daemon finishes its log writes and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/uptime-tracker"]
CMD ["run", "--config", "/config/config.toml"]
