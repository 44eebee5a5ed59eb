"""Get-by-id throughput of the sandbox with 20 concurrent clients; prints one JSON object.

`requests_per_second` is measured with 20 httpx clients (one thread each, keep-alive);
`raw_socket_requests_per_second` with 20 bare keep-alive sockets, i.e. the server's own capacity.

The sandbox runs in its own process (`python -m zoho_mcp sandbox --port N`), as a user would run
it; this process drives it with httpx for a bounded number of requests.
    python bench/sandbox_throughput.py [--requests 6000] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _token(http: httpx.Client, info: dict[str, str]) -> str:
    return str(http.post("/oauth/v2/token", data={
        "grant_type": "refresh_token", "client_id": info["client_id"], "client_secret": info["client_secret"],
        "refresh_token": info["refresh_token"]}).json()["access_token"])


def drive_httpx(base: str, total: int, concurrency: int) -> dict[str, Any]:
    """`concurrency` client threads, each its own keep-alive httpx.Client (httpx's async pool is far
    slower than the server here: ~300-500 req/s, which would measure the client, not the sandbox)."""
    with httpx.Client(base_url=base, timeout=30) as http:
        http.post("/__sandbox__/reset").raise_for_status()
        info = http.get("/__sandbox__/info").json()
        token = _token(http, info)
        ids = http.get("/__sandbox__/records/Accounts").json()["ids"]
    headers = {"Authorization": f"Zoho-oauthtoken {token}"}
    counter = iter(range(total))
    lock = threading.Lock()
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    ready = threading.Barrier(concurrency + 1)

    def worker() -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            http.get(f"/crm/v2/Accounts/{ids[0]}")  # open the connection before the clock starts
            ready.wait()
            while True:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                t0 = time.perf_counter()
                r = http.get(f"/crm/v2/Accounts/{ids[n % len(ids)]}")
                dt = time.perf_counter() - t0
                with lock:
                    latencies.append(dt)
                    statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    ready.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "requests": total,
        "concurrency": concurrency,
        "seconds": round(elapsed, 3),
        "requests_per_second": round(total / elapsed, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


async def drive_raw(host: str, port: int, token: str, paths: list[str], total: int, concurrency: int) -> float:
    """The server's own capacity, measured with minimal keep-alive HTTP/1.1 clients on raw sockets."""
    per_conn = total // concurrency

    async def conn() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        for i in range(per_conn):
            writer.write(f"GET {paths[i % len(paths)]} HTTP/1.1\r\nHost: {host}\r\n"
                         f"Authorization: Zoho-oauthtoken {token}\r\n\r\n".encode())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
            await reader.readexactly(length)
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(conn() for _ in range(concurrency)))
    return round(per_conn * concurrency / (time.perf_counter() - start), 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    port = free_port()
    env = dict(os.environ)
    proc = subprocess.Popen([sys.executable, "-m", "zoho_mcp", "sandbox", "--port", str(port), "--edition", "ultimate"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/__sandbox__/info", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("sandbox did not start") from None
                time.sleep(0.1)
        result = drive_httpx(base, args.requests, args.concurrency)
        with httpx.Client(base_url=base, timeout=30) as http:
            http.post("/__sandbox__/reset").raise_for_status()
            token = _token(http, http.get("/__sandbox__/info").json())
            paths = [f"/crm/v2/Accounts/{i}" for i in http.get("/__sandbox__/records/Accounts").json()["ids"]]
        result["raw_socket_requests_per_second"] = asyncio.run(
            drive_raw("127.0.0.1", port, token, paths, args.requests, args.concurrency))
        result["cpus"] = os.cpu_count() or 0
        result["load_average_1m"] = round(os.getloadavg()[0], 2)
        print(json.dumps(result))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
