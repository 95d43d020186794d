#!/usr/bin/env python3
"""Connects to HOST PORT, sends nothing, prints the first line the server sends (or "error: ...").

Run inside a network namespace by the deploy tests. --uid drops to that user before connecting (so
`-m owner --uid-owner` sees it); --mark sets SO_MARK on the socket (as egressd's upstream.mark does).
Exit status 0 when a line was read, 1 otherwise.
"""

import argparse
import os
import socket
import sys

SO_MARK = 36


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--uid", type=int)
    ap.add_argument("--mark", type=lambda s: int(s, 0))
    ap.add_argument("--timeout", type=float, default=3.0)
    args = ap.parse_args()

    if args.uid is not None and args.mark is not None:
        ap.error("--uid and --mark together: SO_MARK needs CAP_NET_ADMIN, which the uid lacks")
    # The socket belongs to the user that creates it (the owner match reads sk_uid): drop first.
    if args.uid is not None:
        os.setgroups([])
        os.setgid(args.uid)
        os.setuid(args.uid)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    if args.mark is not None:
        sock.setsockopt(socket.SOL_SOCKET, SO_MARK, args.mark)
    sock.settimeout(args.timeout)
    try:
        sock.connect((args.host, args.port))
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError as e:
        print(f"error: {e}")
        return 1
    finally:
        sock.close()
    line = data.decode(errors="replace").strip()
    if not line:
        print("error: connection closed without data")
        return 1
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
