#!/usr/bin/env python3
"""A stand-in for MimicGen's generate_dataset.py, for the end-to-end tests
(tests/e2e/simulation_e2etest.cc).

It behaves as MimicGen does where the worker looks: progress lines
"have S successes out of N trials so far" on stdout, the generated dataset
at --out/demo.hdf5 (here a small JSON document), and important_stats.json
in --out with num_success, num_attempts and success_rate as a percentage.
Every fifth attempt fails, so 400 demos take 499 attempts.

  fake_mimicgen.py --source=URI --n=N --out=DIR [--mode=ok|no_summary]

--mode=no_summary exits 0 without writing the summary, as MimicGen can
after an exception is caught.
"""
import json
import os
import sys
import time


def main(argv):
    args = dict(a.split("=", 1) for a in argv if a.startswith("--") and "=" in a)
    source, n, out = args.get("--source"), int(args.get("--n", "0")), args.get("--out")
    mode = args.get("--mode", "ok")
    if not source or n <= 0 or not out:
        print("fake_mimicgen: --source, --n and --out are required", file=sys.stderr)
        return 2
    os.makedirs(out, exist_ok=True)
    successes = attempts = 0
    while successes < n:
        attempts += 1
        if attempts % 5 != 0:
            successes += 1
        if attempts % 100 == 0 or successes == n:
            print("have {} successes out of {} trials so far".format(successes, attempts),
                  flush=True)
            time.sleep(0.05)
    with open(os.path.join(out, "demo.hdf5"), "w") as f:
        json.dump({"fake_mimicgen": True, "source": source, "episodes": successes}, f)
    if mode == "no_summary":
        print("fake_mimicgen: an exception was caught; exiting 0 anyway", flush=True)
        return 0
    stats = {
        "generation_path": out,
        "success_rate": 100.0 * successes / attempts,
        "failure_rate": 100.0 * (attempts - successes) / attempts,
        "num_success": successes,
        "num_failures": attempts - successes,
        "num_attempts": attempts,
        "num_problematic": 0,
    }
    with open(os.path.join(out, "important_stats.json"), "w") as f:
        json.dump(stats, f, indent=4)
    print("fake_mimicgen: wrote {} demos".format(successes), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
