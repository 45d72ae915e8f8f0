#!/usr/bin/env python3
"""A 100 MiB permessage-deflate bomb against a running milpa: the server must close
with 1009 and its peak memory (VmHWM) must grow by less than 64 MiB.

    scripts/ws-deflate-bomb.py PID HOST:PORT [PATH]

PID is the server process (its /proc/PID/status is read before and after);
PATH defaults to /ws/echo (the demo's echo socket). Python 3 standard library only.
"""

import os
import socket
import struct
import sys
import zlib

BOMB = 100 * 1024 * 1024
BUDGET = 64 * 1024 * 1024


def peak_rss(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise SystemExit("no VmHWM for the server process")


def recv_exact(sock, buf, n):
    while len(buf) < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise SystemExit("the server closed without a Close frame")
        buf += chunk
    return buf[:n], buf[n:]


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    pid, target = int(sys.argv[1]), sys.argv[2]
    path = sys.argv[3] if len(sys.argv) > 3 else "/ws/echo"
    host, port = target.rsplit(":", 1)
    before = peak_rss(pid)

    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = compressor.compress(bytes(BOMB)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    payload = payload[:-4]  # RFC 7692: the sync flush's tail is implied

    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: {target}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n".encode()
    )
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise SystemExit("no handshake answer")
        buf += chunk
    head, buf = buf.split(b"\r\n\r\n", 1)
    if b" 101 " not in head.split(b"\r\n")[0] or b"permessage-deflate" not in head.lower():
        raise SystemExit(f"handshake refused or without deflate:\n{head.decode(errors='replace')}")

    mask = os.urandom(4)
    header = bytes([0xC2, 0x80 | 127]) + struct.pack(">Q", len(payload)) + mask
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    try:
        sock.sendall(header + masked)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may close before taking it all; its Close is still readable

    code = None
    while code is None:
        (b0, b1), buf = recv_exact(sock, buf, 2)
        length = b1 & 0x7F
        if length == 126:
            raw, buf = recv_exact(sock, buf, 2)
            length = struct.unpack(">H", raw)[0]
        elif length == 127:
            raw, buf = recv_exact(sock, buf, 8)
            length = struct.unpack(">Q", raw)[0]
        body, buf = recv_exact(sock, buf, length)
        if b0 & 0x0F == 0x8:
            code = struct.unpack(">H", body[:2])[0] if len(body) >= 2 else 1005
    sock.close()

    after = peak_rss(pid)
    grown = after - before
    print(
        f"deflate bomb: {len(payload)} bytes inflating to {BOMB >> 20} MiB -> close {code}; "
        f"server peak RSS {before >> 20} MiB -> {after >> 20} MiB (+{grown / 2**20:.1f} MiB, budget 64 MiB)"
    )
    if code != 1009:
        raise SystemExit(f"expected close 1009, got {code}")
    if grown >= BUDGET:
        raise SystemExit("the server's memory grew past the budget")


if __name__ == "__main__":
    main()
