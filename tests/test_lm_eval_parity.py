"""lm-evaluation-harness runs our exported tasks and answers as we do: its `hf` model on a local folder (offline)
against our label scoring, on a few tasks x 16 examples, example by example. The model is a tiny random Gemma-3
(`tiny_random_model`: the embedded base's architecture, tokenizer and chat template, 2 layers of width 64): parity is
about prompts, tokenization and summed log-likelihoods, which a trained model's weights do not change, and the 270M
base's arithmetic would only lengthen the test. Its initialisation is wide, so labels are not near ties."""
import json, os, subprocess, sys
from pathlib import Path
from culturellm.evaluate import macro_f1, score_logprob
from culturellm.hf import HFBackend, tiny_random_model
from culturellm.llm import LLM, Ledger, ResponseCache
from culturellm.task_export import export_lm_eval, lm_eval_name
from culturellm.tasks import task_entry, task_prompt

TASKS = ["arabic/hate_detect_fine-grained", "bengali/threat_detect", "english/hate_offens_detect", "turkish/offensive_detect_finegrained"]   # 7, 2, 3 and 5 labels; four scripts
PER_TASK = 16
WIDE = 0.5   # the tiny model's initializer_range: label log-likelihoods apart by nats, not by the 4th decimal ours are rounded to


def lm_eval_run(out: Path, folder: Path, results: Path) -> dict:
    "Run the `lm-eval` command on the exported tasks; per task, its samples (doc id -> chosen index) and its macro-F1."
    names = [lm_eval_name(*name.split("/")) for name in TASKS]
    command = [str(Path(sys.executable).parent/"lm-eval"), "run", "--model", "hf", "--model_args", f"pretrained={folder},dtype=float32",
               "--device", "cpu", "--batch_size", "8", "--include_path", str(out), "--tasks", ",".join(names),
               "--log_samples", "--output_path", str(results)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, env={**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(next(results.rglob("results_*.json")).read_text())["results"]
    chosen = {}
    for name in names:
        samples = [json.loads(line) for line in next(results.rglob(f"samples_{name}_*.jsonl")).read_text().splitlines()]
        scores = {s["doc"]["id"]: [float(r[0]) for r in s["filtered_resps"]] for s in samples}
        chosen[name] = ({i: max(range(len(v)), key=v.__getitem__) for i, v in scores.items()}, summary[name]["f1_macro,none"], scores)
    return chosen


def our_choices(docs_dir: Path, gemma: HFBackend, tmp: Path) -> dict:
    "Our label scoring of the same documents (the base view: no system prompt): doc id -> chosen label index, macro-F1, doc id -> label log-probabilities."
    llm, chosen = LLM(gemma, ResponseCache(tmp/"cache.sqlite"), Ledger(tmp/"usage.jsonl"), role="base", stage="evaluate"), {}
    for name in TASKS:
        task = task_entry(*name.split("/"))
        docs = [json.loads(line) for line in (docs_dir/f"{name}.jsonl").read_text().splitlines()]
        preds = score_logprob(llm, [(task, [[{"role": "user", "content": task_prompt(task, d["text"])}] for d in docs])], {}, "corrected")[0]
        chosen[lm_eval_name(*name.split("/"))] = ({d["id"]: task["labels"].index(p["pred"]) for d, p in zip(docs, preds)},
                                                  macro_f1([d["gold"] for d in docs], [p["pred"] for p in preds], task["labels"]),
                                                  {d["id"]: [p["scores"][l] for l in task["labels"]] for d, p in zip(docs, preds)})
    return chosen


def test_lm_eval_chooses_as_we_do_on_the_exported_tasks(tmp_path):
    out = tmp_path/"lm_eval_tasks"
    export_lm_eval(out, tasks=TASKS, per_task=PER_TASK)
    tiny = tiny_random_model("gemma-3-270m", tmp_path/"tiny-gemma", init=WIDE)
    theirs = lm_eval_run(out, Path(tiny["model"]), tmp_path/"results")
    ours = our_choices(out/"data", HFBackend(tiny["model"], dtype="float32", template=tiny["template"]), tmp_path)   # fp32 on both sides: no rounding between batch shapes
    pairs = [(ours[n][0][i], theirs[n][0][i]) for n in ours for i in ours[n][0]]
    agreement = sum(a == b for a, b in pairs) / len(pairs)
    gap = max(abs(a - b) for n in ours for i in ours[n][2] for a, b in zip(ours[n][2][i], theirs[n][2][i]))   # ours are rounded to 4 decimals
    print(f"lm-eval parity: {agreement:.4f} of {len(pairs)} examples choose the same label; largest log-likelihood difference {gap:.5f}; macro-F1 ours / lm-eval: "
          + ", ".join(f"{n}: {ours[n][1]:.4f} / {theirs[n][1]:.4f}" for n in ours))
    assert len(pairs) >= len(TASKS) * PER_TASK and set(theirs) == set(ours)
    assert all(set(ours[n][0]) == set(theirs[n][0]) for n in ours)                     # the same examples on both sides
    assert agreement >= 0.99 and gap < 1e-3
    for n in ours: assert abs(ours[n][1] - theirs[n][1]) < 1e-9, n
