#!/usr/bin/env python3
"""Many short connections, each to its own destination; run inside the client namespace.

    burst.py --dst-file FILE --log FILE [--concurrency 32] [--payload TEXT] [--hold SECONDS]

--dst-file lists "ADDR:PORT" destinations, one a line; each is used by exactly one connection, in
order, by `--concurrency` workers; each connection stays open, quiet, for --hold seconds before
it sends (so a gateway killed mid-run has connections in the middle of their relay). Every connection appends JSON Lines to --log at once (flushed,
so the log is whole even when the gateway is killed in the middle):
  {"event": "connected", "src": "192.0.2.2:40000", "dst": "203.0.113.10:20000"}
  {"event": "done", "src": ..., "dst": ..., "ok": true|false, "end": "eof"|"reset"|...}
  {"event": "failed", "dst": ..., "error": "ConnectionRefusedError"}     (connect failed)
A connection is ok when the payload came back whole. SIGTERM stops the run (the log stays whole).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import signal
import sys


def _fmt(addr) -> str:
    return f"[{addr[0]}]:{addr[1]}" if ":" in addr[0] else f"{addr[0]}:{addr[1]}"


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dst-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--payload", default="write-ahead\n")
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--hold", type=float, default=0.0)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))

    with open(args.dst_file) as f:
        dsts = [line.strip() for line in f if line.strip()]
    log = open(args.log, "a", buffering=1)
    payload = args.payload.encode()
    queue: asyncio.Queue[str] = asyncio.Queue()
    for d in dsts:
        queue.put_nowait(d)

    def write(rec: dict) -> None:
        log.write(json.dumps(rec) + "\n")
        log.flush()

    async def one(dst: str) -> None:
        host, _, port = dst.rpartition(":")
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host.strip("[]"), int(port)),
                                                    args.timeout)
        except (OSError, asyncio.TimeoutError) as e:
            write({"event": "failed", "dst": dst, "error": type(e).__name__})
            return
        src = _fmt(writer.get_extra_info("sockname"))
        write({"event": "connected", "src": src, "dst": dst})
        end, got = "eof", b""
        try:
            if args.hold > 0:
                await asyncio.sleep(args.hold)
            writer.write(payload)
            await writer.drain()
            writer.write_eof()
            got = await asyncio.wait_for(reader.read(), args.timeout)
        except ConnectionResetError:
            end = "reset"
        except asyncio.TimeoutError:
            end = "timeout"
        except OSError as e:
            end = f"error: {type(e).__name__}"
        finally:
            writer.close()
        write({"event": "done", "src": src, "dst": dst, "ok": got == payload, "end": end})

    async def worker() -> None:
        while True:
            try:
                dst = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await one(dst)

    tasks = [asyncio.ensure_future(worker()) for _ in range(args.concurrency)]
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: [t.cancel() for t in tasks])
    await asyncio.gather(*tasks, return_exceptions=True)
    log.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
