# mixsweep-worker on Debian 12. Build from the repository root:
#   docker build -f deploy/docker/mixsweep-worker.Dockerfile -t mixsweep-worker:0.1.0 .
# The worker runs each job's command inside its own container, so this image
# is a base: add your training code and its runtime (FROM this image), or
# copy /usr/local/bin/mixsweep-worker into a Debian 12 image of your own
# together with the runtime packages below. nvidia-smi and the driver
# libraries are not in the image: the NVIDIA container runtime mounts them.

# Build with the scripts CI uses. Same stage as mixsweepd.Dockerfile, so one
# builder builds it once for both images.
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
      libprometheus-cpp-core1.0 \
      libprotobuf32 \
      libspdlog1.10 \
      libstdc++6 \
 && rm -rf /var/lib/apt/lists/*
# A fixed uid, so that Kubernetes' runAsNonRoot can check it, with a home:
# training commands write caches there.
RUN groupadd --system --gid 10001 mixsweep \
 && useradd --system --uid 10001 --gid 10001 --create-home \
      --home-dir /home/mixsweep --shell /bin/sh mixsweep
COPY --from=build /build/workers/mixsweep-worker /usr/local/bin/mixsweep-worker
USER 10001:10001
WORKDIR /home/mixsweep
# /metrics (--metrics-listen).
EXPOSE 9465
ENTRYPOINT ["/usr/local/bin/mixsweep-worker"]
