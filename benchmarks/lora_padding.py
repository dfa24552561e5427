"""LoRA training throughput: dynamic padding (pad each batch to its longest row) vs padding every row to a fixed
maximum length, side by side in one run.

The profile's base model and LoRA recipe, trained on one culture's 50 seed rows (corrected labels, the prompt format
used at test time) with the answer-only loss of `culturellm.finetune`. Each variant starts from a fresh adapter and
runs the same batches in the same order; the first step is a warm-up and is not timed. Tokens/s counts real
(non-padding) tokens only. The last line is `lora_padding ratio: X` (dynamic / fixed length).

    .venv/bin/python benchmarks/lora_padding.py [--profile laptop] [--culture bengali] [--max-length 256] [--steps 6]
"""
import argparse, time
import torch
from culturellm.core import load_profile
from culturellm.hf import resolve_dtype
from culturellm.finetune import LeftPadCollator, _lora_model, answer_loss, encode_pairs, finetune_config
from culturellm.sft import base_prompt_format, hf_pairs, rows_for, seed_items


def train_steps(base: str, cfg: dict, batches: list[dict]) -> tuple[float, float]:
    "Seconds and real tokens of the timed steps (all but the first) of LoRA training on `batches`."
    torch.manual_seed(cfg["seed"])
    dtype = resolve_dtype(cfg["train"].get("dtype", "auto"))
    model, _ = _lora_model(base, dtype, cfg)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg["train"]["lr"])
    seconds, tokens = 0.0, 0
    for i, batch in enumerate(batches):
        start = time.perf_counter()
        answer_loss(model, batch).backward()
        optimizer.step(); optimizer.zero_grad()
        if i: seconds, tokens = seconds + time.perf_counter() - start, tokens + int(batch["attention_mask"].sum())
    return seconds, tokens


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="laptop")
    ap.add_argument("--culture", default="bengali")
    ap.add_argument("--max-length", type=int, default=256, help="the fixed length of the padded variant")
    ap.add_argument("--steps", type=int, default=6, help="training steps per variant (the first is a warm-up)")
    args = ap.parse_args()
    profile = load_profile(args.profile)
    cfg, base = finetune_config(profile), profile["roles"]["base"]["model"]
    fmt = base_prompt_format(profile)
    rows, _ = rows_for(args.culture, seed_items(), "corrected")
    encoded = encode_pairs(hf_pairs(rows, fmt), fmt, max_tokens=args.max_length)
    size = cfg["train"]["batch_size"]
    chunks = [encoded[(i * size) % len(encoded):][:size] for i in range(args.steps)]
    longest = max(len(r["ids"]) for r in encoded)
    print(f"profile {args.profile}: base {base} ({resolve_dtype(cfg['train'].get('dtype', 'auto'))}), recipe {cfg['recipe']}, {len(encoded)} rows of "
          f"{args.culture}, {min(len(r['ids']) for r in encoded)}..{longest} tokens, batch {size}, {args.steps} steps, {torch.get_num_threads()} threads")
    results = {}
    for variant, collate in (("dynamic padding", LeftPadCollator(fmt.tokenizer.pad_token_id)),
                             (f"padding to {args.max_length}", LeftPadCollator(fmt.tokenizer.pad_token_id, pad_to=args.max_length))):
        batches = [collate(c) for c in chunks]
        seconds, tokens = train_steps(base, cfg, batches)
        padded = sum(b["input_ids"].numel() for b in batches[1:])
        results[variant] = tokens / seconds
        print(f"{variant}: {tokens / seconds:.1f} real tokens/s, {seconds / (len(batches) - 1):.2f} s/step, {tokens / padded:.0%} of the batch is real tokens")
    dynamic, fixed = results.values()
    print(f"lora_padding ratio: {dynamic / fixed:.2f}")


if __name__ == "__main__":
    main()
