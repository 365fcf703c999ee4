"""Time the default searches, `kvsf-tune search matcher` and `kvsf-tune search voter`.

Each search runs as a real CLI subprocess with its defaults in a temporary log dir. The script
prints one line per model: wall time, trials, the winner and its confirmation. Run it on an idle
machine: other processes on the same cores slow it down.

    python benchmarks/default_search.py [--models matcher voter] [--seed 0] [--tuner random]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def time_search(model: str, seed: int, tuner: str) -> dict:
    """Run one default search and return its wall time and outcome."""
    with tempfile.TemporaryDirectory() as log_dir:
        command = [
            sys.executable, "-m", "kvsf_tune.cli", "search", model, "--json", "--seed", str(seed), "--tuner", tuner,
            "--logdir", log_dir,
        ]
        started = time.perf_counter()
        finished = subprocess.run(command, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
    result = json.loads(finished.stdout)
    return {
        "model": model,
        "tuner": tuner,
        "seconds": round(seconds, 1),
        "exit_code": finished.returncode,
        "trials": len(result["trials"]),
        "reliable_trials": sum(t["pass_rate_lower_bound"] >= 0.9 and t["status"] == "completed" for t in result["trials"]),
        "best": result["best"],
        "setting": next(t["hyperparameters"] for t in result["trials"] if t["trial_id"] == result["best"]),
        "confirmation": result["confirmation"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["matcher", "voter"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tuner", default="random", choices=["random", "bayesian", "hyperband"])
    arguments = parser.parse_args()
    for model in arguments.models:
        print(json.dumps(time_search(model, arguments.seed, arguments.tuner)), flush=True)


if __name__ == "__main__":
    main()
