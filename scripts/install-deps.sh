#!/usr/bin/env bash
# Installs, with apt-get, every Debian package phiguard builds, tests and
# benchmarks with. Idempotent and silent when everything is present.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libevent-dev libssl-dev libhiredis-dev libyaml-dev libargon2-dev
  liboath-dev libhttp-parser-dev libyajl-dev libjwt-dev libqrencode-dev
  zlib1g-dev libcmocka-dev
  redis-server redis-tools nginx-light wrk curl openssl oathtool
  jq gnupg
  python3 python3-pytest python3-jsonschema python3-requests python3-redis python3-argon2 python3-jwt python3-cryptography python3-prometheus-client
  python3-yaml
  chromium nodejs
  clang libclang-rt-14-dev testssl.sh
)

# The browser test drives Chromium with playwright-core from npm (pinned in
# tests/browser/package-lock.json), installed into tests/browser/node_modules.
browser_modules() {
  local dir
  dir="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
  [ -d "$dir/node_modules/playwright-core" ] && return 0
  if ! command -v npm >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
  fi
  echo "install-deps: npm ci in tests/browser" >&2
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}
trap browser_modules EXIT

# tests/e2e/test_k8s_manifests.py renders the kustomizations with
# `kubectl kustomize`. Debian ships kubectl as kubernetes-client (1.20, with
# kustomize v2, which k8s/ is written for); a machine that already has a
# kubectl from elsewhere keeps it, as both would own /usr/bin/kubectl.
command -v kubectl >/dev/null 2>&1 || packages+=(kubernetes-client)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]} (run as root to install)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian packages start their services on install; phiguard's tests and
# demo start their own on free loopback ports, so stop the system ones.
for svc in redis-server nginx; do
  if command -v systemctl >/dev/null 2>&1; then systemctl stop "$svc" >/dev/null 2>&1 || true; fi
  service "$svc" stop >/dev/null 2>&1 || true
done
