#!/usr/bin/env python3
"""Summarise an Autobahn/kosoku fuzzingclient report and gate CI on it.

Reads REPORT_DIR/index.json (Autobahn format, as written by kosoku or by
wstest):

    { "<agent>": { "<case id>": { "behavior": "OK", "behaviorClose": "OK",
                                  "remoteCloseCode": 1000, "duration": 12,
                                  "reportfile": "..." }, ... } }

Writes SUMMARY: one line per case, sorted numerically by case id,

    <case id> <behavior> <behaviorClose>

(spaces inside a verdict become underscores: "WRONG CODE" -> WRONG_CODE,
"FAILED BY CLIENT" -> FAILED_BY_CLIENT), followed by '#'-prefixed count
lines. Lines starting with '#' are ignored when comparing with an expected
file. In the expected file a verdict may list alternatives separated by '|'
(e.g. "4.2.5 OK|NON-STRICT OK") for cases whose verdict depends on timing.

Exit status:
  0  every case passed the gate and (if given) the summary matches EXPECTED
  1  a case is bad (see BAD below), a case is missing, or the summary differs
     from EXPECTED (a unified diff is printed)
  2  usage / unreadable report

A verdict is "bad" unless it is one of OK, NON-STRICT, INFORMATIONAL,
UNIMPLEMENTED. That covers FAILED, WRONG CODE, UNCLEAN, kosoku's ERROR
(case could not run, e.g. connection refused) and FAILED BY CLIENT, and any
label we have never seen.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys

GOOD = {"OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED"}


def case_key(case_id: str) -> list[int]:
    return [int(p) for p in case_id.split(".")]


def norm(verdict: object) -> str:
    return str(verdict).replace(" ", "_")


def pick_agent(index: dict, agent: str | None) -> str:
    agents = sorted(index)
    if not agents:
        sys.exit("compare.py: index.json holds no agent (no case ran)")
    if agent and agent in index:
        return agent
    if len(agents) == 1:
        if agent:
            # kosoku names the agent after the server's `Server:` response
            # header (or host:port when there is none), not after a config.
            print(
                f"compare.py: note: agent {agent!r} not in report; "
                f"using its only agent {agents[0]!r}",
                file=sys.stderr,
            )
        return agents[0]
    sys.exit(f"compare.py: several agents in report {agents}; pass --agent")


def read_expected(path: str) -> dict[str, tuple[str, set[str], set[str]]]:
    """case id -> (line, allowed behaviors, allowed behaviorCloses)."""
    out = {}
    with open(path) as f:
        for ln in f:
            ln = ln.strip()
            if not ln or ln.startswith("#"):
                continue
            parts = ln.split()
            if len(parts) != 3:
                sys.exit(f"compare.py: bad line in {path}: {ln!r}")
            out[parts[0]] = (ln, set(parts[1].split("|")), set(parts[2].split("|")))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("report_dir", help="directory holding index.json")
    ap.add_argument("summary", help="summary file to write")
    ap.add_argument("--agent", help="agent key in index.json (default: the only one)")
    ap.add_argument("--expected", help="committed expected summary to diff against")
    ap.add_argument(
        "--expect-all",
        action="store_true",
        help="require a result for every case kosoku knows (full-suite run)",
    )
    ap.add_argument(
        "--update",
        action="store_true",
        help="rewrite --expected from this run (keeping '|' alternatives that still match)",
    )
    args = ap.parse_args()

    index_path = os.path.join(args.report_dir, "index.json")
    try:
        with open(index_path) as f:
            index = json.load(f)
    except (OSError, ValueError) as e:
        print(f"compare.py: cannot read {index_path}: {e}", file=sys.stderr)
        return 2

    agent = pick_agent(index, args.agent)
    cases = index[agent]
    ids = sorted(cases, key=case_key)

    lines = []
    beh = collections.Counter()
    beh_close = collections.Counter()
    bad = []
    for cid in ids:
        b = cases[cid].get("behavior")
        bc = cases[cid].get("behaviorClose")
        lines.append(f"{cid} {norm(b)} {norm(bc)}")
        beh[norm(b)] += 1
        beh_close[norm(bc)] += 1
        if b not in GOOD or bc not in GOOD:
            bad.append(
                f"  {cid}: behavior={b} behaviorClose={bc} "
                f"remoteCloseCode={cases[cid].get('remoteCloseCode')} "
                f"({cases[cid].get('reportfile')})"
            )

    counts = [f"# agent: {agent}", f"# cases: {len(ids)}"]
    counts += [f"# behavior {k} {v}" for k, v in sorted(beh.items())]
    counts += [f"# behaviorClose {k} {v}" for k, v in sorted(beh_close.items())]
    with open(args.summary, "w") as f:
        f.write("\n".join(lines + counts) + "\n")

    # Per-section wall time, to see where the run spends its time.
    per_section = collections.defaultdict(int)
    for cid in ids:
        per_section[cid.split(".")[0]] += int(cases[cid].get("duration") or 0)
    print(
        "time per section (s): "
        + ", ".join(
            f"{s}: {ms / 1000:.1f}" for s, ms in sorted(per_section.items(), key=lambda kv: int(kv[0]))
        )
    )
    print("\n".join(counts))

    rc = 0
    if args.expect_all:
        from kosoku.cases import CASES  # noqa: PLC0415 (only inside kosoku's venv)

        missing = sorted(set(CASES) - set(cases), key=case_key)
        if missing:
            print(f"MISSING {len(missing)} case(s): {' '.join(missing[:50])}")
            rc = 1

    if bad:
        print(f"BAD {len(bad)} case(s) (FAILED / WRONG CODE / UNCLEAN / ERROR / ...):")
        print("\n".join(bad))
        rc = 1

    if args.expected and args.update:
        try:
            old = read_expected(args.expected)
        except OSError:
            old = {}
        new = []
        for cid, ln in zip(ids, lines):
            _, b, bc = ln.split()
            o = old.get(cid)
            new.append(o[0] if o and b in o[1] and bc in o[2] else ln)
        with open(args.expected, "w") as f:
            f.write("\n".join(new) + "\n")
        print(f"updated {args.expected} ({len(new)} cases)")
    elif args.expected:
        try:
            want = read_expected(args.expected)
        except OSError as e:
            print(f"compare.py: cannot read expected file: {e}", file=sys.stderr)
            return 2
        got = dict(zip(ids, lines))
        diff = []
        for cid in sorted(set(want) | set(got), key=case_key):
            w, g = want.get(cid), got.get(cid)
            if w and g:
                _, b, bc = g.split()
                if b in w[1] and bc in w[2]:
                    continue
            if w:
                diff.append(f"-{w[0]}")
            if g:
                diff.append(f"+{g}")
        if diff:
            print(f"summary differs from expected (--- {args.expected}  +++ {args.summary}):")
            print("\n".join(diff))
            rc = 1
        else:
            print(f"summary matches expected {args.expected}")

    n_ok = len(ids) - len(bad)
    # A closing line CI log scrapers understand.
    print(f"autobahn: {n_ok} passed, {len(bad)} failed")
    return rc


if __name__ == "__main__":
    sys.exit(main())
