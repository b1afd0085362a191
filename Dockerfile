# parley: multi-stage image on Debian 12. Build:  docker build -t parley .
# Run (host networking is simplest for WebRTC):
#   docker run -d --network host -v parley-data:/var/lib/parley parley
# or publish the ports and advertise the public IP:
#   docker run -d -p 8088:8088 -p 8188:8188 -p 20000-20100:20000-20100/udp \
#     -e PARLEY_MEDIA_RTP_PORT_RANGE=20000-20100 -e PARLEY_MEDIA_NAT_1_1_IP=<public ip> \
#     -v parley-data:/var/lib/parley parley
FROM debian:bookworm-slim AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential meson ninja-build pkg-config libglib2.0-dev libnice-dev libsrtp2-dev \
      libusrsctp-dev libmicrohttpd-dev libjansson-dev libsqlite3-dev libssl-dev libopus-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY meson.build meson_options.txt ./
COPY src ./src
COPY plugins ./plugins
COPY tests ./tests
COPY web ./web
COPY conf ./conf
RUN meson setup /build --buildtype=release --prefix=/usr && ninja -C /build parley

FROM debian:bookworm-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libglib2.0-0 libnice10 libsrtp2-1 libusrsctp2 libmicrohttpd12 libjansson4 libsqlite3-0 \
      libssl3 libopus0 curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /var/lib/parley --create-home parley
COPY --from=build /build/parley /usr/bin/parley
COPY web /usr/share/parley/web
COPY conf /usr/share/parley/conf
ENV PARLEY_GENERAL_DATA_DIR=/var/lib/parley \
    PARLEY_GENERAL_WEB_ROOT=/usr/share/parley/web
# The admin API (7088) stays on 127.0.0.1 inside the container unless PARLEY_ADMIN_BIND is set:
# it exposes the ledger check and sessions, so publish it only on a private network.
USER parley
VOLUME /var/lib/parley
EXPOSE 8088/tcp 8188/tcp 7088/tcp 20000-40000/udp
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8088/healthz || exit 1
ENTRYPOINT ["/usr/bin/parley"]
