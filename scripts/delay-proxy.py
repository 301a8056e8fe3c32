#!/usr/bin/env python3
"""A TCP proxy that delays every chunk by DELAY_MS in each direction,
to give a loopback registry the latency of a real one (the kernel here has
no netem). Chunks keep their order; delays overlap, so this adds latency,
not a bandwidth cap.

Usage: delay-proxy.py LISTEN_PORT UPSTREAM_HOST:PORT DELAY_MS
Prints `ready` on stdout once listening.
"""
import asyncio
import sys
import time


async def pump(reader, writer, delay):
    queue = asyncio.Queue()

    async def send():
        while True:
            due, chunk = await queue.get()
            if chunk is None:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(chunk)
            await writer.drain()
        try:
            writer.write_eof()
        except (OSError, RuntimeError):
            pass

    sender = asyncio.ensure_future(send())
    try:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            queue.put_nowait((time.monotonic() + delay, chunk))
    except OSError:
        pass
    queue.put_nowait((0, None))
    try:
        await sender
    except OSError:
        pass


async def main():
    listen, upstream, delay_ms = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    up_host, up_port = upstream.rsplit(":", 1)
    delay = delay_ms / 1000

    async def handle(client_r, client_w):
        try:
            up_r, up_w = await asyncio.open_connection(up_host, int(up_port))
        except OSError:
            client_w.close()
            return
        await asyncio.gather(pump(client_r, up_w, delay), pump(up_r, client_w, delay))
        for w in (client_w, up_w):
            w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", listen, backlog=1024)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
