# phiguard's container image: built on Debian 12, run from an image that
# holds only the binary, its shared libraries and a passwd entry for its
# non-root user (scripts/container-rootfs.sh). No shell, no package manager.
#   docker build -t registry.example.org/phiguard:1.0 .
# (No Docker engine on phiguard's development machines: this file is built
# where one exists; tests/e2e/test_container_rootfs.py runs the same file
# system in a chroot.)

FROM debian:12 AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      libevent-dev libssl-dev libhiredis-dev libyaml-dev libargon2-dev \
      liboath-dev libhttp-parser-dev libyajl-dev libjwt-dev libqrencode-dev \
      zlib1g-dev libcmocka-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY proxy proxy
COPY policy policy
COPY plugins plugins
COPY tests tests
COPY bench bench
COPY scripts scripts
# The in-tree plugins (plugins/*/) go to /usr/lib/phiguard/plugins.
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
 && cmake --build build -j "$(nproc)" --target phiguard phiguard_plugins \
 && strip --strip-debug build/phiguard \
 && shopt -s nullglob && plugins=(build/plugins/*.so) \
 && if [ ${#plugins[@]} -gt 0 ]; then strip --strip-debug "${plugins[@]}"; fi \
 && bash scripts/container-rootfs.sh build/phiguard /rootfs "${plugins[@]}"

FROM scratch
COPY --from=build /rootfs/ /
# The uid the manifests in k8s/ name (runAsUser: 10001).
USER 10001:10001
EXPOSE 8443 9090
ENTRYPOINT ["/usr/bin/phiguard"]
CMD ["serve", "-c", "/etc/phiguard/phiguard.yaml"]
