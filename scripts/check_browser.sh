#!/usr/bin/env bash
# Headless-Chromium check of the milpa waterfall demo page.
#
#   check_browser.sh [options] BASE_URL        e.g. check_browser.sh http://127.0.0.1:8000
#
# Loads BASE_URL/?autorun=1 in Debian's headless Chromium, waits until the page sets
# document.title = "done", prints the JSON from <pre id="result"> and exits 0 only if
# completed == 24 * targets, bars_drawn == completed and failed == 0.
#
# Options:
#   --screenshot FILE   also save a PNG of the whole page
#   --delay-ms N        pass ?delay_ms=N to the page (each request waits N ms on the server)
#   --timeout S         give up after S seconds (default 60)
#   --insecure          accept self-signed TLS certificates (--ignore-certificate-errors);
#                       on by default for https:// base URLs
#   --virtual-time      use the plain one-shot mode: --dump-dom --virtual-time-budget=20000.
#                       Pass/fail is right, but the page's clock is virtual there: fetch
#                       timings (total_ms, bar lengths) do not reflect real network time.
#                       The default mode drives Chromium over the DevTools protocol
#                       (--remote-debugging-pipe, Python 3 stdlib) in real time.
# Exit: 0 pass, 1 page ran but the check failed, 2 usage or browser error.
# Env:  CHROMIUM (default /usr/bin/chromium), PYTHON (default python3).
set -euo pipefail

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

SCREENSHOT="" DELAY="" TIMEOUT=60 INSECURE=0 MODE=cdp BASE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --screenshot) SCREENSHOT="${2:?}"; shift 2 ;;
    --screenshot=*) SCREENSHOT="${1#*=}"; shift ;;
    --delay-ms) DELAY="${2:?}"; shift 2 ;;
    --delay-ms=*) DELAY="${1#*=}"; shift ;;
    --timeout) TIMEOUT="${2:?}"; shift 2 ;;
    --timeout=*) TIMEOUT="${1#*=}"; shift ;;
    --insecure) INSECURE=1; shift ;;
    --virtual-time) MODE=vt; shift ;;
    -h|--help) usage ;;
    -*) echo "unknown option: $1" >&2; usage ;;
    *) [ -z "$BASE" ] || usage; BASE="$1"; shift ;;
  esac
done
[ -n "$BASE" ] || usage
BASE="${BASE%/}"
URL="$BASE/?autorun=1"
[ -z "$DELAY" ] || URL="$URL&delay_ms=$DELAY"
case "$BASE" in https://*) INSECURE=1 ;; esac

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$CHROMIUM" ]; then
  echo "chromium not found at $CHROMIUM; installing Debian's chromium" >&2
  if [ "$(id -u)" -ne 0 ]; then echo "need root to apt-get install chromium" >&2; exit 2; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >&2 && apt-get install -y chromium >&2
  CHROMIUM=/usr/bin/chromium
fi

PROFILE="$(mktemp -d)"
WORK="$(mktemp -d)"
trap 'rm -rf "$PROFILE" "$WORK"' EXIT
FLAGS=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
       --disable-background-networking --disable-component-update --disable-sync
       --user-data-dir="$PROFILE")
[ "$INSECURE" = 1 ] && FLAGS+=(--ignore-certificate-errors)

if [ "$MODE" = vt ]; then
  # One-shot mode: Chromium's virtual clock waits for pending fetches, then dumps the DOM.
  timeout "$TIMEOUT" "$CHROMIUM" "${FLAGS[@]}" --dump-dom --virtual-time-budget=20000 "$URL" \
    >"$WORK/dom.html" 2>"$WORK/chromium.log" || {
      echo "chromium failed (rc=$?); last log lines:" >&2; grep -v -e dbus -e "unexpected operator" "$WORK/chromium.log" | tail -5 >&2
      exit 2; }
  if [ -n "$SCREENSHOT" ]; then
    rm -rf "$PROFILE"; mkdir -p "$PROFILE"
    timeout "$TIMEOUT" "$CHROMIUM" "${FLAGS[@]}" --virtual-time-budget=20000 --hide-scrollbars \
      --window-size=1280,1200 --screenshot="$(realpath -m "$SCREENSHOT")" "$URL" \
      >/dev/null 2>>"$WORK/chromium.log" || echo "screenshot failed" >&2
  fi
fi

export MODE URL TIMEOUT SCREENSHOT WORK CHROMIUM
"$PYTHON" - "${FLAGS[@]}" <<'PY'
import base64, html, json, os, re, select, subprocess, sys, time

mode, url, work = os.environ["MODE"], os.environ["URL"], os.environ["WORK"]
timeout, shot = float(os.environ["TIMEOUT"]), os.environ["SCREENSHOT"]
flags = sys.argv[1:]


class CDP:
    """Chrome DevTools protocol over --remote-debugging-pipe (fd 3 in, fd 4 out, NUL-framed)."""

    def __init__(self, chromium, flags, log):
        to_chrome_r, self.wfd = os.pipe()
        self.rfd, from_chrome_w = os.pipe()
        hi_r = os.dup2(to_chrome_r, 100)  # move out of the way of fds 3 and 4
        hi_w = os.dup2(from_chrome_w, 101)

        def child_fds():
            os.dup2(hi_r, 3)
            os.dup2(hi_w, 4)

        self.proc = subprocess.Popen(
            [chromium, *flags, "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            preexec_fn=child_fds, close_fds=False)
        for fd in (to_chrome_r, from_chrome_w, hi_r, hi_w):
            os.close(fd)
        self.buf, self.next_id = b"", 0

    def call(self, method, params=None, session=None, deadline=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.wfd, json.dumps(msg).encode() + b"\0")
        deadline = deadline or time.monotonic() + 30
        while True:
            while b"\0" in self.buf:
                raw, self.buf = self.buf.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self.next_id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply.get("result", {})
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.rfd], [], [], left)[0]:
                raise TimeoutError(f"no reply to {method}")
            chunk = os.read(self.rfd, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe (crashed?)")
            self.buf += chunk

    def close(self):
        try:
            self.call("Browser.close", deadline=time.monotonic() + 5)
        except Exception:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def run_cdp():
    log = open(os.path.join(work, "chromium.log"), "wb")
    cdp = CDP(os.environ["CHROMIUM"], flags, log)
    try:
        target = cdp.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        sess = cdp.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        metrics = {"width": 1280, "height": 1000, "deviceScaleFactor": 1, "mobile": False}
        cdp.call("Emulation.setDeviceMetricsOverride", metrics, sess)
        cdp.call("Page.enable", session=sess)
        nav = cdp.call("Page.navigate", {"url": url}, sess)
        if nav.get("errorText"):
            raise RuntimeError(f"cannot load {url}: {nav['errorText']}")

        def js(expr):
            r = cdp.call("Runtime.evaluate", {"expression": expr, "returnByValue": True}, sess)
            return r.get("result", {}).get("value")

        deadline = time.monotonic() + timeout
        while js("document.title") != "done":
            if time.monotonic() > deadline:
                raise TimeoutError(f"page did not finish within {timeout:g}s")
            time.sleep(0.2)
        text = js("(document.getElementById('result') || {}).textContent || ''")
        if shot:
            metrics["height"] = min(int(js("document.documentElement.scrollHeight") or 1000), 8000)
            cdp.call("Emulation.setDeviceMetricsOverride", metrics, sess)
            time.sleep(0.3)  # let layout settle at the new size
            png = cdp.call("Page.captureScreenshot", {"format": "png"}, sess)["data"]
            with open(shot, "wb") as f:
                f.write(base64.b64decode(png))
        return text
    finally:
        cdp.close()


def log_tail():
    try:
        with open(os.path.join(work, "chromium.log"), errors="replace") as f:
            return "".join([l for l in f if "dbus" not in l and "unexpected operator" not in l][-5:])  # dbus noise is harmless
    except OSError:
        return ""


try:
    if mode == "vt":
        dom = open(os.path.join(work, "dom.html"), encoding="utf-8", errors="replace").read()
        m = re.search(r'<pre id="result"[^>]*>(.*?)</pre>', dom, re.S)
        if not m:
            raise RuntimeError("no <pre id=\"result\"> in the dumped DOM")
        if "<title>done</title>" not in dom:
            print("warning: page title is not 'done' (autorun did not finish?)", file=sys.stderr)
        text = html.unescape(m.group(1))
    else:
        text = run_cdp()
except Exception as e:
    print(f"error: {e}\n{log_tail()}", file=sys.stderr)
    sys.exit(2)

try:
    summary = json.loads(text)
except ValueError:
    print(f"#result is not JSON: {text[:300]!r}", file=sys.stderr)
    sys.exit(1)

print(json.dumps(summary, indent=2))
expected = 24 * max(1, len(summary.get("targets") or []))
ok = (summary.get("completed") == expected and summary.get("bars_drawn") == expected
      and summary.get("failed") == 0)
if mode == "vt":
    print("note: --virtual-time: timings are on Chromium's virtual clock", file=sys.stderr)
if shot and os.path.exists(shot):
    print(f"screenshot: {shot}", file=sys.stderr)
print(f"{'PASS' if ok else 'FAIL'}: completed={summary.get('completed')}/{expected} "
      f"bars_drawn={summary.get('bars_drawn')} failed={summary.get('failed')}", file=sys.stderr)
sys.exit(0 if ok else 1)
PY
