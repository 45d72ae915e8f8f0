#!/usr/bin/env python3
"""Atomic read-modify-write operations a process executed, from a callgrind profile.

Usage: atomic_ops.py CALLGRIND_OUT [REQUESTS] [--top N]

The profile must come from `valgrind --tool=callgrind --dump-instr=yes`. Each
instruction's execution count is read from it and matched against `objdump -d` of
the object it belongs to; instructions with a `lock` prefix, and `xchg` with a
memory operand (locked implicitly), are summed. Prints the total (per request when
REQUESTS is given) and, with --top, the functions that execute the most.

Instruction counts leave these out of sight: each waits for the stores before it
to drain, several cycles where most instructions cost one or less (uncontended,
about 2 ns on the 2-core AMD EPYC the README's figures come from; far more when
another core holds the line).
"""
import collections
import re
import subprocess
import sys


def instruction_counts(path):
    """{(object path, address): executions}, self cost only."""
    objects, counts = {}, collections.defaultdict(int)
    current, last, after_call = None, 0, False
    with open(path) as profile:
        for line in profile:
            line = line.rstrip("\n")
            named = re.match(r"^(c?ob)=\((\d+)\)(?: (.*))?$", line)
            if named:
                kind, index, name = named.groups()
                if name:
                    objects[index] = name
                if kind == "ob":
                    current = index
                continue
            if line.startswith("calls="):
                after_call = True  # the next cost line is the call's inclusive cost
                continue
            if not line or line[0] not in "0123456789+-*":
                continue
            fields = line.split()
            position = fields[0]
            if position.startswith("0x"):
                address = int(position, 16)
            elif position[0] in "+-":
                step = int(position[1:], 0)
                address = last + step if position[0] == "+" else last - step
            elif position == "*":
                address = last
            else:
                continue
            last = address
            if after_call:
                after_call = False
                continue
            if len(fields) >= 3:
                counts[(objects.get(current), address)] += int(fields[2])
    return counts


def atomic_addresses(obj):
    """{address: function} of the atomic read-modify-write instructions in `obj`."""
    listing = subprocess.run(["objdump", "-d", "--no-show-raw-insn", obj], capture_output=True, text=True).stdout
    found, function = {}, ""
    for line in listing.splitlines():
        header = re.match(r"^([0-9a-f]+) <(.*)>:", line)
        if header:
            function = header.group(2)
            continue
        instruction = re.match(r"^\s+([0-9a-f]+):\s+(.*)$", line)
        if instruction:
            text = instruction.group(2)
            if text.startswith("lock") or (text.startswith("xchg") and "(" in text):
                found[int(instruction.group(1), 16)] = function
    return found


def main():
    args = sys.argv[1:]
    top = 0
    if "--top" in args:
        at = args.index("--top")
        top = int(args[at + 1])
        del args[at : at + 2]
    if not args:
        sys.exit(__doc__)
    requests = int(args[1]) if len(args) > 1 else 1
    counts = instruction_counts(args[0])
    total, by_function = 0, collections.Counter()
    for obj in {obj for obj, _ in counts if obj and obj.startswith("/")}:
        for address, function in atomic_addresses(obj).items():
            executed = counts.get((obj, address), 0)
            total += executed
            by_function[(obj.rsplit("/", 1)[-1], function)] += executed
    print(f"{total / requests:.1f}")
    for (obj, function), executed in by_function.most_common(top):
        print(f"  {executed / requests:7.2f}  {obj}  {function[:100]}")


if __name__ == "__main__":
    main()
