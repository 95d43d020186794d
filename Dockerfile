# syntax=docker/dockerfile:1
# egressd container image (docs/deployment.md, docs/docker-compose.md).
#
#   docker build -t egressd .                          the gateway (last stage: runtime)
#   docker build -t egressd-redirect --target redirect-init .   the init image that installs the
#                                                      kernel redirect (scripts/redirect-rules.sh)
#
# Stages: build (Debian 12 + scripts/install-deps.sh, cmake + ninja), redirect-init (iptables,
# iproute2, the redirect script), runtime (only the shared libraries egressd loads, a non-root user).

############################################################################ build
FROM debian:bookworm AS build
# The same package list as `make deps`: the script is the list.
COPY scripts/install-deps.sh /src/scripts/install-deps.sh
RUN /src/scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DEGRESS_BENCH=OFF \
 && cmake --build /build --target egressd egressctl \
 && mkdir -p /out \
 && install -m 0755 /build/egressd /build/egressctl /out/ \
 && deploy/docker/runtime-packages.sh /out/egressd /out/egressctl > /out/runtime-packages

############################################################################ redirect-init
# Runs once per pod / compose project with NET_ADMIN in the gateway's network namespace, then exits.
FROM debian:bookworm-slim AS redirect-init
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables iproute2 \
 && rm -rf /var/lib/apt/lists/*
COPY scripts/redirect-rules.sh /usr/local/bin/redirect-rules.sh
ENTRYPOINT ["/usr/local/bin/redirect-rules.sh"]
CMD ["show"]

############################################################################ runtime
FROM debian:bookworm-slim AS runtime
COPY --from=build /out/runtime-packages /tmp/runtime-packages
# Runtime libraries derived from the binaries (libssl3, libyaml-cpp0.7, libre2-9, libboost-json1.81.0,
# libspdlog1.10, libfmt9, libgit2-1.5 for the policy version's git commit, ...); curl for
# HEALTHCHECK.
RUN apt-get update \
 && xargs -a /tmp/runtime-packages apt-get install -y --no-install-recommends curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages
# A fixed uid: the redirect rules exclude the gateway's own connections by this number
# (docker-compose.yaml: redirect-rules.sh --exclude-uid 10001).
RUN groupadd --system --gid 10001 egressd \
 && useradd --system --uid 10001 --gid egressd --home-dir /var/lib/egressd --create-home \
      --shell /usr/sbin/nologin egressd \
 && install -d -o egressd -g egressd -m 0750 /var/log/egressd
COPY --from=build /out/egressd /out/egressctl /usr/local/bin/
# The repository's layout under /etc/egressd, so config/egressd.yaml's relative paths still hold.
COPY --from=build /src/config/ /etc/egressd/config/
COPY --from=build /src/policy/ /etc/egressd/policy/
RUN ldd /usr/local/bin/egressd /usr/local/bin/egressctl | { ! grep 'not found'; } \
 && egressctl policy check /etc/egressd/policy/
USER egressd:egressd
WORKDIR /var/lib/egressd
VOLUME ["/var/log/egressd"]
EXPOSE 15001 9901
# Must match the config's admin.address (default 127.0.0.1:9901).
ENV EGRESSD_ADMIN=127.0.0.1:9901
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD curl -fsS --max-time 2 "http://${EGRESSD_ADMIN}/healthz" >/dev/null || exit 1
# SIGTERM drains for drain_timeout (give `docker stop -t` / stop_grace_period a bit more).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/egressd"]
CMD ["--config", "/etc/egressd/config/egressd.yaml"]
