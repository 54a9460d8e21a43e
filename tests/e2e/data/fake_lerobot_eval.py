#!/usr/bin/env python3
"""A stand-in for lerobot-eval, for the end-to-end tests
(tests/e2e/simulation_e2etest.cc).

It evaluates a fake_train.sh checkpoint "in simulation": the checkpoint
names its subset manifest, whose N (demos trained on) and the checkpoint's
step set the success rate, so success grows with N as a scaling study
expects. Episode i succeeds when i < round(rate * n_episodes), so the
result is deterministic and a test can recompute it. It writes
--out/eval_info.json in lerobot's single-task layout (--layout=old) or its
multi-task layout (--layout=new).

  fake_lerobot_eval.py --checkpoint=PATH --n=EPISODES --seed=S --out=DIR
                       [--layout=old|new] [--mode=ok|extra|malformed|nan|missing]

Bad modes for the failure tests: extra (one episode more than asked),
malformed (not JSON), nan (a NaN reward, as Python's json writes it),
missing (no file at all, exit 0).
"""
import json
import math
import os
import sys


def success_rate(checkpoint):
    with open(checkpoint) as f:
        ckpt = json.load(f)
    with open(ckpt["manifest"]) as f:
        manifest = json.load(f)
    n, train_seed = manifest["n"], manifest["seed"]
    steps = int(ckpt["steps"])
    # More demos help with diminishing returns; the final checkpoint is not
    # always the best one (the step term peaks before the end); seeds differ.
    rate = (0.06 * n ** 0.4 + 0.05 * (train_seed % 2)) * (1.0 - 0.1 * abs(steps - 1000) / 1000.0)
    return max(0.0, min(0.95, rate))


def episodes_of(checkpoint, n_episodes, seed):
    successes = int(round(success_rate(checkpoint) * n_episodes))
    return [{"episode_ix": i, "sum_reward": float(3 * (i < successes)),
             "max_reward": float(i < successes), "success": i < successes, "seed": seed + i}
            for i in range(n_episodes)]


def main(argv):
    args = dict(a.split("=", 1) for a in argv if a.startswith("--") and "=" in a)
    checkpoint, out = args.get("--checkpoint"), args.get("--out")
    n, seed = int(args.get("--n", "0")), int(args.get("--seed", "0"))
    layout, mode = args.get("--layout", "old"), args.get("--mode", "ok")
    if checkpoint and checkpoint.startswith("file://"):
        checkpoint = checkpoint[len("file://"):]
    if not checkpoint or not out or n <= 0:
        print("fake_lerobot_eval: --checkpoint, --n and --out are required", file=sys.stderr)
        return 2
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "eval_info.json")
    if mode == "missing":
        return 0
    if mode == "malformed":
        with open(path, "w") as f:
            f.write('{"per_episode": [{"episode_ix": 0, "success": tru')
        return 0
    episodes = episodes_of(checkpoint, n + (1 if mode == "extra" else 0), seed)
    if mode == "nan":
        episodes[0]["sum_reward"] = math.nan
    pc = 100.0 * sum(e["success"] for e in episodes) / len(episodes)
    if layout == "new":
        info = {"per_task": [{"task_group": "sim", "task_id": 0, "metrics": {
                    "sum_rewards": [e["sum_reward"] for e in episodes],
                    "max_rewards": [e["max_reward"] for e in episodes],
                    "successes": [e["success"] for e in episodes], "video_paths": []}}],
                "per_group": {"sim": {"pc_success": pc, "n_episodes": len(episodes)}},
                "overall": {"pc_success": pc, "n_episodes": len(episodes), "eval_s": 0.1}}
    else:
        info = {"per_episode": episodes,
                "aggregated": {"pc_success": pc, "eval_s": 0.1, "eval_ep_s": 0.01}}
    with open(path, "w") as f:
        json.dump(info, f, indent=2)  # json writes NaN bare, as lerobot's would
    print("fake_lerobot_eval: {} episodes, {:.1f}% success".format(len(episodes), pc))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
