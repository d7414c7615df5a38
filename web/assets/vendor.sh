#!/usr/bin/env bash
# Copies the pinned npm packages (package-lock.json) into dist/vendor/, which is checked in and
# embedded in the binary. `./vendor.sh --check` instead fails when a vendored file differs from
# the locked package (CI runs it after `npm ci`).
set -euo pipefail
cd "$(dirname "$0")"
files=(
    "node_modules/htmx.org/dist/htmx.min.js:htmx.min.js"
    "node_modules/htmx.org/LICENSE:htmx.LICENSE.txt"
    "node_modules/htmx-ext-sse/dist/sse.min.js:htmx-ext-sse.min.js"
    "node_modules/htmx-ext-sse/LICENSE:htmx-ext-sse.LICENSE.txt"
    "node_modules/modern-normalize/modern-normalize.css:modern-normalize.css"
    "node_modules/modern-normalize/license:modern-normalize.LICENSE.txt"
    "node_modules/@xterm/xterm/lib/xterm.js:xterm.js"
    "node_modules/@xterm/xterm/css/xterm.css:xterm.css"
    "node_modules/@xterm/xterm/LICENSE:xterm.LICENSE.txt"
    "node_modules/@xterm/addon-fit/lib/addon-fit.js:xterm-addon-fit.js"
    "node_modules/@xterm/addon-fit/LICENSE:xterm-addon-fit.LICENSE.txt"
    "node_modules/asciinema-player/dist/bundle/asciinema-player.min.js:asciinema-player.min.js"
    "node_modules/asciinema-player/dist/bundle/asciinema-player.css:asciinema-player.css"
    "node_modules/asciinema-player/LICENSE:asciinema-player.LICENSE.txt"
)
mkdir -p dist/vendor
status=0
for pair in "${files[@]}"; do
    from="${pair%%:*}" to="dist/vendor/${pair#*:}"
    if [[ "${1:-}" == "--check" ]]; then
        cmp -s "$from" "$to" || { echo "$to differs from $from; run web/assets/vendor.sh" >&2; status=1; }
    else
        cp "$from" "$to"
    fi
done
if [[ "${1:-}" != "--check" ]]; then
    node -e 'const l=require("./package-lock.json").packages;for(const n of ["htmx.org","htmx-ext-sse","modern-normalize","@xterm/xterm","@xterm/addon-fit","asciinema-player"])console.log(n+" "+l["node_modules/"+n].version)' > dist/vendor/VERSIONS
fi
exit "$status"
