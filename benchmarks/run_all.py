"""Run every benchmark and write `reports/<profile>/benchmarks.md`: one table of the ratios, then each benchmark's
full output with the exact command that produced it.

    .venv/bin/python benchmarks/run_all.py [--profile laptop] [--reproduce-profile smoke]
"""
import argparse, datetime, platform, subprocess, sys, time
from pathlib import Path
import torch
from culturellm.core import reports_dir, write_atomic

HERE = Path(__file__).resolve().parent


def benchmarks(profile: str, reproduce_profile: str) -> dict:
    "Benchmark name -> its arguments."
    return {"label_scoring": [], "eval_throughput": ["--profile", profile, "--per-task", "4"],
            "augment_calls": ["--profile", profile], "lora_padding": ["--profile", profile], "scoring_roofline": ["--profile", profile],
            "dtype_agreement": ["--profile", profile],
            "reproduce_warm_cold": ["--profile", reproduce_profile], "paper_scale": ["--profiles", "paper-openai", "--per-task", "2", "--pilot", "3", "1"],
            "batch_memory": ["--n", "50000"], "probe_under_load": [], "concurrent_stages": ["--profile", profile],
            "int8_dynamic": ["--profile", profile]}


def run(name: str, arguments: list) -> dict:
    "Run one benchmark script; its output, seconds and ratio (None if it failed)."
    command = [sys.executable, str(HERE/f"{name}.py"), *arguments]
    print(f"== {name} ...", flush=True)
    start = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True)
    lines = [l for l in out.stdout.splitlines() if l.startswith(f"{name} ratio: ")]
    ratio = lines[-1].split(": ", 1)[1] if out.returncode == 0 and lines else None
    print(out.stdout if out.returncode == 0 else out.stdout + out.stderr[-2000:], flush=True)
    return {"name": name, "command": " ".join(["python", f"benchmarks/{name}.py", *arguments]), "ratio": ratio,
            "seconds": round(time.perf_counter() - start), "output": out.stdout.strip() or out.stderr.strip()[-2000:],
            "status": "ok" if ratio else f"failed (exit {out.returncode})"}


def report(profile: str, results: list) -> str:
    head = (f"# Benchmarks — profile `{profile}`\n\n{datetime.datetime.now():%Y-%m-%d %H:%M}, {platform.machine()}, "
            f"{torch.get_num_threads()} torch threads, torch {torch.__version__}. Each benchmark measures its variants side by "
            "side in one run; compare ratios, not seconds, across machines.\n\n| benchmark | ratio | status | seconds | command |\n|---|---|---|---|---|\n")
    rows = "".join(f"| {r['name']} | {r['ratio'] or '—'} | {r['status']} | {r['seconds']} | `{r['command']}` |\n" for r in results)
    bodies = "".join(f"\n## {r['name']}\n\n`{r['command']}`\n\n```\n{r['output']}\n```\n" for r in results)
    return head + rows + bodies


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="laptop")
    ap.add_argument("--reproduce-profile", default="smoke", help="profile of the cold/warm reproduce benchmark")
    ap.add_argument("--only", nargs="*", help="run only these benchmarks")
    args = ap.parse_args()
    chosen = {k: v for k, v in benchmarks(args.profile, args.reproduce_profile).items() if not args.only or k in args.only}
    results = [run(name, arguments) for name, arguments in chosen.items()]
    path = write_atomic(reports_dir(args.profile)/"benchmarks.md", report(args.profile, results))
    print(f"wrote {path}")
    return 0 if all(r["ratio"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
