"""Held-out alignment across cultures: what each fold model costs, and one real comparison on the embedded models.

In a scratch project with the profile's base, LoRA recipe, sizes and folds (default `laptop`) and its held-out
cultures (default: the profile's), each culture's fold training sets are built and its fold models trained
(`alignment.build_heldout_sets`, `finetune.finetune_many`), each culture's own fold models asked its held-out
questions (what its culture stage asks), then `alignment.heldout_comparison` (the other cultures' fold models on each
culture's questions: what the held-out comparison adds). The augmented rows are stand-ins, the seed questions with a
prefix, `--augmented` of them (default: the profile's largest set size), so the rows and their lengths are a real
run's; the answers are not a real run's. Prints seconds per fold model trained, seconds per culture's own held-out
scoring and of the comparison, the table and its reading; last line `heldout_folds ratio: X` = seconds the comparison
adds / seconds of one fold model's training.

    .venv/bin/python benchmarks/heldout_folds.py [--profile laptop] [--cultures bengali english german spanish] [--augmented 90]
"""
import argparse, json, time
import pandas as pd
import yaml
from culturellm.alignment import align_config, build_heldout_sets, fold_llms, heldout_comparison, heldout_distributions, heldout_reading
from culturellm.augment import augment_dir
from culturellm.core import load_profile, write_atomic
from culturellm.data import ScratchProject
from culturellm.finetune import finetune_many
from culturellm.sft import build_sets, seed_items, sft_config

KEEP = ["cultures", "wvs", "roles", "sft", "finetune", "evaluate"]


def scratch_profile(profile: str, cultures: list) -> str:
    "The profile's training and scoring settings, its cultures and held-out cultures set to `cultures`, as YAML."
    cfg = load_profile(profile)
    kept = {k: cfg[k] for k in KEEP if k in cfg} | {"cultures": cultures}
    kept["sft"] = {k: v for k, v in kept.get("sft", {}).items() if k in ("mode", "source", "sizes")}
    return yaml.safe_dump(kept | {"alignment": {"folds": align_config(cfg)["folds"], "heldout_cultures": cultures}})


def stand_in_samples(n: int) -> str:
    "`n` augmented samples as JSONL: the seed questions, round-robin, with a prefix (real rows' lengths, not real paraphrases)."
    seeds = seed_items()
    rows = [{"q_id": int(seeds.q_id[i % len(seeds)]), "text": f"In your view: {seeds.text[i % len(seeds)]}", "step": 1, "sim_seed": 0.9 - i / 1000} for i in range(n)]
    return "".join(json.dumps(r) + "\n" for r in rows)


def main(profile: str, cultures: list, augmented: int|None):
    with ScratchProject({"heldout-bench": scratch_profile(profile, cultures)}):
        cfg = load_profile("heldout-bench")
        sizes = [s for s in sft_config(cfg)["sizes"] if s is not None]
        folder = augment_dir(cfg, sft_config(cfg)["source"]); folder.mkdir(parents=True)
        (folder/"samples.jsonl").write_text(stand_in_samples(augmented if augmented is not None else max(sizes))); write_atomic(folder/"manifest.json", "{}")
        k, train, own = align_config(cfg)["folds"], {}, {}
        for c in cultures:
            build_sets(cfg, c)
            names = build_heldout_sets(cfg, c, k)
            start = time.perf_counter(); finetune_many(cfg, [(c, name) for name in names]); train[c] = time.perf_counter() - start
            start = time.perf_counter(); heldout_distributions(fold_llms(cfg, c), c); own[c] = time.perf_counter() - start
        start = time.perf_counter(); cells, gaps = heldout_comparison(cfg); compare = time.perf_counter() - start
    per_fold = sum(train.values()) / (k * len(cultures))
    print(pd.DataFrame({"training s (all folds)": train, "own held-out scoring s": own}).round(1).to_string())
    print(f"{k} folds x {len(cultures)} cultures; {per_fold:.1f} s per fold model trained; comparison (other cultures' fold models "
          f"on each culture's questions, {len(gaps)} question pairs): {compare:.1f} s")
    print(cells.to_string())
    print(heldout_reading(cells))
    print(f"heldout_folds ratio: {compare / per_fold:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="laptop")
    parser.add_argument("--cultures", nargs="+", default=None)
    parser.add_argument("--augmented", type=int, default=None)
    a = parser.parse_args()
    main(a.profile, a.cultures or align_config(load_profile(a.profile))["heldout_cultures"], a.augmented)
