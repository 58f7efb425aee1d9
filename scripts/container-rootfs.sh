#!/usr/bin/env bash
# Lays out the container image's whole file system in DEST: the phiguard
# binary, the in-tree plugins given after DEST (in /usr/lib/phiguard/plugins,
# docs/plugins.md), the shared libraries the dynamic loader resolves for
# them (with the loader itself), and the passwd and group entries of its
# non-root user.
# No shell, no package manager, no coreutils: nothing else runs in the
# container. Used by the Dockerfile; tests/e2e/test_container_rootfs.py
# runs the result in a chroot.
# Usage: scripts/container-rootfs.sh BINARY DEST [PLUGIN.so...]
set -euo pipefail
bin=$1
dest=$2
shift 2
uid=10001

mkdir -p "$dest/usr/bin" "$dest/etc" "$dest/tmp"
chmod 1777 "$dest/tmp"
install -m 0755 "$bin" "$dest/usr/bin/phiguard"
for plugin in "$@"; do
  install -D -m 0644 "$plugin" "$dest/usr/lib/phiguard/plugins/$(basename "$plugin")"
done

# Every library as the loader found it (ldd lines "name => /path (addr)" and
# the loader's own "/lib64/ld-linux... (addr)"), copied under the same path;
# a library Debian installs as a symlink is copied as the file it names.
for object in "$bin" "$@"; do ldd "$object"; done |
awk '/=>/ { if ($3 ~ /^\//) print $3; next } $1 ~ /^\// { print $1 }' | sort -u |
while read -r lib; do
  mkdir -p "$dest$(dirname "$lib")"
  cp -L "$lib" "$dest$lib"
done

# getpwuid() for log lines and the loader's view of who runs: one user.
printf 'phiguard:x:%d:%d:phiguard:/nonexistent:/usr/sbin/nologin\n' "$uid" "$uid" >"$dest/etc/passwd"
printf 'phiguard:x:%d:\n' "$uid" >"$dest/etc/group"
