"""Augmentation cost, paper mode vs improved mode, side by side in one run.

Same seeds, same embedded augmenter (SmolLM2-135M-Instruct) served over real HTTP by the OpenAI-compatible stand-in
server with an injected latency per request (default 300 ms, like a remote API), each mode with its own cold cache.
The augmentation settings (paraphrases, variants, calls, tokens, synonym words, rounds) are the profile's own
(default `laptop`, so the ratio is the one its `make reproduce` pays); `--seeds` takes the first seeds only.
Prints, per mode: requests sent to the augmenter (step 1, step 2), samples kept, requests per kept sample, and wall
time; last line `augment_calls ratio: X` = paper requests per kept sample / improved requests per kept sample.

    .venv/bin/python benchmarks/augment_calls.py [--profile laptop] [--seeds 10] [--latency 0.3]
"""
import argparse, os, shutil, tempfile, time
from pathlib import Path
from unittest.mock import patch
import yaml
from culturellm.core import data_dir, load_profile, models_dir, profile_section
from culturellm.hf import HFBackend
from culturellm.serve import Faults, StandInServer

ROLES = """roles:
  augmenter: {{backend: openai, model: smollm2, base_url: "{url}", concurrency: 8, timeout: 300}}
  embedder: {{backend: minilm, model: all-minilm-l6-v2}}
"""
SETTINGS = ["n", "m", "max_calls", "max_tokens", "synonym_tokens", "synonym_words", "rounds", "threshold", "calibration_share"]


def augment_settings(profile: str, seeds: int) -> dict:
    "The profile's augmentation settings that decide the requests and the samples kept, on its first `seeds` seeds."
    section = profile_section(load_profile(profile), "augment")
    return {**{k: section[k] for k in SETTINGS}, "seeds": min(seeds, section["seeds"])}


def run_mode(mode, url, settings, work):
    home = Path(work)/mode
    for part in ("registry", "wvs"): shutil.copytree(data_dir()/part, home/"data"/part)
    (home/"data/profiles").mkdir(parents=True)
    (home/"data/profiles/bench.yaml").write_text(ROLES.format(url=url) + yaml.safe_dump({"augment": settings}, default_flow_style=None))
    env = {"CULTURELLM_HOME": str(home), "CULTURELLM_MODELS": str(models_dir()), "CULTURELLM_PROGRESS": "0"}
    with patch.dict(os.environ, env):
        from culturellm.augment import augment, load_manifest
        start = time.perf_counter()
        augment(load_profile("bench"), mode)
        seconds = time.perf_counter() - start
        return load_manifest("bench", mode), seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="laptop", help="whose augmentation settings")
    ap.add_argument("--seeds", type=int, default=10, help="the first seeds only (at most the profile's)")
    ap.add_argument("--latency", type=float, default=0.3)
    args = ap.parse_args()
    model = HFBackend("smollm2-135m-instruct")
    settings = augment_settings(args.profile, args.seeds)
    print(f"profile {args.profile}: " + ", ".join(f"{k}={v}" for k, v in settings.items()))
    per_kept, served_per_kept = {}, {}
    posts = lambda server: sum(1 for r in server.log if r["method"] == "POST")
    with StandInServer(model, Faults(latency=args.latency), models=["smollm2"]) as server, tempfile.TemporaryDirectory() as work:
        for mode in ("paper", "improved"):
            before = posts(server)
            manifest, seconds = run_mode(mode, server.url, settings, work)
            requests, served = manifest["requests"]["step1"] + manifest["requests"]["step2"], posts(server) - before
            per_kept[mode], served_per_kept[mode] = requests / max(manifest["kept"], 1), served / max(manifest["kept"], 1)
            print(f"{mode}: requests step1={manifest['requests']['step1']} step2={manifest['requests']['step2']} total={requests} "
                  f"(HTTP requests served: {served}; a request asked twice is answered by the cache), kept={manifest['kept']}, "
                  f"requests per kept sample={per_kept[mode]:.2f} (served: {served_per_kept[mode]:.2f}), wall={seconds:.1f} s")
    print(f"latency {args.latency} s per request, {settings['seeds']} seeds; the ratio counts the requests each mode's protocol makes "
          f"(upstream sends every one); counted by HTTP requests served it is {served_per_kept['paper'] / served_per_kept['improved']:.2f}")
    print(f"augment_calls ratio: {per_kept['paper'] / per_kept['improved']:.2f}")


if __name__ == "__main__":
    main()
