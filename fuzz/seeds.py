#!/usr/bin/env python3
"""Writes the seed inputs of the structured fuzz targets (docs/FUZZING.md).

command_render_fuzzer and trial_fuzzer read their input through libFuzzer's
FuzzedDataProvider, so a seed is not readable text: this script encodes the
cases below (modelled on tests/unit/worker_command_render_test.cc and
tests/unit/evaluation_trial_scoring_test.cc) in the order the targets consume
them. It also copies docs/examples/*.yaml into spec_fuzzer's corpus, with a
few specs of its own (SPEC_SEEDS).

    fuzz/seeds.py            (re)writes fuzz/corpus/*/seed-*  and example-*
    fuzz/seeds.py --spec     only spec_fuzzer's
    MIXSWEEP_FUZZ_PRINT=1 build-fuzz/fuzz/trial_fuzzer FILE
                             shows what a target reads from FILE

Keep the consumption order below in step with the targets' LLVMFuzzerTestOneInput.
"""
import hashlib
import pathlib
import shutil

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


class Encoder:
    """The inverse of FuzzedDataProvider (LLVM 14): strings are read from the
    front, integers from the back (the last byte first, most significant
    first)."""

    def __init__(self):
        self.front = bytearray()
        self.back = bytearray()  # in the order the bytes are consumed

    def int_in_range(self, lo, hi, value, size=8):
        assert lo <= value <= hi, (lo, value, hi)
        span = hi - lo
        nbytes = 0
        while nbytes < size and (span >> (8 * nbytes)) > 0:
            nbytes += 1
        self.back += (value - lo).to_bytes(nbytes, "big") if nbytes else b""
        return self

    def int32(self, value):
        return self.int_in_range(-(2**31), 2**31 - 1, value, 4)

    def int64(self, value):
        return self.int_in_range(-(2**63), 2**63 - 1, value, 8)

    def bool(self, value):
        return self.int_in_range(0, 255, 1 if value else 0, 1)

    def string(self, text, max_length):
        data = text.encode() if isinstance(text, str) else bytes(text)
        assert len(data) <= max_length, (data, max_length)
        for byte in data:
            self.front += b"\\\\" if byte == 0x5C else bytes([byte])
        if len(data) < max_length:
            self.front += b"\\."  # a backslash and anything else ends it
        return self

    def rest(self, text):
        self.front += text.encode() if isinstance(text, str) else bytes(text)
        return self

    def data(self):
        return bytes(self.front) + bytes(reversed(self.back))


# ---------------------------------------------------------------------------
# command_render_fuzzer

GOOD_VALUES = {
    "dataset": "file:///data/aloha-agilex/pick_dual_bottles/teleop",
    "dataset_hash": "sha256:9b2f0c7e5d41a8f3",
    "subset_manifest": "/art/sweeps/7/jobs/42/subset.json",
    "n_demos": 50, "steps": 13000, "seed": 1,
    "output_dir": "/art/sweeps/7/jobs/42",
    "gpu": "0",
    "job_id": 42, "run_id": 101, "sweep_id": 7,
    "code_version": "git:4f1c2e9", "policy": "diffusion_policy", "task": "pick_dual_bottles",
    "init_checkpoint": "/art/sweeps/7/jobs/40/checkpoints/latest.ckpt",
    "resume_checkpoint": "",
}

TRAIN_ARGV = ["python", "task.dataset_path={dataset}",
              "+task.dataset.episode_manifest={subset_manifest}",
              "steps={steps} seed={seed}"]


def render_case(argv=(), shell=None, env=None, checkpoint=None, roots=("file:///art",),
                **overrides):
    values = dict(GOOD_VALUES, **overrides)
    e = Encoder()
    e.int_in_range(0, 6, len(argv), 4)
    for arg in argv:
        e.string(arg, 128)
    e.bool(shell is not None)
    if shell is not None:
        e.string(shell, 256)
    env = env or {}
    e.int_in_range(0, 3, len(env), 4)
    for name, value in env.items():
        e.string(name, 16).string(value, 64)
    e.bool(checkpoint is not None)
    if checkpoint is not None:
        e.string(checkpoint, 64)
    e.int_in_range(0, 2, len(roots), 4)
    for root in roots:
        e.string(root, 32)

    def text(name):
        value = values[name]
        long = len(value) > 63
        e.bool(not long)  # ConsumeBool() ? 64 : 5000
        e.string(value, 64 if not long else 5000)

    for name in ("dataset", "dataset_hash", "subset_manifest"):
        text(name)
    for name in ("n_demos", "steps", "seed"):
        e.int64(values[name])
    text("output_dir")
    text("gpu")
    for name in ("job_id", "run_id", "sweep_id"):
        e.int64(values[name])
    for name in ("code_version", "policy", "task", "init_checkpoint"):
        text(name)
    e.rest(values["resume_checkpoint"])
    return e.data()


RENDER_SEEDS = {
    "train-argv": render_case(TRAIN_ARGV + ["hydra.run.dir={output_dir}"],
                              env={"WANDB_MODE": "offline", "RUN": "{run_id}"},
                              checkpoint="{output_dir}/checkpoints/latest.ckpt"),
    "finetune-argv": render_case(["python", "ft.py", "+init={init_checkpoint}", "gpu={gpu}",
                                  "{resume_checkpoint}"],
                                 resume_checkpoint="/art/sweeps/7/jobs/42/resume.ckpt"),
    "shell": render_case(shell="cd {output_dir} && python train.py --data={dataset} "
                               "--steps={steps} --seed={seed} ${{HOME}} {{x}} | tee log",
                         env={"HYDRA_FULL_ERROR": "1"}),
    "shell-resume-empty": render_case(shell="python t.py --resume={resume_checkpoint}"),
    "literal-braces": render_case(["sh", "-c", "echo ${{HOME}} {{x}}", "{seed}"]),
    "all-placeholders": render_case(
        ["t", "{dataset}{dataset_hash}{subset_manifest}{n_demos}{steps}{seed}",
         "{output_dir}{gpu}{job_id}{run_id}{sweep_id}{code_version}",
         "{policy}{task}{init_checkpoint}{resume_checkpoint}"],
        resume_checkpoint="file:///art/r"),
    "unknown-placeholder": render_case(["t", "{datset}"]),
    "malformed-placeholder": render_case(["t", "{Dataset}", "{ x }"]),
    "unbalanced-open": render_case(["t", "{dataset"]),
    "unbalanced-close": render_case(["t", "dataset}"]),
    "argv-and-shell": render_case(["t"], shell="t"),
    "neither": render_case([]),
    "empty-program": render_case(["{resume_checkpoint}", "x"]),
    "bad-env-name": render_case(["t"], env={"1BAD": "x", "A-B": "y"}),
    "semicolon": render_case(["t", "{dataset}"], dataset="file:///d;rm -rf ~"),
    "dollar-paren": render_case(["t", "{policy}"], policy="x$(id)"),
    "backtick": render_case(["t", "{task}"], task="a`id`"),
    "newline": render_case(["t", "{code_version}"], code_version="git:1\nrm"),
    "dotdot": render_case(["t", "{output_dir}"], output_dir="/art/../etc"),
    "dotdot-encoded": render_case(["t", "{output_dir}"], output_dir="/art/%2e%2e/etc"),
    "dotdot-double-encoded": render_case(["t", "{output_dir}"], output_dir="/art/%252e%252e/etc"),
    "semicolon-encoded": render_case(["t", "{dataset}"], dataset="file:///d%3bid"),
    "backslash-dotdot": render_case(["t", "{dataset}"], dataset="file:///d/..%5cx"),
    "dash": render_case(["t", "{dataset}"], dataset="--help"),
    "space": render_case(["t", "{policy}"], policy="a b"),
    "quote": render_case(shell="t {task}", task="it's"),
    "outside-root": render_case(["t", "{output_dir}"], output_dir="/artifacts2/x"),
    "root-slash": render_case(["t", "{output_dir}"], output_dir="/x/y", roots=("/",)),
    "no-roots": render_case(["t", "{output_dir}"], output_dir="s3://bucket/x", roots=()),
    "empty-root": render_case(["t", "{output_dir}"], roots=("",)),
    "s3-root": render_case(["t", "{output_dir}"], output_dir="s3://b/p/x", roots=("s3://b/p/",)),
    "gpus": render_case(["t", "{gpu}"], gpu="2,3"),
    "gpus-trailing-comma": render_case(["t", "{gpu}"], gpu="2,"),
    "gpus-none": render_case(["t", "x{gpu}"], gpu=""),
    "empty-dataset": render_case(["t", "{dataset}"], dataset=""),
    "empty-init": render_case(["t", "{init_checkpoint}"], init_checkpoint=""),
    "long-value": render_case(["t", "{dataset}"], dataset="file:///" + "a" * 4088),
    "too-long-value": render_case(["t", "{dataset}"], dataset="file:///" + "a" * 4089),
    "negative-number": render_case(["t", "{seed}", "{n_demos}"], seed=-1,
                                   n_demos=-(2**63)),
    "nul-in-template": render_case(["t", "a\0b"]),
    "percent-u": render_case(["t", "{output_dir}"], output_dir="/art/%u002e%u002e/x"),
    "percent-double": render_case(["t", "{output_dir}"], output_dir="/art/%%32%65%%32%65/x"),
    "overlong-dot": render_case(["t", "{output_dir}"], output_dir="/art/%c0%ae%c0%ae/x"),
    "fullwidth-dot": render_case(["t", "{dataset}"], dataset="file:///d/%ef%bc%8e%ef%bc%8e/x"),
    "identifier-path": render_case(["t", "{policy}"], policy="/etc/shadow"),
    "identifier-dot": render_case(["t", "{task}"], task=".hidden"),
}

# ---------------------------------------------------------------------------
# trial_fuzzer

NAMES = ["first_bottle_grasped", "both_bottles_lifted", "red", "green", "blue", "reach",
         "grasp", "place", "a", "b"]


def trial_case(kind, names, trials, shares=None, equal=False, trials_wanted=10):
    """kind: "items" or "milestones"; names: the rubric's, each from NAMES or
    spelled; shares: integer shares (items) or steps (milestones)."""
    e = Encoder()
    e.bool(kind == "items")
    small = len(names) <= 5
    e.bool(small)
    e.int_in_range(1, 5 if small else 20, len(names))
    for name in names:
        if name in NAMES:
            e.bool(True).int_in_range(0, 9, NAMES.index(name))
        else:
            e.bool(False).string(name, 24)
    shares = shares or [1] * len(names)
    if kind == "items":
        e.bool(equal)
        if not equal:
            for s in shares:
                e.int_in_range(1, 1000, s, 4)
    else:
        for s in shares:
            e.int_in_range(1, 1000, s, 4)
    tw_small = trials_wanted <= 10
    e.bool(tw_small).int_in_range(1, 10 if tw_small else 1000, trials_wanted, 4)
    e.int_in_range(0, 12, len(trials))
    for t in trials:
        index = t.get("index", 0)
        if 0 <= index <= trials_wanted:
            e.bool(True).int_in_range(0, trials_wanted, index, 4)
        else:
            e.bool(False).int32(index)
        achieved = t.get("achieved", [])
        e.int_in_range(0, len(names) + 1, len(achieved))
        for a in achieved:
            if a in names:  # "any entry"
                e.int_in_range(0, 2, 1, 4).int_in_range(0, len(names) - 1, names.index(a))
            else:  # spelled
                e.int_in_range(0, 2, 2, 4)
                if a in NAMES:
                    e.bool(True).int_in_range(0, 9, NAMES.index(a))
                else:
                    e.bool(False).string(a, 24)
        e.bool(t.get("success", False))
        duration = t.get("duration_ms")
        e.bool(duration is not None)
        if duration is not None:
            if 0 <= duration <= 90_000_000:
                e.bool(True).int_in_range(0, 90_000_000, duration)
            else:
                e.bool(False).int64(duration)
        e.bool(t.get("intervention", False)).bool(t.get("safety_stop", False))
        e.string(t.get("operator", "ana"), 160).string(t.get("robot", "aloha-1"), 160)
        notes = t.get("notes", "")
        notes_bytes = notes.encode() if isinstance(notes, str) else notes
        e.bool(len(notes_bytes) <= 64).string(notes, 64 if len(notes_bytes) <= 64 else 5000)
        uris = t.get("uris", [])
        e.int_in_range(0, 18, len(uris))
        for u in uris:
            e.string(u, 64)
    return e.data()


PDB = ("milestones", ["first_bottle_grasped", "both_bottles_lifted"])
RGB = ("items", ["red", "green", "blue"])


def pdb(trials, **kw):
    return trial_case(*PDB, trials, **kw)


def rgb(trials, **kw):
    return trial_case(*RGB, trials, equal=True, **kw)


TRIAL_SEEDS = {
    "milestones-batch": pdb([{"index": 0}, {"index": 1, "achieved": ["first_bottle_grasped"]},
                             {"index": 2, "achieved": ["first_bottle_grasped",
                                                       "both_bottles_lifted"]},
                             {"index": 3, "achieved": ["both_bottles_lifted"],
                              "duration_ms": 41000, "success": True,
                              "uris": ["file:///videos/3.mp4"]}]),
    "milestones-out-of-order": pdb([{"achieved": ["both_bottles_lifted",
                                                  "first_bottle_grasped"]}]),
    "milestones-duplicate": pdb([{"achieved": ["first_bottle_grasped",
                                               "first_bottle_grasped"]}]),
    "milestones-unknown": pdb([{"achieved": ["lifted"]}]),
    "three-stages-gap": trial_case("milestones", ["reach", "grasp", "place"],
                                   [{"achieved": ["reach", "place"]}], shares=[1, 1, 2]),
    "items-any-order": rgb([{"index": 0, "achieved": ["blue", "red"]},
                            {"index": 1, "achieved": ["green", "blue", "red"]}]),
    "items-unknown": rgb([{"achieved": ["purple"]}]),
    "items-tenths": trial_case("items", ["a", "b", "c", "d"],
                               [{"achieved": ["a", "b", "c", "d"]}], shares=[1, 2, 3, 4]),
    "items-twenty": trial_case("items", [f"item{i}" for i in range(20)],
                               [{"achieved": [f"item{i}" for i in range(0, 20, 3)]}],
                               shares=list(range(1, 21))),
    "index-twice": pdb([{"index": 4}, {"index": 4}]),
    "index-at-limit": pdb([{"index": 10}]),
    "index-negative": pdb([{"index": -1}]),
    "index-large-request": rgb([{"index": 999}], trials_wanted=1000),
    "duration-negative": pdb([{"duration_ms": -1}]),
    "duration-over-a-day": pdb([{"duration_ms": 86_400_001}]),
    "duration-huge": pdb([{"duration_ms": 2**62}]),
    "utf8-multibyte": pdb([{"operator": "Zoë 操作员 🤖", "notes": "née\tline\r\nnext"}]),
    "utf8-invalid": pdb([{"operator": b"\xc3\x28"}]),
    "utf8-overlong": pdb([{"robot": b"\xc0\xaf"}]),
    "utf8-surrogate": pdb([{"notes": b"\xed\xa0\x80"}]),
    "utf8-beyond": pdb([{"notes": b"\xf4\x90\x80\x80"}]),
    "utf8-c1-control": pdb([{"operator": b"\xc2\x85"}]),
    "control-in-name": pdb([{"robot": "aloha\n1"}]),
    "uris-too-many": pdb([{"uris": [f"u{i}" for i in range(17)]}]),
    "uri-empty": pdb([{"uris": [""]}]),
    "notes-long": pdb([{"notes": "n" * 4096}]),
    "notes-too-long": pdb([{"notes": "n" * 4097}]),
    "name-too-long": pdb([{"operator": "o" * 129}]),
}


# ---------------------------------------------------------------------------
# spec_fuzzer: plain YAML; besides the docs/examples (copied below), specs of
# the keys the examples do not show.

SPEC_SEEDS = {
    # A mixture sweep whose source is generated, one robot and one
    # simulation scenario, intermediate checkpoints of the finetunes.
    "mixture-generated-simulation.yaml": b"""version: 1
design: mixture
task:
  name: can_sorting
  rubric:
    milestones:
      - {name: sorted, score: 1}
policy: diffusion_policy
teleop:
  dataset: {uri: "file:///data/teleop", episodes: 200}
  n_tele: [50, 100]
sources:
  - name: mimicgen
    kind: simulation
    generate:
      command:
        argv: [python, generate.py, "--source={dataset}", "--n={n_demos}", "--out={output_dir}"]
        checkpoint: "{output_dir}/demo.hdf5"
        result_format: mimicgen
      from: {uri: "file:///data/source.hdf5", content_hash: "sha256:ab", episodes: 10}
      demos: 1000
    n_nt: [0, 1000]
seeds: [0, 1, 2]
protocol: {total_steps: 13000, pretrain_steps: 10000, finetune_steps: 3000}
evaluation:
  aggregation: max_over_checkpoints
  checkpoints: {every_steps: 1000, last: 2}
  scenarios:
    - in_domain
    - name: sim
      evaluator: simulation
      trials: 50
      seed: 7
      command:
        shell: "python eval.py --ckpt {checkpoint} --n {n_episodes} --seed {seed} > {output_dir}/log"
        result_format: diffusion_policy
        result_file: "{output_dir}/eval_log.json"
templates:
  train:
    argv: [python, train.py, "data={dataset}", "steps={steps}"]
    checkpoint_at_step: "{output_dir}/{step}.ckpt"
  pretrain: {argv: [python, train.py, "data={dataset}", "steps={steps}"]}
  finetune:
    argv: [python, train.py, "data={dataset}", "init={init_checkpoint}"]
    checkpoint_at_step: "{output_dir}/{step}.ckpt"
""",
    # A scaling sweep on a collected dataset, the source's own train
    # template, an unused protocol split and a teleop sweep to compare with.
    "scaling-collected.yaml": b"""version: 1
design: scaling
task:
  name: pick_dual_bottles
  rubric:
    items:
      - {name: left, weight: 1/2}
      - {name: right, weight: 1/2}
policy: pi0
sources:
  - name: sim
    kind: simulation
    dataset: {uri: "file:///data/sim", episodes: 2000}
    n_nt: [100, 2000]
    templates:
      train: {argv: [python, train.py, "data={dataset}", "subset={subset_manifest}"]}
seeds: [0]
protocol: {total_steps: 40000, pretrain_steps: 30000, finetune_steps: 10000}
evaluation:
  scenarios: [in_domain, {name: sim, evaluator: simulation, command: {argv: [ev, "{checkpoint}"]}}]
baseline_from_sweep: 3
""",
}


def write_spec_seeds():
    for name, data in SPEC_SEEDS.items():
        write("spec_fuzzer", f"seed-{name}", data)
    for example in sorted((ROOT / "docs" / "examples").glob("*.yaml")):
        write("spec_fuzzer", f"example-{example.name}", example.read_bytes())


def write(target, name, data):
    directory = CORPUS / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(data)


def main():
    for target, seeds in (("command_render_fuzzer", RENDER_SEEDS), ("trial_fuzzer", TRIAL_SEEDS)):
        for old in (CORPUS / target).glob("seed-*"):
            old.unlink()
        for name, data in seeds.items():
            write(target, f"seed-{name}", data)
    write_spec_seeds()
    print("seeds written under", CORPUS.relative_to(ROOT))


if __name__ == "__main__":
    import sys
    if sys.argv[1:] == ["--spec"]:
        write_spec_seeds()
    else:
        main()
