"""culturellm's scoring for lm-evaluation-harness, written next to the task YAMLs by `culturellm tasks export --format lm-eval`.

The model's answer is the choice (verbalizer) with the highest log-likelihood: the sum over its tokens, with no length
normalisation, as culturellm's label scoring. A task's score is macro-F1 over all of its labels: a label that is
neither gold nor predicted in the sample counts 0, as sklearn's `f1_score(labels=...)` counts it in culturellm.
"""
from sklearn.metrics import f1_score


def process_results(doc, results):
    "Per example: the most likely choice against the gold one (ties go to the first choice, as in culturellm)."
    scores = [loglikelihood for loglikelihood, _ in results]
    pred = max(range(len(scores)), key=scores.__getitem__)
    return {"f1_macro": (doc["gold_index"], pred, len(scores)), "acc": float(pred == doc["gold_index"])}


def f1_macro(items):
    "Macro-F1 over every label of the task, from (gold, predicted, number of labels) triples."
    golds, preds, sizes = zip(*items)
    return float(f1_score(golds, preds, labels=list(range(max(sizes))), average="macro", zero_division=0))
