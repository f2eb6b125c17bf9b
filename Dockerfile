# wvnr in a container. Build:  docker build -t wvnr .
# Run (host networking keeps the exporters' real addresses; see docs/deployment.md):
#   docker run -d --name wvnr --network host -v wvnr-data:/var/lib/wvnr wvnr
# Bridge networking works for a single exporter but Docker's NAT rewrites the
# source address of every datagram, which breaks per-exporter sources.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY bench ./bench
RUN cargo build --release --locked --bin wvnr && strip target/release/wvnr

FROM debian:bookworm-slim
RUN useradd --system --home-dir /var/lib/wvnr --shell /usr/sbin/nologin wvnr \
 && mkdir -p /var/lib/wvnr /etc/wvnr && chown wvnr:wvnr /var/lib/wvnr
COPY --from=build /src/target/release/wvnr /usr/local/bin/wvnr
COPY scripts/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
USER wvnr
VOLUME /var/lib/wvnr
# Web report on 80 (Docker lets unprivileged users bind low ports in a container
# by default: net.ipv4.ip_unprivileged_port_start=0), flow export on UDP.
EXPOSE 80/tcp 2055/udp 4739/udp 6343/udp 9996/udp
ENV WVNR_DATA=/var/lib/wvnr WVNR_WEB=0.0.0.0:80
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD ["wvnr", "status", "--health"]
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["serve"]
