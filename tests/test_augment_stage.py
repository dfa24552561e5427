"""Augmentation end to end: the CLI on the embedded model, bad augmenter answers over real HTTP, and kill/resume."""
import json, os, shutil, signal, subprocess, time
from pathlib import Path
import pytest
from culturellm.llm import Completion
from culturellm.serve import StandInServer
from conftest import CLI, run_cli

TINY = "augment: {{modes: [{modes}], seeds: {seeds}, n: 2, m: 4, max_calls: 2, max_tokens: 80, synonym_tokens: 32, synonym_words: {words}, rounds: 4, chunk: 2}}\n"


def add_profile(home, name, roles, words=1, **augment):
    text = "roles:\n" + "".join(f"  {r}: {s}\n" for r, s in roles.items()) + TINY.format(words=words, **augment)
    (home/f"data/profiles/{name}.yaml").write_text(text)


EMBEDDED = {"augmenter": "{backend: hf, model: smollm2-135m-instruct}", "embedder": "{backend: minilm, model: all-minilm-l6-v2}"}


def read(path):
    return [json.loads(l) for l in Path(path).read_text().splitlines() if l.strip()] if Path(path).exists() else []


def test_cli_runs_then_skips(home, monkeypatch):
    add_profile(home, "tiny", EMBEDDED, modes="improved, sentence_only", seeds=2)
    monkeypatch.setenv("CULTURELLM_TIMINGS", str(home/"first.jsonl"))      # each run's timed blocks (core.timed)
    first = run_cli("augment", "--profile", "tiny")
    assert first.returncode == 0, first.stderr
    assert {"loading", "generation", "embedding"} <= {r["part"] for r in read(home/"first.jsonl")}
    for mode in ("improved", "sentence_only"):
        manifest = json.loads((home/f"data/generated/tiny/augment/{mode}/manifest.json").read_text())
        assert manifest["seeds"] == 2 and manifest["kept"] == len(read(home/f"data/generated/tiny/augment/{mode}/samples.jsonl"))
        assert manifest["generated"] == manifest["kept"] + sum(manifest["rejected"].values())
    monkeypatch.setenv("CULTURELLM_TIMINGS", str(home/"again.jsonl"))
    again = run_cli("augment", "--profile", "tiny")
    assert again.returncode == 0, again.stderr
    work = [(r["part"], r["model"]) for r in read(home/"again.jsonl")]
    assert work == [("loading", "minilm")], work     # finished work is skipped: the augmenter is never loaded, nothing is generated or embedded (the embedder is loaded with the run's settings)


class ScriptedAugmenter:
    "An augmenter that misbehaves on purpose: no list, empty items, the seed repeated, another language, one good line."
    model_id = "scripted"
    def chat(self, conversations, max_tokens=64, temperature=0.0, seeds=None):
        prompt = conversations[0][-1]["content"]
        if prompt.startswith("Could you generate"):
            seed = prompt.split("following sentence: ", 1)[1].rsplit(". Please number", 1)[0]
            if "parents proud" in seed: text = "I am sorry, I cannot help with that."                       # no usable list
            else: text = f"Here you go:\n1. {seed}\n2. \n3. Wenn eine Mutter arbeitet, leiden die Kinder sehr\n4. Kids suffer when their mother works for pay\n5. Kinder: 子供が苦しむ"
        elif '"mother"' in prompt: text = "Sure!\n1. mom\n2. parent\n3. Mother"                            # the synonyms of one word
        else: text = "Synonyms are words with the same meaning."                                              # no list: no synonyms
        return [Completion(text, "stop", 10, 10)]
    def top_logprobs(self, conversation, k=20): return []


def test_bad_augmenter_answers_are_counted_never_emitted(home):
    with StandInServer(ScriptedAugmenter()) as server:
        add_profile(home, "bad", {"augmenter": f'{{backend: openai, model: scripted, base_url: "{server.url}"}}',
                                  "embedder": EMBEDDED["embedder"]}, modes="improved", seeds=2,
                    words=3)                                              # the paraphrase's three nouns get synonyms, "mother" among them
        out = run_cli("augment", "--profile", "bad")
    assert out.returncode == 0, out.stderr
    folder = home/"data/generated/bad/augment/improved"
    kept, rejected = read(folder/"samples.jsonl"), read(folder/"rejected.jsonl")
    reasons = {r["reason"] for r in rejected}
    assert {"no_usable_list", "seed_repeat", "empty", "non_english"} <= reasons
    assert all(r["q_id"] == 28 for r in kept) and kept                      # only the second seed had a usable answer
    assert {r["text"] for r in kept if r["step"] == 2} <= {"Kids suffer when their mom works for pay", "Kids suffer when their parent works for pay"}
    assert any(r["step"] == 2 for r in kept)                                # step 2 read the numbered synonyms of "mother"
    assert not any(("Wenn" in r["text"]) or ("子供" in r["text"]) or not r["text"].strip() for r in kept)
    manifest = json.loads((folder/"manifest.json").read_text())
    assert manifest["fallback_seeds"] == 1 and manifest["rejected"]["no_usable_list"] == 2   # two rounds, both refused a list
