#!/usr/bin/env bash
# Runs every fuzz target for a while (default 600 s each; `scripts/fuzz.sh 3600`
# for an hour each, `scripts/fuzz.sh 60 h2_server` for one target), on the stable
# toolchain, with the committed corpus, which grows with what the run finds.
#
# A crash leaves its input in fuzz/artifacts/TARGET/. To keep it as a regression
# test: fix the bug, then copy the input into fuzz/corpus/TARGET/ and commit it —
# every CI run replays the whole corpus of each target before fuzzing (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-600}"
shift || true
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(RUSTC_BOOTSTRAP=1 cargo fuzz list)
fi
failed=()
for target in "${targets[@]}"; do
    echo "=== $target for ${seconds}s ($(date -u +%H:%M:%SZ))"
    mkdir -p "corpus/$target"
    if ! RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 2>&1 | tail -n 12; then
        failed+=("$target")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "findings in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "no findings"
