# syntax=docker/dockerfile:1
# sopstream: one image with every service binary; the Helm chart selects the binary per service
# through the entrypoint (`IMAGE mrp`, `IMAGE sop-ingestion`, `IMAGE sopctl status`).
#
#   docker build -t sopstream/sopstream:0.1.0 .
#   docker build --build-arg SERVICES="ingestion forecasting mrp" --build-arg JOBS=8 -t ... .
#
# Stage 1 builds with the project's own release preset (what `tools/dev build release` does);
# stage 2 holds only the runtime libraries, runs as uid 10001 and is read-only-root friendly
# (nothing is written outside /tmp).

ARG DEBIAN_IMAGE=debian:12

FROM ${DEBIAN_IMAGE} AS build
# The build dependencies of tools/dev setup (no redis-server/prometheus/kcat: tests do not run
# here; GoogleTest and Google Benchmark are needed because the top-level CMakeLists finds them).
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      build-essential cmake ninja-build pkg-config git ca-certificates \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      librdkafka-dev libhiredis-dev prometheus-cpp-dev libssl-dev \
      libgtest-dev libgmock-dev libbenchmark-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Services to build (all six by default; a missing one fails the build rather than shipping an
# image the chart cannot run).
ARG SERVICES="ingestion forecasting mrp capacity exceptions workflow"
ARG JOBS=2
RUN cmake --preset release -S /src \
 && targets="sopctl" \
 && for service in $SERVICES; do targets="$targets sop-$service"; done \
 && cmake --build /src/build/release -j "$JOBS" --target $targets \
 && mkdir -p /out/bin \
 && for service in $SERVICES; do \
      install -m 0755 "/src/build/release/services/$service/sop-$service" /out/bin/; \
    done \
 && install -m 0755 /src/build/release/tools/sopctl/sopctl /out/bin/ \
 && strip --strip-unneeded /out/bin/*

FROM ${DEBIAN_IMAGE}-slim AS runtime
# Only the shared libraries the binaries link (gRPC, protobuf, librdkafka, hiredis,
# prometheus-cpp, libcrypto; their own dependencies come along) and the CA bundle for Kafka TLS.
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libgrpc++1.51 libprotobuf32 librdkafka1 libhiredis0.14 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libssl3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 sop \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin sop
COPY --from=build /out/bin/ /usr/local/bin/
COPY deploy/docker/sop-entrypoint /usr/local/bin/sop-entrypoint
LABEL org.opencontainers.image.title="sopstream" \
      org.opencontainers.image.description="Event-driven S&OP services (ingestion, forecasting, mrp, capacity, exceptions, workflow)" \
      org.opencontainers.image.version="0.1.0"
# gRPC 50051–50056 and metrics 9461–9466 (services-common.md defaults).
EXPOSE 50051-50056 9461-9466
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/sop-entrypoint"]
CMD ["help"]
