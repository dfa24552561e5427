"""Cold vs warm `culturellm reproduce`, side by side in one run.

A scratch project home gets the committed registries, profiles, WVS tables and experiment notebooks; the converted
embedded models are shared with this checkout (their one-off GGUF conversion is not part of either run). The first
run starts with no caches, augmentations, trained models or predictions (cold); the second run repeats the same
command on what the first left behind (warm: every stage up to date, skipped). A third run adds `--force`: every
notebook executes again and is served by its inner caches (responses, trained adapters, predictions), which is what a
change to the code costs at least. The last line is `reproduce_warm_cold ratio: X` (cold seconds / warm seconds).

    .venv/bin/python benchmarks/reproduce_warm_cold.py [--profile smoke] [--keep DIR]
"""
import argparse, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path
from culturellm.core import models_dir, project_root
from culturellm.data import data_mirror

PARTS = ("data/registry", "data/profiles", "data/wvs", "data/templates", "nbs/experiments")


def timed_reproduce(profile: str, env: dict, *options: str) -> float:
    "Seconds of one `culturellm reproduce --profile P [options]` (which must succeed)."
    cli = Path(sys.executable).parent/"culturellm"
    start = time.perf_counter()
    out = subprocess.run([str(cli), "reproduce", "--profile", profile, *options], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if out.returncode != 0: sys.exit(f"reproduce failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="smoke")
    ap.add_argument("--keep", help="run in this folder and keep it (default: a temporary folder, removed)")
    args = ap.parse_args()
    home = Path(args.keep or tempfile.mkdtemp(prefix="culturellm-bench-"))
    for part in PARTS: shutil.copytree(project_root()/part, home/part, dirs_exist_ok=True)
    env = {**os.environ, "CULTURELLM_HOME": str(home), "CULTURELLM_MODELS": str(models_dir()), "HF_HUB_OFFLINE": "1"}
    if data_mirror() is not None: env["CULTURELLM_DATA_MIRROR"] = str(data_mirror().resolve())
    try:
        cold = timed_reproduce(args.profile, env)
        warm = timed_reproduce(args.profile, env)
        forced = timed_reproduce(args.profile, env, "--force")
    finally:
        if not args.keep: shutil.rmtree(home, ignore_errors=True)
    print(f"profile {args.profile}: cold {cold:.0f} s, warm {warm:.1f} s, forced rerun on warm caches {forced:.0f} s")
    print(f"reproduce_warm_cold ratio: {cold / warm:.2f}")


if __name__ == "__main__":
    main()
