"""Cold starts of the index at 100,000 chunks x 1,536, each in a fresh process, against a database that
bench/retrieval.py filled (it leaves its data in place on MariaDB; pass a SQLite file to keep one):

    .venv/bin/python bench/retrieval.py --database-url sqlite:////tmp/bench.sqlite3   # fills it once
    .venv/bin/python bench/cold_load.py --database-url sqlite:////tmp/bench.sqlite3 --runs 5
    .venv/bin/python bench/cold_load.py --database-url mysql://root@127.0.0.1:3306/ragchat_index_bench

A process that has loaded the index once has the memory of the first load to reuse, so bench/retrieval.py's
repeated loads in one process flatter later ones; here every load is a new process, as a worker starting is.
Prints the median (and every run) of: vectors only; vectors + BM25; with a snapshot folder, the first
process's first hybrid answer and when its snapshot is written, and a next process that maps it.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = "bench-random-1536"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="a database bench/retrieval.py filled")
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per measurement (default 3)")
    parser.add_argument("--one", choices=["vectors", "hybrid", "snapshot"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        return measure(args.database_url, args.one)
    figures: dict[str, list[float]] = {}
    for _ in range(args.runs):  # interleaved, so that each measurement sees the same machine
        for what in ("vectors", "hybrid", "snapshot"):
            out = subprocess.run([sys.executable, __file__, "--database-url", args.database_url, "--one", what],
                                 check=True, capture_output=True, text=True).stdout
            for name, value in (pair.split("=") for pair in out.split()):
                figures.setdefault(name, []).append(float(value))
    for name, values in figures.items():
        print(f"{name:52s} {statistics.median(values):6.2f} s  ({', '.join(f'{v:.2f}' for v in values)})")


def measure(url: str, what: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragchat.settings")
    import django

    django.setup()
    import numpy as np
    from django.conf import settings

    from knowledge.index import ChunkIndex

    settings.INDEX_SNAPSHOT_DIR = ""
    vector = np.ones(1536, dtype=np.float32) / np.sqrt(1536)
    if what != "snapshot":
        started = time.perf_counter()
        hybrid = what == "hybrid"
        ChunkIndex(model=MODEL, lexical=hybrid).search_vector(vector, 5, text="magma lava" if hybrid else None)
        print(f"cold_load_{what}={time.perf_counter() - started:.3f}")
        return
    with tempfile.TemporaryDirectory(prefix="ragchat-snapshots-") as folder:
        started = time.perf_counter()
        ChunkIndex(model=MODEL, snapshot_dir=Path(folder)).search_vector(vector, 5, text="magma lava")
        answered = time.perf_counter() - started
        for thread in threading.enumerate():
            if thread.name == "ragchat-index-snapshot":
                thread.join()
        written = time.perf_counter() - started
        started = time.perf_counter()
        ChunkIndex(model=MODEL, snapshot_dir=Path(folder)).search_vector(vector, 5, text="magma lava")
        print(f"first_process_answers={answered:.3f} its_snapshot_written={written:.3f} "
              f"next_process_maps_it={time.perf_counter() - started:.3f}")


if __name__ == "__main__":
    main()
