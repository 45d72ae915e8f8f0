#!/usr/bin/env bash
# Run the Autobahn WebSocket test suite in fuzzingclient mode (the suite is the
# client, our server is under test), summarise, and gate.
#
# usage: run.sh [-r kosoku|wstest] [-e EXPECTED [-u]] [-o OUTDIR] [-i CASE]... [-x CASE]... [-p N] [-w SECS] URL [AGENT]
#
#   URL       server's echo endpoint, e.g. ws://127.0.0.1:9001/ (path and query
#             are sent as-is; ws:// only). It must echo text and binary messages.
#   AGENT     report label. kosoku keys its report by the server's `Server:`
#             header (or host:port without one) and ignores this, except to pick
#             an agent when a report has several; wstest uses it (default milpa).
#   -r R      runner: kosoku (default; kosoku==0.1.0, Python 3, ~Rust) or wstest
#             (the original autobahntestsuite==25.10.1 under Python 2.7 from
#             pyenv; slower, but sends section 6's UTF-8 payloads correctly)
#   -e FILE   expected summary (committed); any difference => exit 1, diff printed.
#             A verdict may be 'A|B' for timing-dependent cases.
#   -u        with -e: rewrite FILE from this run (keeps still-matching 'A|B')
#   -o DIR    output dir (default ./autobahn-out): reports/ (index.json, per-case
#             json + html, index.html), summary.txt, runner.log
#   -i/-x     include / exclude case globs (repeatable; e.g. '9.*'; with kosoku a
#             pattern that matches no case is an error). Default: all 517
#             cases, sections 1-7, 9, 10, 12, 13 (there is no 8 or 11).
#   -p N      kosoku only: cases in parallel (default 1, as Autobahn)
#   -w SECS   wait up to SECS for URL's host:port to accept TCP (default 30)
#
# env: AUTOBAHN_VENV (default <dir of this script>/venv), WSTEST_VENV (default
# <dir>/venv-wstest), PYTHON (default python3), PY27 (default pyenv's 2.7.18)
#
# Exit: 0 all good; 1 a case FAILED / WRONG CODE / UNCLEAN / ERROR / FAILED BY
# CLIENT, a case missing, or summary != expected; 2 usage or the runner broke.
set -euo pipefail

KOSOKU_VERSION=0.1.0
WSTEST_VERSION=25.10.1
VIRTUALENV_VERSION=20.21.1   # last virtualenv that can still create Python 2.7 envs
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${AUTOBAHN_VENV:-$HERE/venv}"
WVENV="${WSTEST_VENV:-$HERE/venv-wstest}"
PYTHON="${PYTHON:-python3}"

usage() { sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

runner=kosoku expected="" outdir="./autobahn-out" par=1 update=0 wait=30
inc=() exc=()
while getopts "r:e:o:i:x:p:w:uh" opt; do
  case "$opt" in
    r) runner="$OPTARG" ;;
    e) expected="$OPTARG" ;;
    o) outdir="$OPTARG" ;;
    i) inc+=("$OPTARG") ;;
    x) exc+=("$OPTARG") ;;
    p) par="$OPTARG" ;;
    w) wait="$OPTARG" ;;
    u) update=1 ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] && [ $# -le 2 ] || usage
url="$1" agent="${2:-}"
case "$runner" in kosoku|wstest) ;; *) usage ;; esac
[ "$update" = 1 ] && [ -z "$expected" ] && { echo "run.sh: -u needs -e FILE" >&2; exit 2; }

# (a) install (idempotent). The kosoku venv also serves compare.py and, for
# wstest, holds the virtualenv that builds the Python 2.7 env.
if ! "$VENV/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("kosoku") != sys.argv[1])' "$KOSOKU_VERSION" 2>/dev/null; then
  echo "run.sh: installing kosoku==$KOSOKU_VERSION into $VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "kosoku==$KOSOKU_VERSION"
fi
if [ "$runner" = wstest ] && ! "$WVENV/bin/wstest" -a 2>/dev/null | grep -q "AutobahnTestSuite $WSTEST_VERSION"; then
  py27="${PY27:-$(pyenv root 2>/dev/null || echo /root/.pyenv)/versions/2.7.18/bin/python2.7}"
  [ -x "$py27" ] || py27="$(command -v python2.7 || true)"
  [ -n "$py27" ] || { echo "run.sh: no Python 2.7 found (set PY27)" >&2; exit 2; }
  echo "run.sh: installing autobahntestsuite==$WSTEST_VERSION into $WVENV ($py27)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "virtualenv==$VIRTUALENV_VERSION"
  rm -rf "$WVENV"
  "$VENV/bin/python" -m virtualenv --quiet -p "$py27" "$WVENV"
  # builds wsaccel with gcc; ~1 min
  "$WVENV/bin/pip" install --quiet --disable-pip-version-check \
    -c "$HERE/wstest-constraints.txt" "autobahntestsuite==$WSTEST_VERSION"
fi

# Wait for the server under test to listen.
"$VENV/bin/python" - "$url" "$wait" <<'PY' || { echo "run.sh: $url not accepting connections" >&2; exit 2; }
import socket, sys, time, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1] if "://" in sys.argv[1] else "ws://" + sys.argv[1])
host, port = u.hostname, u.port or (443 if u.scheme == "wss" else 80)
deadline = time.monotonic() + float(sys.argv[2])
while True:
    try:
        socket.create_connection((host, port), timeout=1).close()
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(1)
        time.sleep(0.2)
PY

# (b) run. Neither runner's exit status is our verdict (kosoku exits 1 for any
# case not OK/NON-STRICT/INFORMATIONAL, UNIMPLEMENTED included): compare.py is.
mkdir -p "$outdir"
reports="$outdir/reports"
rm -rf "$reports"
start=$(date +%s)
echo "run.sh: $runner $url -> $reports (started $(date -u +%H:%M:%SZ))"
set +e
if [ "$runner" = kosoku ]; then
  sel=()
  for c in ${inc[@]+"${inc[@]}"}; do sel+=(-i "$c"); done
  for c in ${exc[@]+"${exc[@]}"}; do sel+=(-x "$c"); done
  "$VENV/bin/kosoku" -m fuzzingclient -p "$par" -o "$reports" ${sel[@]+"${sel[@]}"} "$url" \
    >"$outdir/runner.log" 2>&1
else
  [[ "$url" == *://* ]] || url="ws://$url"
  "$VENV/bin/python" - "$outdir/fuzzingclient.json" "$reports" "$url" "${agent:-milpa}" \
    ${inc[@]+"${inc[@]}"} -- ${exc[@]+"${exc[@]}"} <<'PY'
import json, os, sys
spec, reports, url, agent, *rest = sys.argv[1:]
sep = rest.index("--")
inc, exc = rest[:sep] or ["*"], rest[sep + 1:]
json.dump({"outdir": os.path.abspath(reports),
           "servers": [{"agent": agent, "url": url}],
           "cases": inc, "exclude-cases": exc, "exclude-agent-cases": {}},
          open(spec, "w"), indent=2)
PY
  (cd "$outdir" && "$WVENV/bin/wstest" -m fuzzingclient -s fuzzingclient.json) \
    >"$outdir/runner.log" 2>&1
fi
rrc=$?
set -e
echo "run.sh: $runner exited $rrc after $(( $(date +%s) - start ))s (log: $outdir/runner.log)"
if [ ! -f "$reports/index.json" ]; then
  echo "run.sh: no report written; runner output:" >&2
  tail -n 40 "$outdir/runner.log" >&2
  exit 2
fi

# (c) + (d) summarise and gate.
args=("$reports" "$outdir/summary.txt")
[ -n "$agent" ] && args+=(--agent "$agent")
[ ${#inc[@]} -eq 0 ] && [ ${#exc[@]} -eq 0 ] && args+=(--expect-all)
[ -n "$expected" ] && args+=(--expected "$expected")
[ "$update" = 1 ] && args+=(--update)
set +e
"$VENV/bin/python" "$HERE/compare.py" "${args[@]}"
rc=$?
set -e
echo "run.sh: summary in $outdir/summary.txt, HTML report in $reports/index.html"
exit "$rc"
