"""The private evaluation task set: arithmetic Q/A as local jsonl plus lm-eval YAML.

Why private and local: no dataset may come from a hub at run time, and a suite
the tiny factory models were trained on gives a real, large signal between a
well-trained and an under-trained variant (exact match 1.0 against ~0.1).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

SEED = 1234
N_ITEMS = 50
GEN_TASK = "airlock_arith_gen"
MC_TASK = "airlock_arith_mc"


@dataclass(frozen=True)
class Item:
    a: int
    b: int

    @property
    def question(self) -> str:
        return f"Question: What is {self.a} plus {self.b}?\nAnswer:"

    @property
    def answer(self) -> str:
        return str(self.a + self.b)


def items(n: int = N_ITEMS, seed: int = SEED) -> list[Item]:
    """Deterministic, distinct addition problems."""
    rng = random.Random(seed)
    seen: set[tuple[int, int]] = set()
    out: list[Item] = []
    while len(out) < n:
        a, b = rng.randint(10, 49), rng.randint(10, 49)
        if (a, b) not in seen:
            seen.add((a, b))
            out.append(Item(a, b))
    return out


def choices(item: Item, seed: int = SEED) -> tuple[list[str], int]:
    """Four answer choices (the right one among near misses) and the gold index."""
    rng = random.Random(seed * 31 + item.a * 97 + item.b)
    right = item.a + item.b
    wrong = rng.sample([d for d in range(-11, 12) if d != 0], 3)
    opts = [str(right + d) for d in wrong] + [str(right)]
    rng.shuffle(opts)
    return opts, opts.index(str(right))


_GEN_YAML = """\
task: {gen}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "{{{{question}}}}"
doc_to_target: "{{{{answer}}}}"
generation_kwargs:
  until: ["\\n"]
  max_gen_toks: 8
  do_sample: false
  temperature: 0.0
filter_list:
  - name: strip
    filter:
      - function: regex
        regex_pattern: "(-?[0-9]+)"
        group_select: 0
      - function: take_first
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
    ignore_case: true
    ignore_punctuation: true
metadata:
  version: 1.0
"""

_MC_YAML = """\
task: {mc}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{question}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: gold
target_delimiter: " "
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""


def write_task_dir(out: Path) -> Path:
    """Write the jsonl data and both task YAMLs into ``out``; return it.

    Pass ``out`` to lm-eval as ``include_path``.
    """
    out.mkdir(parents=True, exist_ok=True)
    data = out / "arith.jsonl"
    with data.open("w") as fh:
        for it in items():
            opts, gold = choices(it)
            fh.write(json.dumps({"question": it.question, "answer": it.answer, "choices": opts, "gold": gold}) + "\n")
    (out / f"{GEN_TASK}.yaml").write_text(_GEN_YAML.format(gen=GEN_TASK, data=data))
    (out / f"{MC_TASK}.yaml").write_text(_MC_YAML.format(mc=MC_TASK, data=data))
    return out


if __name__ == "__main__":  # python -m airlock_dev.factory.tasks <dir>
    import sys

    print(write_task_dir(Path(sys.argv[1]).resolve()))
