# parley: multi-stage image on Debian 12 (bookworm-slim).
#
#   docker build -t parley .            (or: podman build -t parley .)
#   docker run -d --name parley --network host -v parley-data:/var/lib/parley parley
#
# The README's "Docker" section has the run line with published ports instead of host
# networking, and conf/docker-compose.yml runs it next to coturn. Settings: environment
# PARLEY_<SECTION>_<KEY> or flags after the image name (--section.key=value); the health
# check follows both. Only plain Dockerfile syntax (no BuildKit heredocs): buildah 1.28
# builds it too.

# ---- build stage: compilers and -dev packages, never shipped ----
FROM debian:bookworm-slim AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       gcc libc6-dev binutils meson ninja-build pkg-config python3 \
       libglib2.0-dev libnice-dev libsrtp2-dev libusrsctp-dev libmicrohttpd-dev \
       libjansson-dev libsqlite3-dev libssl-dev libopus-dev libcurl4-openssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Sources last, so a code change rebuilds only from here on (the apt layer stays cached).
COPY meson.build meson_options.txt ./
COPY plugins ./plugins
COPY tests ./tests
COPY web ./web
COPY conf ./conf
COPY src ./src
RUN meson setup /build --buildtype=release --prefix=/usr \
    && ninja -C /build parley \
    && strip /build/parley \
    && /build/parley --check-config >/dev/null

# ---- runtime stage: shared libraries, the binary, web/ and conf/ ----
FROM debian:bookworm-slim
LABEL org.opencontainers.image.title="parley" \
      org.opencontainers.image.description="Self-hosted WebRTC calling server (Janus-protocol SFU + pay-per-minute platform)" \
      org.opencontainers.image.licenses="MIT"
# No curl and no shell tools beyond the base: the health check is a bash script that
# speaks HTTP over bash's /dev/tcp. dbus-x11 is listed only to satisfy the dbus-session-bus
# that libnice's UPnP chain ends in (libsoup -> glib-networking -> dconf): apt's default
# choice, dbus-user-session, would pull in systemd (about 17 MB more).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       libglib2.0-0 libnice10 libsrtp2-1 libusrsctp2 libmicrohttpd12 libjansson4 \
       libsqlite3-0 libssl3 libopus0 libcurl4 dbus-x11 \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && groupadd --system --gid 10001 parley \
    && useradd --system --uid 10001 --gid parley --home-dir /var/lib/parley \
       --no-create-home --shell /usr/sbin/nologin parley \
    && install -d -o parley -g parley -m 0750 /var/lib/parley
COPY --from=build /build/parley /usr/bin/parley
COPY web /usr/share/parley/web
COPY conf /usr/share/parley/conf
COPY conf/healthcheck.sh /usr/lib/parley/healthcheck
# Defaults for the container: data in the volume, the demo page from the image. Any
# PARLEY_* variable or flag overrides them.
ENV PARLEY_GENERAL_DATA_DIR=/var/lib/parley \
    PARLEY_GENERAL_WEB_ROOT=/usr/share/parley/web
# The admin API (7088: /metrics, sessions, ledger check) stays on 127.0.0.1 unless
# PARLEY_ADMIN_BIND is set: publish it only on a private network.
USER parley:parley
WORKDIR /var/lib/parley
VOLUME /var/lib/parley
EXPOSE 8088/tcp 8188/tcp 7088/tcp 20000-40000/udp
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/usr/lib/parley/healthcheck"]
ENTRYPOINT ["/usr/bin/parley"]
