"""Augmentation cost, paper mode vs improved mode, side by side in one run.

Same seeds, same embedded augmenter (SmolLM2-135M-Instruct) served over real HTTP by the OpenAI-compatible stand-in
server with an injected latency per request (default 300 ms, like a remote API), each mode with its own cold cache.
Prints, per mode: requests sent to the augmenter (step 1, step 2), samples kept, requests per kept sample, and wall
time; last line `augment_calls ratio: X` = paper requests per kept sample / improved requests per kept sample.

    .venv/bin/python benchmarks/augment_calls.py [--seeds 6] [--latency 0.3]
"""
import argparse, os, shutil, tempfile, time
from pathlib import Path
from unittest.mock import patch
from culturellm.core import data_dir, load_profile, models_dir
from culturellm.hf import HFBackend
from culturellm.serve import Faults, StandInServer

PROFILE = """roles:
  augmenter: {{backend: openai, model: smollm2, base_url: "{url}", concurrency: 8, timeout: 300}}
  embedder: {{backend: minilm, model: all-minilm-l6-v2}}
augment: {{seeds: {seeds}, n: 3, m: 6, max_calls: 2, max_tokens: 160, synonym_tokens: 80, rounds: 6}}
"""


def run_mode(mode, url, seeds, work):
    home = Path(work)/mode
    for part in ("registry", "wvs"): shutil.copytree(data_dir()/part, home/"data"/part)
    (home/"data/profiles").mkdir(parents=True)
    (home/"data/profiles/bench.yaml").write_text(PROFILE.format(url=url, seeds=seeds))
    env = {"CULTURELLM_HOME": str(home), "CULTURELLM_MODELS": str(models_dir()), "CULTURELLM_PROGRESS": "0"}
    with patch.dict(os.environ, env):
        from culturellm.augment import augment, load_manifest
        start = time.perf_counter()
        augment(load_profile("bench"), mode)
        seconds = time.perf_counter() - start
        return load_manifest("bench", mode), seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--latency", type=float, default=0.3)
    args = ap.parse_args()
    model = HFBackend("smollm2-135m-instruct")
    per_kept = {}
    with StandInServer(model, Faults(latency=args.latency), models=["smollm2"]) as server, tempfile.TemporaryDirectory() as work:
        for mode in ("paper", "improved"):
            manifest, seconds = run_mode(mode, server.url, args.seeds, work)
            requests = manifest["requests"]["step1"] + manifest["requests"]["step2"]
            per_kept[mode] = requests / max(manifest["kept"], 1)
            print(f"{mode}: requests step1={manifest['requests']['step1']} step2={manifest['requests']['step2']} total={requests}, "
                  f"kept={manifest['kept']}, requests per kept sample={per_kept[mode]:.2f}, wall={seconds:.1f} s")
        http_posts = sum(1 for r in server.log if r["method"] == "POST")
    print(f"HTTP requests served: {http_posts} (latency {args.latency} s each, {args.seeds} seeds)")
    print(f"augment_calls ratio: {per_kept['paper'] / per_kept['improved']:.2f}")


if __name__ == "__main__":
    main()
