# mixsweepd on Debian 12. Build from the repository root:
#   docker build -f deploy/docker/mixsweepd.Dockerfile -t mixsweepd:0.1.0 .
# The image has no PostgreSQL: give mixsweepd --database (the Helm chart
# does), or it tries to start a local cluster and fails.

# Build with the scripts CI uses. Same stage as mixsweep-worker.Dockerfile,
# so one builder builds it once for both images.
FROM debian:12 AS build
WORKDIR /src
# The dependency layer first: it is rebuilt only when the package list changes.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh
COPY . .
RUN scripts/build.sh /build -DCMAKE_BUILD_TYPE=Release \
      -DMIXSWEEP_BUILD_TESTS=OFF -DMIXSWEEP_BUILD_BENCH=OFF

FROM debian:12-slim
# The packages of the shared libraries the binary links to directly
# (readelf -d ... NEEDED, each file mapped to its package with dpkg -S);
# apt brings their own dependencies. tests/deploy/check_deploy.py checks
# this list against ldd of the built binary.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libabsl20220623 \
      libc6 \
      libfmt9 \
      libgcc-s1 \
      libgrpc++1.51 \
      libgrpc29 \
      libpqxx-6.4 \
      libprometheus-cpp-core1.0 \
      libprotobuf32 \
      libspdlog1.10 \
      libssl3 \
      libstdc++6 \
      libyaml-cpp0.7 \
 && rm -rf /var/lib/apt/lists/*
# A fixed uid, so that Kubernetes' runAsNonRoot can check it.
RUN groupadd --system --gid 10001 mixsweep \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent \
      --no-create-home --shell /usr/sbin/nologin mixsweep
COPY --from=build /build/services/mixsweepd /usr/local/bin/mixsweepd
USER 10001:10001
# gRPC (TLS), /metrics, dashboard.
EXPOSE 50051 9464 8080
ENTRYPOINT ["/usr/local/bin/mixsweepd"]
