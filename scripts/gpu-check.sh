#!/bin/sh
# `npm run gpu-check`: runs scripts/gpu-check.mjs with a Node.js that is there: the one on PATH
# (>= 20), else the one `npm run gpu-check:prepare` packed into .gpu-check/node.xz (unpacked with
# xz, or Python's lzma where xz is missing). Arguments go to gpu-check.mjs.
set -eu
cd "$(dirname "$0")/.."
node_ok() { "$1" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null; }
NODE=$(command -v node || true)
if [ -z "$NODE" ] || ! node_ok "$NODE"; then
  if [ ! -f .gpu-check/node.xz ]; then
    echo "gpu-check: no Node.js >= 20 on PATH and none packed (.gpu-check/node.xz: run npm run gpu-check:prepare where Node is)" >&2
    exit 3
  fi
  NODE="${TMPDIR:-/tmp}/shortgpt-gpu-check-node"
  if command -v xz >/dev/null 2>&1; then
    xz -dc .gpu-check/node.xz > "$NODE"
  else
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' .gpu-check/node.xz "$NODE"
  fi
  chmod +x "$NODE"
  echo "gpu-check: using the packed Node.js $("$NODE" --version)" >&2
fi
exec "$NODE" scripts/gpu-check.mjs "$@"
