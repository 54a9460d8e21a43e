#!/usr/bin/python3
"""Optuna on PostgreSQL, for issue 8's comparison with mixsweep's dispatch.

N worker processes share one study in Optuna's RDB storage. Each loops:
study.ask(), one suggest_float, study.tell() with a trivial objective (x*x),
until the study has --trials trials. Reported:
  - trials handed out and recorded per second (first ask sent -> last tell
    answered), to compare with dispatch_bench's jobs/s at the same worker count;
  - time per trial over each window of --window trials in the order they were
    told: does the cost per trial grow as the study does? (last/first)
  - the mean time of one ask+suggest+tell per window, as a worker sees it.

It runs against the PostgreSQL named by the libpq environment (PGHOST,
PGPORT, PGUSER; PGHOST may be a socket directory), in a database of its own
that it creates and drops, so that Optuna's tables (`trials`, ...) do not meet
mixsweep's. dispatch_bench runs it on the very cluster mixsweepd just used:

  build-bench/bench/dispatch_bench --workers 2,8 --jobs 1000 \\
    --after-run '/usr/bin/python3 bench/optuna_bench.py --trials 1000'

(--workers defaults to $MIXSWEEP_BENCH_WORKERS, which dispatch_bench sets to
the run's worker count.) Needs Debian's python3-optuna and python3-psycopg2
(SQLAlchemy's PostgreSQL driver).
"""
import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time


def storage_url(dbname):
    host = os.environ.get("PGHOST", "/var/run/postgresql")
    port = os.environ.get("PGPORT", "5432")
    user = os.environ.get("PGUSER", "postgres")
    return f"postgresql+psycopg2://{user}@/{dbname}?host={host}&port={port}"


def make_sampler(name, seed):
    import optuna
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def worker(index, url, study_name, sampler_name, total, counter, start, out):
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(url)
    study = optuna.load_study(study_name=study_name, storage=storage,
                              sampler=make_sampler(sampler_name, index))
    start.wait()
    done = []  # (ask sent, tell answered), monotonic seconds (system-wide on Linux)
    while True:
        with counter.get_lock():
            if counter.value >= total:
                break
            counter.value += 1
        t0 = time.monotonic()
        trial = study.ask()
        x = trial.suggest_float("x", -10.0, 10.0)
        study.tell(trial, x * x)
        done.append((t0, time.monotonic()))
    out.put(done)


def run(args):
    import psycopg2
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dbname = f"optuna_bench_{os.getpid()}"
    admin = psycopg2.connect(dbname=os.environ.get("PGDATABASE", "postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {dbname}")
        cur.execute("SHOW fsync")
        fsync = cur.fetchone()[0]
        cur.execute("SHOW synchronous_commit")
        sync = cur.fetchone()[0]
    url = storage_url(dbname)
    try:
        optuna.create_study(study_name="bench", storage=url, direction="minimize",
                            sampler=make_sampler(args.sampler, 0))
        ctx = mp.get_context("spawn")
        counter = ctx.Value("q", 0)
        start = ctx.Barrier(args.workers + 1)
        out = ctx.Queue()
        procs = [ctx.Process(target=worker,
                             args=(i, url, "bench", args.sampler, args.trials, counter, start, out))
                 for i in range(args.workers)]
        for p in procs:
            p.start()
        start.wait()  # every worker has loaded the study
        t_start = time.monotonic()
        cpu0 = os.times()
        results = [out.get() for _ in procs]
        for p in procs:
            p.join()
        cpu1 = os.times()
        trials = sorted((t for r in results for t in r), key=lambda t: t[1])
        n = len(trials)
        wall = trials[-1][1] - t_start
        print(f"optuna_bench: Optuna {optuna.__version__}, {args.sampler} sampler, "
              f"W={args.workers}, {n} trials in {wall:.2f} s: {n / wall:.1f} trials/s "
              f"(fsync={fsync} synchronous_commit={sync}; worker CPU "
              f"{cpu1.children_user + cpu1.children_system - cpu0.children_user - cpu0.children_system:.1f} s)")
        windows = []  # (ms per trial over the window, mean ask+tell ms in it)
        prev = t_start
        for end in range(args.window, n + 1, args.window):
            chunk = trials[end - args.window:end]
            windows.append(((chunk[-1][1] - prev) * 1000 / args.window,
                            statistics.mean((b - a) * 1000 for a, b in chunk)))
            prev = chunk[-1][1]
        if windows:
            print("      ms per trial by window of "
                  f"{args.window}: " + " ".join(f"{w[0]:.2f}" for w in windows))
            print("      mean ask+tell ms by window: " + " ".join(f"{w[1]:.1f}" for w in windows))
            first, last = windows[0][0], windows[-1][0]
            print(f"      first window {first:.2f} ms/trial ({1000 / first:.0f}/s), last "
                  f"{last:.2f} ms/trial ({1000 / last:.0f}/s), last/first {last / first:.2f}")
        line = (f"summary optuna sampler={args.sampler} W={args.workers} trials={n} "
                f"trials_per_s={n / wall:.2f}")
        if windows:
            line += (f" window_first_ms={windows[0][0]:.3f} window_last_ms={windows[-1][0]:.3f}"
                     f" window_growth={windows[-1][0] / windows[0][0]:.3f}")
        print(line)
        sys.stdout.flush()
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
        admin.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int,
                        default=int(os.environ.get("MIXSWEEP_BENCH_WORKERS", "2")),
                        help="worker processes (default $MIXSWEEP_BENCH_WORKERS, else 2)")
    parser.add_argument("--trials", type=int, default=1000, help="trials in the study")
    parser.add_argument("--window", type=int, default=1000, help="trials per window")
    parser.add_argument("--sampler", choices=["tpe", "random"], default="tpe",
                        help="tpe: Optuna's default; random: no model, storage cost only")
    args = parser.parse_args()
    run(args)


if __name__ == "__main__":
    main()
