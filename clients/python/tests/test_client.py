#!/usr/bin/python3
"""The Python client against a real mixsweepd.

Starts mixsweepd on its own local PostgreSQL cluster (in a temp dir), two
synthetic workers and the synthetic lab, submits the Pick Dual Bottles
example sweep through the client, follows it to completion, then checks the
client's records against what the `mixsweep` CLI prints for the same sweep.
Every process it starts is stopped at the end, also on failure (and dies
with this process if it is killed).

    MIXSWEEP_BUILD_DIR=build /usr/bin/python3 clients/python/tests/test_client.py

The binaries come from $MIXSWEEPD_BIN, $MIXSWEEP_CLI_BIN, $MIXSWEEP_WORKER_BIN
and $MIXSWEEP_LAB_BIN (ctest sets them), else from the build dir
($MIXSWEEP_BUILD_DIR, or the first argument). The stubs come from PYTHONPATH,
else BUILD/clients/python/gen, else are generated into the temp dir.
$MIXSWEEP_KEEP_TMP=1 keeps the temp dir (logs, database) for a post-mortem.
"""

import csv
import ctypes
import io
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT_DIR = os.path.dirname(HERE)                        # clients/python
SOURCE_ROOT = os.path.dirname(os.path.dirname(CLIENT_DIR))
SPEC_FILE = os.path.join(SOURCE_ROOT, "docs/examples/pick_dual_bottles.yaml")
TRUTH_FILE = os.path.join(SOURCE_ROOT, "docs/examples/pick_dual_bottles.truth.yaml")

if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
    os.environ["MIXSWEEP_BUILD_DIR"] = sys.argv.pop(1)
BUILD = os.path.abspath(os.environ.get("MIXSWEEP_BUILD_DIR", os.path.join(SOURCE_ROOT, "build")))
BINS = {
    "mixsweepd": os.environ.get("MIXSWEEPD_BIN", os.path.join(BUILD, "services/mixsweepd")),
    "cli": os.environ.get("MIXSWEEP_CLI_BIN", os.path.join(BUILD, "services/mixsweep")),
    "worker": os.environ.get("MIXSWEEP_WORKER_BIN", os.path.join(BUILD, "workers/mixsweep-worker")),
    "lab": os.environ.get("MIXSWEEP_LAB_BIN", os.path.join(BUILD, "services/mixsweep-lab")),
}

# Nothing of the caller's environment may pick the token or server.
for _name in ("MIXSWEEP_TOKEN", "MIXSWEEP_TOKEN_FILE", "MIXSWEEP_SERVER", "MIXSWEEP_TLS_CA"):
    os.environ.pop(_name, None)

TMP = tempfile.mkdtemp(prefix="mixsweep-pyclient-")
# mixsweepd, as root, runs PostgreSQL as `postgres`, which must reach the data dir.
os.chmod(TMP, 0o755)

sys.path.insert(0, CLIENT_DIR)
try:
    import mixsweep.v1.sweep_pb2  # noqa: F401
except ImportError:
    _gen = os.path.join(BUILD, "clients/python/gen")
    if not os.path.isdir(_gen):
        _gen = os.path.join(TMP, "gen")
        subprocess.run([os.path.join(CLIENT_DIR, "generate.sh"), _gen], check=True)
    sys.path.insert(0, _gen)

from mixsweep_client import Client, FollowTimeout, MixsweepError, spec_text  # noqa: E402
from mixsweep_client._api import utilization_pb2  # noqa: E402

# The example spec as a dict: what a notebook would build (and equal to
# SPEC_FILE, which validate_only checks by counting the same runs and jobs).
TEMPLATE = {
    "argv": ["python", "train.py", "--config-name=train_diffusion_unet_real_image_workspace",
             "task.dataset_path={dataset}", "+task.dataset.episode_manifest={subset_manifest}",
             "training.max_train_steps={steps}", "training.seed={seed}",
             "hydra.run.dir={output_dir}", "logging.name={job_id}"],
    "env": {"WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "1"},
    "checkpoint": "{output_dir}/checkpoints/latest.ckpt",
    "no_retry_exit_codes": [2],
}
SPEC_DICT = {
    "version": 1,
    "name": "pick-dual-bottles-from-python",
    "task": {"name": "pick_dual_bottles",
             "rubric": {"milestones": [{"name": "first_bottle_grasped", "score": 0.5},
                                       {"name": "both_bottles_lifted", "score": 1.0}]}},
    "policy": "diffusion_policy",
    "code_version": "git:4f1c2e9",
    "teleop": {"dataset": {"uri": "file:///data/aloha-agilex/pick_dual_bottles/teleop",
                           "episodes": 200},
               "cost_per_demo_hours": 0.02,
               "n_tele": [50, 100, 200]},
    "sources": [{"name": "sim", "kind": "simulation",
                 "dataset": {"uri": "file:///data/robotwin2/pick_dual_bottles/sim",
                             "episodes": 1000},
                 "cost_per_demo_hours": 0.000625,
                 "n_nt": [0, 1000]}],
    "seeds": [0, 1, 2],
    "protocol": {"total_steps": 13000, "pretrain_steps": 10000, "finetune_steps": 3000},
    "evaluation": {"trials_per_scenario": 10,
                   "scenarios": ["in_domain", "unseen_background", "unseen_position"]},
    "templates": {
        "train": TEMPLATE,
        "pretrain": TEMPLATE,
        "finetune": dict(TEMPLATE, argv=TEMPLATE["argv"][:6] + [
            "+training.init_checkpoint={init_checkpoint}"] + TEMPLATE["argv"][6:]),
    },
    "resources": {"gpus": 1},
}

RUNS, JOBS, SCENARIOS, TRIALS_PER_SCENARIO = 18, 21, 3, 10


# --- Processes ------------------------------------------------------------------

_PROCS = []  # (name, Popen, log path)


def _die_with_parent():
    # PR_SET_PDEATHSIG = 1: SIGTERM the child if this test process dies
    # (killed by ctest's timeout, say), so that nothing is left behind.
    # A preexec_fn is safe here: every process starts before this test makes
    # its first gRPC channel, so no other thread can hold a lock at fork.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def start(name, argv):
    log = os.path.join(TMP, name + ".log")
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    _PROCS.append((name, proc, log))
    return proc


def stop_all():
    # Lab and workers first, mixsweepd (and its PostgreSQL) last.
    for _, proc, _ in reversed(_PROCS):
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    _PROCS.clear()


def log_tails(lines=25):
    out = []
    for name, _, log in _PROCS:
        with open(log, errors="replace") as f:
            tail = f.readlines()[-lines:]
        out.append(f"--- {name} ({log}) ---\n" + "".join(tail))
    return "\n".join(out)


def run(argv, env=None, timeout=120, die_with_parent=False):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})),
                          preexec_fn=_die_with_parent if die_with_parent else None)


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Lab:
    """The running system, shared by every test (one cluster, one sweep)."""
    address = None
    admin_token = None
    researcher_token = None
    sweep_id = None
    snapshots = []


def create_token(principal, role):
    path = os.path.join(TMP, "tokens", principal + ".token")
    r = run([BINS["cli"], "--server", Lab.address, "token", "create", "--principal", principal,
             "--role", role, "--out", path], env={"MIXSWEEP_TOKEN_FILE": Lab.admin_token})
    if r.returncode != 0:
        raise AssertionError(f"token create {principal}: {r.stdout}{r.stderr}")
    return path


def cli_csv(*args):
    """Rows of `mixsweep ARGS --csv`, run as the researcher."""
    r = run([BINS["cli"], "--server", Lab.address, *args, "--csv"],
            env={"MIXSWEEP_TOKEN_FILE": Lab.researcher_token})
    if r.returncode != 0:
        raise AssertionError(f"mixsweep {' '.join(args)}: {r.stderr}")
    return list(csv.DictReader(io.StringIO(r.stdout)))


def setUpModule():
    for name, path in BINS.items():
        if not os.access(path, os.X_OK):
            raise AssertionError(f"{name} binary {path} is missing: build the project first")
    os.makedirs(os.path.join(TMP, "tokens"), mode=0o700)
    data = os.path.join(TMP, "data")
    try:
        Lab.admin_token = os.path.join(TMP, "tokens", "admin.token")
        r = run([BINS["mixsweepd"], "--data-dir", data, "token", "bootstrap", "--token-file",
                 Lab.admin_token], die_with_parent=True)
        if r.returncode != 0:
            raise AssertionError(f"mixsweepd token bootstrap: {r.stdout}{r.stderr}")

        # Small, fast settings, as the e2e tests use: 300 resamples per
        # interval, estimates recomputed every 0.5 s.
        port_file = os.path.join(TMP, "port")
        daemon = start("mixsweepd", [
            BINS["mixsweepd"], "--data-dir", data, "--listen", "127.0.0.1:0",
            "--port-file", port_file, "--artifact-root", "file://" + os.path.join(TMP, "artifacts"),
            "--estimate-resamples", "300", "--recompute-interval-seconds", "0.5",
            "--lease-ttl-seconds", "10", "--heartbeat-seconds", "1"])

        def port():
            if daemon.poll() is not None:
                raise AssertionError("mixsweepd exited")
            if not os.path.exists(port_file):
                return ""
            with open(port_file) as f:
                return f.read().strip()
        wait_until(port, 60, "mixsweepd's port file")
        Lab.address = "127.0.0.1:" + port()

        Lab.researcher_token = create_token("py-researcher", "researcher")
        for i in (1, 2):  # 50,000 steps/s: a 13,000-step job takes 0.26 s
            start(f"worker-{i}", [
                BINS["worker"], "--server", Lab.address, "--name", f"py-synthetic-{i}",
                "--token-file", create_token(f"py-synthetic-{i}", "worker"), "--synthetic",
                "--synthetic-gpus", "1", "--synthetic-steps-per-second", "50000",
                "--lease-wait-seconds", "2"])
        start("lab", [BINS["lab"], "--server", Lab.address, "--token-file",
                      create_token("py-operator", "operator"), "--robot", "py-aloha-1",
                      "--truth", TRUTH_FILE, "--seed", "7", "--poll-ms", "100"])

        # The sweep every read test looks at: submitted from the file, followed
        # to the end through the client.
        with Client(Lab.address, token_file=Lab.researcher_token) as c:
            submitted = c.submit_spec(SPEC_FILE)
            assert (submitted["runs"], submitted["jobs"]) == (RUNS, JOBS), submitted
            Lab.sweep_id = submitted["sweep_id"]
            Lab.snapshots = list(c.follow(Lab.sweep_id, timeout=300))

            # The last trials' estimates are recomputed moments after the
            # sweep completes: wait until every scenario has all its trials.
            def estimates_caught_up():
                got = c._estimates(Lab.sweep_id, "", "", {})
                return len(got) == SCENARIOS and all(
                    e.trial_count == RUNS * TRIALS_PER_SCENARIO for e in got)
            wait_until(estimates_caught_up, 60, "estimates over every trial")
    except BaseException:
        sys.stderr.write("setup failed; logs:\n" + log_tails() + "\n")
        tearDownModule()
        raise


def tearDownModule():
    stop_all()
    if os.environ.get("MIXSWEEP_KEEP_TMP"):
        sys.stderr.write(f"kept {TMP}\n")
    else:
        shutil.rmtree(TMP, ignore_errors=True)


# --- Checks ---------------------------------------------------------------------

PLAIN = (str, int, float, bool, type(None))


def same_cell(cell, value):
    """Whether a CLI CSV cell says the same as a record's value."""
    if value is None:
        return cell == ""
    if isinstance(value, bool):
        return cell == ("true" if value else "false")
    if isinstance(value, int):
        return cell == str(value)
    if isinstance(value, float):
        # The CLI prints the shortest text that reads back as the same double.
        return cell != "" and (float(cell) == value or (math.isnan(value) and cell == "nan"))
    return cell == value


class ClientTest(unittest.TestCase):

    def setUp(self):
        self.client = Client(Lab.address, token_file=Lab.researcher_token)
        self.addCleanup(self.client.close)

    def assertFlatRecords(self, rows):
        self.assertIsInstance(rows, list)
        for row in rows:
            self.assertIsInstance(row, dict)
            for key, value in row.items():
                self.assertIsInstance(key, str)
                self.assertIsInstance(value, PLAIN, f"{key} = {value!r}")

    def assertSameAsCli(self, records, cli_rows, key, skip=()):
        """Every column the CLI prints has the same value in our record."""
        self.assertEqual(len(records), len(cli_rows))
        records = sorted(records, key=lambda r: tuple(r[k] for k in key))
        cli_rows = sorted(cli_rows, key=lambda r: tuple(int(r[k]) if r[k].isdigit() else r[k]
                                                         for k in key))
        for record, row in zip(records, cli_rows):
            for column, cell in row.items():
                if column in skip:
                    continue
                self.assertIn(column, record)
                self.assertTrue(same_cell(cell, record[column]),
                                f"{column}: CLI {cell!r}, client {record[column]!r} in {record}")

    # --- Submitting ---

    def test_validate_only_counts_runs_and_jobs_from_a_file_yaml_text_and_a_dict(self):
        before = len(self.client.sweeps())
        with open(SPEC_FILE) as f:
            yaml_text = f.read()
        specs = {"file": SPEC_FILE, "yaml text": yaml_text, "dict": SPEC_DICT,
                 "dict as JSON": spec_text(SPEC_DICT, use_yaml=False)}
        for what, spec in specs.items():
            with self.subTest(what):
                got = self.client.submit_spec(spec, validate_only=True)
                self.assertEqual(got, {"sweep_id": None, "runs": RUNS, "jobs": JOBS,
                                       "replayed": False, "validate_only": True})
        self.assertEqual(len(self.client.sweeps()), before, "validate_only stores nothing")

    def test_a_bad_spec_raises_invalid_argument_naming_the_field(self):
        bad = dict(SPEC_DICT, teleop=dict(SPEC_DICT["teleop"], n_tele=[50, -100, 200]),
                   polcy="typo")
        for use_yaml in (False, True):
            with self.subTest(use_yaml=use_yaml):
                if use_yaml:
                    try:
                        import yaml  # noqa: F401
                    except ImportError:
                        self.skipTest("no PyYAML (python3-yaml)")
                with self.assertRaises(MixsweepError) as raised:
                    self.client.submit_spec(spec_text(bad, use_yaml=use_yaml))
                e = raised.exception
                self.assertEqual(e.code, "INVALID_ARGUMENT")
                self.assertIn("teleop.n_tele[1]", e.message)
                self.assertIn("polcy", e.message)
                self.assertIn("INVALID_ARGUMENT", str(e))
        with self.assertRaises(MixsweepError) as raised:
            self.client.estimates(0)
        self.assertEqual(raised.exception.code, "INVALID_ARGUMENT")
        self.assertIn("sweep_id", raised.exception.message)

    def test_a_dict_submits_with_its_idempotency_key_and_cancel_ends_follow(self):
        key = "py-client-test-dict-submit"
        first = self.client.submit_spec(SPEC_DICT, idempotency_key=key)
        self.assertEqual((first["runs"], first["jobs"], first["replayed"]), (RUNS, JOBS, False))
        again = self.client.submit_spec(SPEC_DICT, idempotency_key=key)
        self.assertEqual(again["sweep_id"], first["sweep_id"])
        self.assertTrue(again["replayed"])
        self.assertEqual(self.client.sweep(first["sweep_id"])["name"], SPEC_DICT["name"])

        cancelled = self.client.cancel(first["sweep_id"], reason="python client test")
        self.assertEqual(cancelled["state"], "cancelled")
        snapshots = list(self.client.follow(first["sweep_id"], timeout=30))
        self.assertEqual(snapshots[-1]["state"], "cancelled")
        self.assertEqual(self.client.sweep(first["sweep_id"])["cancel_reason"], "python client test")

    # --- Following and reading the sweep ---

    def test_follow_yields_progress_until_the_sweep_completed(self):
        snaps = Lab.snapshots
        self.assertGreater(len(snaps), 1)
        self.assertFlatRecords(snaps)
        last = snaps[-1]
        self.assertEqual(last["state"], "completed")
        self.assertEqual(last["fraction_done"], 1.0)
        self.assertEqual((last["runs_total"], last["jobs_total"]), (RUNS, JOBS))
        self.assertEqual(last["jobs_succeeded"], JOBS)
        # Run states follow the jobs (scheduler::DeriveRunState): a trained
        # and evaluated run reads "trained"; count either.
        self.assertEqual(last["runs_trained"] + last["runs_evaluated"], RUNS)
        self.assertEqual((last["jobs_kind_train"], last["jobs_kind_pretrain"],
                          last["jobs_kind_finetune"]), (9, 3, 9))
        self.assertTrue(all(s["state"] == "active" for s in snaps[:-1]))
        fractions = [s["fraction_done"] for s in snaps]
        self.assertEqual(fractions, sorted(fractions))
        events = [s["event_id"] for s in snaps]
        self.assertEqual(events, sorted(events))
        self.assertEqual(len({tuple(sorted(s)) for s in snaps}), 1, "the same columns every time")

        # Following an ended sweep: its state once, then the end.
        again = list(self.client.follow(Lab.sweep_id, timeout=30))
        self.assertEqual(len(again), 1)
        self.assertEqual(again[0]["state"], "completed")

    def test_sweep_sweeps_and_runs(self):
        s = self.client.sweep(Lab.sweep_id)
        self.assertFlatRecords([s])
        self.assertEqual((s["sweep_id"], s["name"], s["owner"], s["state"]),
                         (Lab.sweep_id, "pick-dual-bottles-sim", "py-researcher", "completed"))
        self.assertEqual((s["n_tele"], s["seeds"], s["sources"]), ("50;100;200", "0;1;2", "sim"))
        with open(SPEC_FILE) as f:
            self.assertEqual(s["spec_yaml"], f.read())
        listed = self.client.sweeps()
        self.assertFlatRecords(listed)
        self.assertIn(Lab.sweep_id, [r["sweep_id"] for r in listed])
        self.assertIn(Lab.sweep_id,
                      [r["sweep_id"] for r in self.client.sweeps(states=["completed"])])
        runs = self.client.runs(Lab.sweep_id)
        self.assertFlatRecords(runs)
        self.assertEqual(len(runs), RUNS)
        self.assertLessEqual({r["state"] for r in runs}, {"trained", "evaluated"})
        self.assertEqual(sum(r["n_nt"] == 1000 for r in runs), 9)

    def test_results_are_one_record_per_run_and_scenario_as_the_cli_prints(self):
        results = self.client.results(Lab.sweep_id)
        self.assertFlatRecords(results)
        self.assertEqual(len(results), RUNS * SCENARIOS)
        for r in results:
            self.assertEqual((r["trials_recorded"], r["trials_wanted"]), (TRIALS_PER_SCENARIO,) * 2)
            self.assertIsInstance(r["s"], float)
            self.assertTrue(0.0 <= r["s"] <= 1.0)
        self.assertEqual(len(self.client.results(Lab.sweep_id, scenario="in_domain")), RUNS)
        self.assertSameAsCli(results, cli_csv("eval", "results", str(Lab.sweep_id)),
                             key=("run_id", "scenario", "checkpoint_uri"))

    def test_trials_are_every_trial_with_its_mixture_as_the_cli_prints(self):
        trials = self.client.trials(Lab.sweep_id)
        self.assertFlatRecords(trials)
        wanted = sum(r["trials_wanted"] for r in self.client.results(Lab.sweep_id))
        self.assertEqual(len(trials), wanted)
        self.assertEqual(len(trials), RUNS * SCENARIOS * TRIALS_PER_SCENARIO)
        self.assertEqual(len({t["trial_id"] for t in trials}), len(trials))
        for t in trials:
            self.assertIn(t["score"], (0.0, 0.5, 1.0))  # the milestones rubric
            self.assertIn(t["n_tele"], (50, 100, 200))
            self.assertIn((t["source"], t["n_nt"]), (("", 0), ("sim", 1000)))
            self.assertEqual(t["robot_id"], "py-aloha-1")
        cli = cli_csv("eval", "results", str(Lab.sweep_id), "--trials")
        # recorded_at: the CLI prints whole seconds, "2025-03-01 12:00:00Z".
        self.assertSameAsCli(trials, cli, key=("trial_id",), skip=("recorded_at",))
        by_id = {t["trial_id"]: t for t in trials}
        for row in cli:
            mine = by_id[int(row["trial_id"])]["recorded_at"]
            self.assertEqual(row["recorded_at"], mine[:19].replace("T", " ") + "Z")

    def test_estimates_are_one_record_per_eta_as_the_cli_prints(self):
        etas = self.client.estimates(Lab.sweep_id)
        self.assertFlatRecords(etas)
        # Per scenario of the one source: 1 local eta (N_t* = 200, N_nt =
        # 1000) and a global eta per mixed point (3 N_tele x N_nt 1000).
        self.assertEqual(len(etas), SCENARIOS * (1 + 3))
        self.assertEqual(sorted((e["kind"], e["n_tele"], e["n_nt"]) for e in etas
                                if e["scenario"] == "in_domain"),
                         [("global", 50, 1000), ("global", 100, 1000), ("global", 200, 1000),
                          ("local", 200, 1000)])
        for e in etas:
            self.assertEqual((e["source"], e["source_kind"]), ("sim", "simulation"))
            self.assertEqual(e["trial_count"], RUNS * TRIALS_PER_SCENARIO)
            self.assertEqual(e["resamples"], 300)
            self.assertEqual(e["eta"] is None, e["eta_status"] != "defined")
            self.assertIsInstance(e["sign_established"], bool)
        key = ("scenario", "source", "kind", "n_tele", "n_nt")
        # Stored estimates may be recomputed between two reads (same
        # numbers, new version): compare reads of the same versions.
        for _ in range(5):
            cli = cli_csv("util", "show", str(Lab.sweep_id))
            etas = self.client.estimates(Lab.sweep_id)
            if sorted(r["version"] for r in cli) == sorted(str(e["version"]) for e in etas):
                break
        self.assertSameAsCli(etas, cli, key=key)

        # The same numbers as the raw message (GetEstimates through the stub).
        raw = self.client.stubs.utilization.GetEstimates(
            utilization_pb2.GetEstimatesRequest(sweep_id=Lab.sweep_id, scenario="in_domain"),
            timeout=30).estimates[0]
        local = [e for e in etas if e["scenario"] == "in_domain" and e["kind"] == "local"][0]
        self.assertEqual((local["s_t"], local["s_mix"]), (raw.local[0].s_t, raw.local[0].s_mix))
        self.assertEqual(local["inverse_lower"], raw.local[0].interval.inverse.lower)

        # Computed now with other parameters.
        fewer = self.client.estimates(Lab.sweep_id, scenario="in_domain", resamples=200)
        self.assertEqual({e["resamples"] for e in fewer}, {200})

    def test_curve_points(self):
        points = self.client.curve(Lab.sweep_id)
        self.assertFlatRecords(points)
        self.assertEqual(len(points), SCENARIOS * (3 + 3))  # teleop and mixed per N_tele
        for p in points:
            self.assertEqual((p["n_seeds"], p["trials"]), (3, 3 * TRIALS_PER_SCENARIO))
            self.assertEqual(p["n_nt"], 0 if p["kind"] == "teleop" else 1000)
            seeds = [float(s) for s in p["seed_s"].split(";")]
            self.assertAlmostEqual(p["mean_s"], sum(seeds) / 3)
            self.assertGreater(p["cost_gpu_hours"], 0.0)

    # --- Errors ---

    def test_no_token_or_a_bad_one_raises_unauthenticated(self):
        for token in (None, "msw_not-a-real-token"):
            with self.subTest(token=token), Client(Lab.address, token=token) as c:
                with self.assertRaises(MixsweepError) as raised:
                    c.whoami()
                self.assertEqual(raised.exception.code, "UNAUTHENTICATED")
                with self.assertRaises(MixsweepError) as raised:
                    list(c.follow(Lab.sweep_id, timeout=10))  # a stream, too
                self.assertEqual(raised.exception.code, "UNAUTHENTICATED")
        self.assertEqual(self.client.whoami()["principal"], "py-researcher")
        self.assertEqual(self.client.whoami()["role"], "researcher")

    def test_token_from_the_environment(self):
        os.environ["MIXSWEEP_TOKEN_FILE"] = Lab.researcher_token
        try:
            with Client(Lab.address) as c:
                self.assertEqual(c.whoami()["principal"], "py-researcher")
        finally:
            del os.environ["MIXSWEEP_TOKEN_FILE"]

    def test_not_found_and_follow_timeout(self):
        with self.assertRaises(MixsweepError) as raised:
            self.client.sweep(987654)
        self.assertEqual(raised.exception.code, "NOT_FOUND")
        # A sweep that cannot end (no sweep 987654) times out, or is refused.
        with self.assertRaises(MixsweepError) as raised:
            list(self.client.follow(987654, timeout=2))
        self.assertIn(raised.exception.code, ("NOT_FOUND", "DEADLINE_EXCEEDED"))
        self.assertTrue(issubclass(FollowTimeout, TimeoutError))


if __name__ == "__main__":
    unittest.main(verbosity=2)
