#!/usr/bin/env bash
# Installs what building and testing Orrery needs on Debian 12, skipping what is
# already there: Debian packages (Chromium drives the console's browser tests),
# V8 (unpacked from Debian's libnode108, because libnode-dev conflicts with the
# machine's Node.js), and the pinned npm packages.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(cmake make g++ ccache pkg-config
          libcaf-dev libboost-dev libmsgpack-cxx-dev librocksdb-dev catch2
          nlohmann-json3-dev libcli11-dev libssl-dev zlib1g-dev libbrotli-dev
          libuv1 libc-ares2 libnghttp2-14 libbrotli1 libicu72 nodejs npm
          chromium fonts-dejavu-core)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The machine's own Node.js may come from outside Debian; keep it when present.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
missing=(${missing[@]+"${missing[@]}"})
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

v8_dir=third_party/libnode
if [ ! -f "$v8_dir/usr/include/node/v8.h" ]; then
  echo "unpacking V8 from Debian's libnode108 into $v8_dir"
  tmp=$(mktemp -d) && chmod 755 "$tmp"  # apt downloads as its own user
  (cd "$tmp" && apt-get download libnode108 libnode-dev)
  mkdir -p "$v8_dir"
  for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$v8_dir"; done
  rm -rf "$tmp"
fi

if [ ! -d node_modules/spacetimedb ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
