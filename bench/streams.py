"""200 streamed answers at once from a slow model service (a token every 0.5 s, 60 s per answer), through the
production server, while /healthz and /api/search are probed: do all answers finish, how fast do the probes
answer (target p99 < 250 ms), how many database connections does the server hold?

    .venv/bin/python bench/streams.py                      # SQLite, then MariaDB (each ~75 s)
    .venv/bin/python bench/streams.py --db mariadb --streams 50 --tokens 20
"""

import argparse
import asyncio
import subprocess
import sys
import time

from serving import database, percentile, seed, setup_django

from tests.production_server import ProductionServer
from tests.slow_streams import SlowOpenAI, chat_stream, request

SERVER_PORT, PROVIDER_PORT = 8110, 8111


def run(args) -> None:
    url = database(args.db)
    setup_django(url)
    seeded = seed(sessions=args.streams, chunks=2000, messages_per_session=0)
    provider = SlowOpenAI(tokens=args.tokens, interval=args.interval, port=PROVIDER_PORT).start()
    env = {"CHAT_BACKEND": "openai", "OPENAI_BASE_URL": provider.url, "OPENAI_API_KEY": "bench",
           "OPENAI_TIMEOUT": "60", "OPENAI_MAX_RETRIES": "0", "THROTTLE_CHAT": "100000/minute",
           "THROTTLE_SEARCH": "100000/minute", "LOG_LEVEL": "ERROR"}
    with ProductionServer(url, env=env, port=SERVER_PORT, workers=args.workers, threads=args.threads) as server:
        figures = asyncio.run(drive(server.port, seeded, provider, args))
    provider.stop()
    done = sum(r.ended == "done" for r in figures["results"])
    short = sum(r.tokens < args.tokens for r in figures["results"])
    seconds = [r.seconds for r in figures["results"]]
    print(f"{args.db}: {args.streams} streams of {args.tokens} tokens every {args.interval:g} s "
          f"({args.workers} workers x {args.threads} threads)")
    print(f"  answers done {done}/{args.streams}, cut short {short}, errors "
          f"{[r.error or r.ended for r in figures['results'] if r.ended != 'done'][:3]}")
    print(f"  answer time p50 {percentile(seconds, 50):.1f} s, max {max(seconds):.1f} s; "
          f"provider streams open at once: {figures['peak_streams']}")
    for name in ("healthz", "search"):
        times, statuses = figures[name], figures[name + "_status"]
        print(f"  {name:8s} n={len(times):4d} p50 {percentile(times, 50):6.1f} ms  p99 {percentile(times, 99):6.1f} ms"
              f"  max {max(times):6.1f} ms  non-200 {sum(s != 200 for s in statuses)}")
    if args.db == "mariadb":
        print(f"  database connections held by the server: max {figures['connections']}")


async def drive(port: int, seeded: dict, provider: SlowOpenAI, args) -> dict:
    token = seeded["tokens"][0]
    for _ in range(10):  # each worker loads its search index on its first query: not what is measured here
        await request("127.0.0.1", port, "GET", "/api/search?q=warm+up", token=token, timeout=120)
    figures = {"healthz": [], "search": [], "healthz_status": [], "search_status": [], "peak_streams": 0,
               "connections": 0}
    async def stream(n: int, session: str):
        await asyncio.sleep(n * args.ramp / args.streams)  # people do not all press Send in the same millisecond
        return await chat_stream("127.0.0.1", port, session, token, timeout=args.tokens * args.interval + 120)

    streams = asyncio.ensure_future(asyncio.gather(*(stream(n, s) for n, s in enumerate(seeded["sessions"]))))
    words = ["volcano", "glacier magma", "river delta", "orbit comet", "enzyme protein"]
    n = 0
    while not streams.done():
        for name, path in (("healthz", "/healthz"), ("search", f"/api/search?q={words[n % 5].replace(' ', '+')}")):
            started = time.perf_counter()
            status, _, _ = await request("127.0.0.1", port, "GET", path, token=token)
            figures[name].append((time.perf_counter() - started) * 1000)
            figures[name + "_status"].append(status)
        figures["peak_streams"] = max(figures["peak_streams"], provider.open_streams)
        if args.db == "mariadb" and n % 20 == 0:
            figures["connections"] = max(figures["connections"], await asyncio.to_thread(connections))
        n += 1
        await asyncio.sleep(0.1)
    figures["results"] = await streams
    return figures


def connections() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM information_schema.processlist WHERE db = DATABASE() "
                       "AND id <> CONNECTION_ID()")
        return cursor.fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "mariadb", "both"], default="both")
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--tokens", type=int, default=120)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=256)
    parser.add_argument("--ramp", type=float, default=10,
                        help="seconds over which the streams start (0: all at once; each burst request holds a "
                             "database connection for its first moments, so MariaDB's max_connections must exceed it)")
    args = parser.parse_args()
    if args.db == "both":
        for db in ("sqlite", "mariadb"):
            subprocess.run([sys.executable, __file__, *sys.argv[1:], "--db", db], check=False)
        return
    run(args)


if __name__ == "__main__":
    main()
