"""The label scorer as it was before length-sorted token-budget batches, shared-prefix caching and label paths
(culturellm 38d002b), kept verbatim so `scoring_roofline.py` can measure both side by side in one run."""
import torch
from culturellm.hf import _cache_name, _forward_tail, pad_batch
from culturellm.llm import LabelScores

def _gather_logprobs(self, seqs: list[list[int]], picks: list[list[tuple[int, int]]], keep: int) -> list[list[float]]:
    "For each sequence, the log-probabilities at (kept row, token id) pairs; only those values are kept in memory."
    out = [None] * len(seqs)
    for rows, lp in _forward_tail(self, seqs, keep):
        for b, i in enumerate(rows):
            r, t = zip(*picks[i])
            out[i] = lp[b, list(r), list(t)].tolist()
    return out

def _score_one_pass(self, heads, tails) -> list[list[float]]:
    "Labels sharing all but their last token: one sequence per example, every label read at the last position."
    shared = tails[0][0][:-1]
    picks = [[(j, t) for j, t in enumerate(shared)] + [(len(shared), ts[-1]) for ts in example] for example in tails]
    values = _gather_logprobs(self, [h + shared for h in heads], picks, len(shared) + 1)
    return [[sum(v[:len(shared)]) + last for last in v[len(shared):]] for v in values]

def _score_shared_head(self, heads, tails) -> list[list[float]]:
    "General case: each prompt runs once; its key/value cache is repeated for the k labels, whose tokens run after it."
    k, pad, out = len(tails[0]), self.tokenizer.pad_token_id, []
    step = max(1, self.batch_size // k)                                   # examples per sub-batch: k label rows each
    for start in range(0, len(heads), step):
        ids, mask, pos = pad_batch(heads[start:start + step], pad, device=self.device)
        flat = [t for ts in tails[start:start + step] for t in ts]
        tail_ids, tail_mask, _ = pad_batch(flat, pad, "right", device=self.device)
        with self.loaded() as model, torch.inference_mode():
            first = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1)
            cache = getattr(first, _cache_name(model))
            cache.batch_repeat_interleave(k)
            rest = model(input_ids=tail_ids, attention_mask=torch.cat([mask.repeat_interleave(k, 0), tail_mask], 1),
                         position_ids=pos[:, -1:].repeat_interleave(k, 0) + 1 + torch.arange(tail_ids.shape[1], device=self.device),
                         use_cache=False, **{_cache_name(model): cache}).logits
        lp_first = first.logits[:, -1].float().log_softmax(-1).repeat_interleave(k, 0)   # predicts each label's first token
        lp_rest = rest[:, :-1].float().log_softmax(-1)                                    # position j predicts token j + 1
        sums = [lp_first[r, t[0]].item() + sum(lp_rest[r, j - 1, t[j]].item() for j in range(1, len(t))) for r, t in enumerate(flat)]
        out += [sums[i * k:(i + 1) * k] for i in range(len(sums) // k)]
    return out

def legacy_score(self, conversations: list, labels: list) -> list[LabelScores]:
    "Log-probability of each label as the answer to each conversation, in input-order sub-batches of `batch_size`."
    split = [[self.format.split(self.format.prompt(c), l) for l in labels] for c in conversations]
    heads, tails = [s[0][0] for s in split], [[t for _, t in s] for s in split]
    one_pass = all(len({tuple(t[:-1]) for t in ts} | {tuple(tails[0][0][:-1])}) == 1 and len({t[-1] for t in ts}) == len(ts) for ts in tails)
    sums = (_score_one_pass if one_pass else _score_shared_head)(self, heads, tails)
    return [LabelScores(dict(zip(labels, s)), len(h)) for s, h in zip(sums, heads)]
