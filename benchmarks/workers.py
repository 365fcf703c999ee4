"""Time one fixed search in one process and with `--workers 1` and `--workers 2`.

Every configuration runs the same command, `kvsf-tune search matcher --max-trials 8 --runs 16
--seed 0 --json` on the default matcher space, as a real CLI subprocess in its own temporary log
dir. The oracle hands out the same 8 settings in the same order whatever the number of workers,
so only the wall time should differ. With 16 runs no setting can clear the default required pass
rate of 0.9 (16 of 16 passes give a lower bound of 0.81), so no confirmation is trained and the
time is the search's alone.

The script prints one JSON line per configuration and repeat: wall seconds, trials, the sum of the
trials' own training seconds (`fit_seconds`) and the machine's 1-minute load average before and
after. Run it on an idle machine: other processes on the same cores slow it down.

    python benchmarks/workers.py [--configurations 0 1 2] [--repeats 1] [--max-trials 8] [--runs 16]

Configuration 0 is the one-process search (no --workers).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time


def time_search(workers: int, *, max_trials: int, runs: int, seed: int) -> dict:
    """Run the fixed search with `workers` worker processes (0: one process) and return its figures."""
    with tempfile.TemporaryDirectory() as log_dir:
        command = [
            sys.executable, "-m", "kvsf_tune.cli", "search", "matcher", "--json", "--max-trials", str(max_trials),
            "--runs", str(runs), "--seed", str(seed), "--logdir", log_dir,
        ]
        if workers:
            command += ["--workers", str(workers)]
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        finished = subprocess.run(command, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
    if finished.returncode not in (0, 3):
        raise SystemExit(f"The search failed with exit code {finished.returncode}:\n{finished.stderr}")

    result = json.loads(finished.stdout)
    return {
        "workers": workers,
        "seconds": round(seconds, 1),
        "trials": len(result["trials"]),
        "trial_fit_seconds": round(sum(trial["fit_seconds"] for trial in result["trials"]), 1),
        "settings": sorted(json.dumps(trial["hyperparameters"], sort_keys=True) for trial in result["trials"]),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--configurations", nargs="+", type=int, default=[0, 1, 2], help="Worker counts; 0 is one process."
    )
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--max-trials", type=int, default=8)
    parser.add_argument("--runs", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()

    print(json.dumps({"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}))
    for _ in range(arguments.repeats):
        for workers in arguments.configurations:
            figures = time_search(workers, max_trials=arguments.max_trials, runs=arguments.runs, seed=arguments.seed)
            # Equal digests show that every configuration trained the same settings.
            settings = json.dumps(figures.pop("settings")).encode()
            figures["settings_sha256"] = hashlib.sha256(settings).hexdigest()[:12]
            print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
