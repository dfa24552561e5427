"""Two stages at once on one thread each, or one after another on every thread? Side by side, on this machine.

A stage's work in miniature (the embedded Gemma-3-270M loaded in a fresh process, label scoring of the wall-time
probe's conversations, then LoRA training steps on them under the profile's recipe) run twice:
- one after another: one process doing the work twice, torch on as many threads as there are cores (what
  `reproduce` does with `concurrent_stages: 1`);
- at once: two processes doing the work once each, at the same time, torch on cores / 2 threads each (what
  `concurrent_stages: 2` does).
Prints each arrangement's wall seconds and the load average before it; the last line is `concurrent_stages ratio: X`,
one after another / at once (above 1: running stages at once finishes the same work sooner). Run it on an idle machine.

    .venv/bin/python benchmarks/concurrent_stages.py [--profile laptop] [--scored 48] [--steps 3] [--repeats 1]
"""
import argparse, os, subprocess, sys, time
from pathlib import Path

WORK = """
import sys, tempfile, time
from pathlib import Path
from culturellm.core import load_profile, write_jsonl
from culturellm.finetune import finetune_config, train_lora
from culturellm.llm import make_backend
from culturellm.sft import hf_pairs
from culturellm.walltime import probe_conversations
profile, scored, steps, times = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
cfg = load_profile(profile)
spec, recipe = cfg["roles"]["base"], finetune_config(cfg)
backend, convs = make_backend(spec), probe_conversations(scored)
pairs = hf_pairs([{"messages": [*c, {"role": "assistant", "content": "yes"}]} for c in convs], backend.format)
train = {**recipe, "train": {**recipe["train"], "epochs": 1, "max_steps": steps}}
for _ in range(times):
    backend.score_each(convs, [["yes", "no"]] * len(convs))
    with tempfile.TemporaryDirectory() as folder:
        write_jsonl(Path(folder)/"rows.hf.jsonl", pairs)
        train_lora(Path(folder)/"rows.hf.jsonl", Path(folder)/"model", spec, train)
"""


def launch(args, threads: int, times: int) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "TQDM_DISABLE": "1"}
    return subprocess.Popen([sys.executable, "-c", WORK, args.profile, str(args.scored), str(args.steps), str(times)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wall(processes: list) -> float:
    "Wall seconds until every process has ended (each must succeed)."
    start = time.perf_counter()
    for p in processes:
        _, err = p.communicate()
        if p.returncode: sys.exit(f"a worker failed:\n{err[-2000:]}")
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="laptop")
    ap.add_argument("--scored", type=int, default=48, help="probe conversations scored and trained on, per unit of work")
    ap.add_argument("--steps", type=int, default=3, help="LoRA optimiser steps per unit of work")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    cores, results = os.cpu_count(), {"one after another": [], "at once": []}
    launch(args, 1, 0).communicate()                                         # warm the file cache and the converted model
    for _ in range(args.repeats):
        for name, make in [("one after another", lambda: [launch(args, cores, 2)]),
                           ("at once", lambda: [launch(args, max(1, cores // 2), 1) for _ in range(2)])]:
            load = os.getloadavg()[0]
            seconds = wall(make())
            results[name].append(seconds)
            print(f"{name:>18}: {seconds:6.1f} s wall (load average before: {load:.2f}; {cores} cores)", flush=True)
    best = {k: min(v) for k, v in results.items()}
    print(f"concurrent_stages ratio: {best['one after another'] / best['at once']:.2f}")


if __name__ == "__main__":
    main()
