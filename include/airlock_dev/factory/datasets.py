"""Small datasets in the upstream schemas, under the upstream repo ids, for standard lm-eval tasks.

Why: lm-eval's standard tasks (``arc_easy``, ``hellaswag``, ``gsm8k_cot_llama``) name their
datasets by hub repo id. No dataset may come from the public hub here, so the tests and the demo
publish stand-ins with the same repo ids, configs, splits and columns to the hub mirror (olah),
and lm-eval runs the tasks unmodified. The items are generated from templates (seeded): easy for
a real instruct model, hard for a damaged one. They are *not* the real benchmarks;
``docs/datasets.md`` says how a site mirrors those.

Each dataset is a git repo of parquet files with a README whose ``configs:`` block maps configs
and splits to files, as datasets 5 requires (it refuses loading scripts).
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airlock_dev.factory.upstream import commit_tree

Rows = list[dict[str, Any]]

CATEGORIES: dict[str, list[str]] = {
    "an animal": ["dog", "horse", "rabbit", "lion", "cow", "sheep", "tiger", "elephant"],
    "a fruit": ["apple", "banana", "orange", "pear", "grape", "mango", "cherry", "peach"],
    "a color": ["red", "blue", "green", "yellow", "purple", "orange", "pink", "brown"],
    "a metal": ["iron", "copper", "gold", "silver", "aluminum", "zinc", "tin", "lead"],
    "a planet": ["Mars", "Venus", "Jupiter", "Saturn", "Mercury", "Neptune", "Uranus", "Earth"],
    "a musical instrument": ["piano", "guitar", "violin", "drum", "flute", "trumpet", "cello", "harp"],
    "a vehicle": ["car", "bus", "truck", "bicycle", "train", "airplane", "boat", "motorcycle"],
    "a part of the body": ["arm", "leg", "hand", "foot", "head", "knee", "elbow", "shoulder"],
    "a season": ["spring", "summer", "autumn", "winter"],
    "a day of the week": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "a kitchen tool": ["spoon", "fork", "knife", "pan", "kettle", "ladle", "whisk", "spatula"],
}

# (activity, context, the sensible ending): hellaswag-style completions
SCENES: list[tuple[str, str, str]] = [
    ("Cooking", "A man cracks two eggs into a bowl. He", "whisks them with a fork until they are smooth."),
    ("Gardening", "A woman digs a small hole in the soil. She", "places a seedling in it and pats the earth down."),
    ("Washing dishes", "A boy fills the sink with warm soapy water. He", "scrubs the plates with a sponge."),
    ("Brushing teeth", "A girl squeezes toothpaste onto her brush. She", "brushes her teeth in front of the mirror."),
    ("Riding a bike", "A man puts on his helmet and climbs onto his bike. He", "pedals down the street."),
    ("Painting", "A woman dips a brush into blue paint. She", "paints long strokes across the canvas."),
    ("Swimming", "A swimmer stands at the edge of the pool. She", "dives into the water and swims a lap."),
    ("Baking", "A baker pours the batter into a cake tin. He", "puts the tin into the hot oven."),
    ("Reading", "A student opens a thick book at her desk. She", "reads the first chapter carefully."),
    ("Ironing", "A man lays a wrinkled shirt on the ironing board. He", "presses the iron over the sleeves."),
    ("Walking a dog", "A woman clips a leash to her dog's collar. She", "walks the dog around the park."),
    ("Making tea", "A man pours boiling water into a cup. He", "drops a tea bag into the cup."),
    ("Playing guitar", "A musician sits down with his guitar. He", "strums a few chords and starts to sing."),
    ("Shoveling snow", "A man steps outside into deep snow. He", "clears the driveway with a shovel."),
    ("Fishing", "A fisherman baits his hook on the pier. He", "casts the line far into the lake."),
    ("Wrapping a gift", "A girl sets a box on colorful paper. She", "folds the paper around the box and tapes it."),
    ("Changing a tire", "A man loosens the nuts on a flat tire. He", "jacks up the car and pulls the wheel off."),
    ("Mopping", "A janitor fills a bucket with water. He", "mops the hallway floor."),
    ("Knitting", "An old woman picks up two needles and yarn. She", "knits another row of the scarf."),
    ("Skiing", "A skier stands at the top of the slope. She", "pushes off and glides down the hill."),
    ("Haircut", "A barber drapes a cape over his client. He", "trims the client's hair with scissors."),
    ("Cleaning windows", "A woman sprays cleaner on the window. She", "wipes the glass with a cloth."),
    ("Making a sandwich", "A boy lays two slices of bread on a plate. He", "spreads peanut butter on one slice."),
    ("Tying shoes", "A child sits down and puts on his sneakers. He", "ties the laces into a bow."),
    ("Planting a tree", "Two men carry a young tree to a hole. They", "lower it in and fill the hole with soil."),
    ("Vacuuming", "A woman plugs in the vacuum cleaner. She", "vacuums the rug in the living room."),
    ("Doing laundry", "A man loads dirty clothes into the washer. He", "adds detergent and starts the machine."),
    ("Playing tennis", "A player tosses the ball above her head. She", "serves it over the net."),
    ("Lighting a campfire", "A camper stacks dry sticks in a pit. He", "lights a match and sets the kindling alight."),
    ("Feeding a cat", "A woman opens a can of cat food. She", "spoons the food into the cat's bowl."),
    ("Jogging", "A runner ties his shoes at the start of the trail. He", "jogs along the path at a steady pace."),
    ("Writing a letter", "A girl takes out a pen and a sheet of paper. She", "writes a letter to her grandmother."),
    ("Washing a car", "A man fills a bucket with soapy water next to his car. He", "washes the car with a sponge."),
    ("Making a bed", "A woman pulls a clean sheet over the mattress. She", "tucks the corners in and adds pillows."),
    ("Climbing", "A climber chalks her hands at the base of the wall. She", "grabs the first hold and climbs up."),
    ("Grilling", "A man lays burgers on the hot grill. He", "flips them over with a spatula."),
    ("Sewing", "A tailor threads a needle. He", "stitches the torn seam of the jacket."),
    ("Bowling", "A bowler picks up a heavy ball. She", "rolls it down the lane toward the pins."),
    ("Shaving", "A man spreads shaving cream on his face. He", "shaves carefully with a razor."),
    ("Kayaking", "A woman sits in a kayak on the calm lake. She", "paddles across the water."),
]

NAMES = ["Tom", "Anna", "Ben", "Lucy", "Sam", "Mia", "Leo", "Emma", "Max", "Zoe", "Jack", "Lily"]
THINGS = ["apples", "books", "pencils", "stickers", "marbles", "cookies", "cards", "shells", "coins", "toys"]


def arc_rows(n: int, seed: int) -> Rows:
    """allenai/ai2_arc (ARC-Easy): id, question, choices {text, label}, answerKey."""
    rng = random.Random(seed)
    cats = list(CATEGORIES)
    rows: Rows = []
    while len(rows) < n:
        cat = rng.choice(cats)
        right = rng.choice(CATEGORIES[cat])
        wrong: list[str] = []
        while len(wrong) < 3:
            other = rng.choice([c for c in cats if c != cat])
            w = rng.choice(CATEGORIES[other])
            if w not in wrong and w not in CATEGORIES[cat]:
                wrong.append(w)
        opts = [right, *wrong]
        rng.shuffle(opts)
        labels = ["A", "B", "C", "D"]
        rows.append(
            {
                "id": f"Airlock_{seed}_{len(rows)}",
                "question": f"Which of these is {cat}?",
                "choices": {"text": opts, "label": labels},
                "answerKey": labels[opts.index(right)],
            }
        )
    return rows


def hellaswag_rows(n: int, seed: int, split: str) -> Rows:
    """Rowan/hellaswag: ind, activity_label, ctx_a, ctx_b, ctx, endings, source_id, split, split_type, label."""
    rng = random.Random(seed)
    rows: Rows = []
    while len(rows) < n:
        i = len(rows) % len(SCENES)
        activity, ctx, right = SCENES[i]
        ctx_a, _, ctx_b = ctx.rpartition(". ")
        wrong = rng.sample([s[2] for j, s in enumerate(SCENES) if j != i], 3)
        endings = [right, *wrong]
        rng.shuffle(endings)
        rows.append(
            {
                "ind": seed * 100_000 + len(rows),
                "activity_label": activity,
                "ctx_a": ctx_a + ".",
                "ctx_b": ctx_b.lower(),
                "ctx": ctx,
                "endings": endings,
                "source_id": f"airlock~{seed}~{len(rows)}",
                "split": split,
                "split_type": "indomain",
                "label": str(endings.index(right)),
            }
        )
    return rows


def gsm8k_rows(n: int, seed: int) -> Rows:
    """openai/gsm8k (main): question, answer (worked solution ending in '#### <number>')."""
    rng = random.Random(seed)
    rows: Rows = []
    while len(rows) < n:
        name, thing = rng.choice(NAMES), rng.choice(THINGS)
        a, b = rng.randint(2, 30), rng.randint(2, 20)
        if rng.random() < 0.5:
            q = f"{name} has {a} {thing}. A friend gives {name} {b} more {thing}. "
            q += f"How many {thing} does {name} have now?"
            r, work = a + b, f"{name} has {a} + {b} = <<{a}+{b}={a + b}>>{a + b} {thing}."
        else:
            a += b
            q = f"{name} has {a} {thing} and gives away {b} of them. How many {thing} does {name} have left?"
            r, work = a - b, f"{name} has {a} - {b} = <<{a}-{b}={a - b}>>{a - b} {thing} left."
        rows.append({"question": q, "answer": f"{work}\n#### {r}"})
    return rows


def _card(repo_id: str, configs: dict[str | None, dict[str, str]]) -> str:
    lines = ["---", "configs:"]
    for name, splits in configs.items():
        lines.append(f"- config_name: {name or 'default'}")
        lines.append("  data_files:")
        for split, path in splits.items():
            lines += [f"  - split: {split}", f"    path: {path}"]
    lines += [
        "---",
        f"# {repo_id} (Airlock stand-in)",
        "",
        "Generated from templates in the upstream schema, for offline tests. Not the real dataset.",
        "",
    ]
    return "\n".join(lines)


# repo id -> {config (None: default) -> {split -> rows builder}}
DATASETS: dict[str, dict[str | None, dict[str, Callable[[int], Rows]]]] = {
    "allenai/ai2_arc": {
        "ARC-Easy": {
            "train": lambda n: arc_rows(n, 1),
            "validation": lambda n: arc_rows(n, 2),
            "test": lambda n: arc_rows(n, 3),
        }
    },
    "Rowan/hellaswag": {
        None: {
            "train": lambda n: hellaswag_rows(n, 1, "train"),
            "validation": lambda n: hellaswag_rows(n, 2, "val"),
            "test": lambda n: hellaswag_rows(n, 3, "test"),
        }
    },
    "openai/gsm8k": {"main": {"train": lambda n: gsm8k_rows(n, 1), "test": lambda n: gsm8k_rows(n, 3)}},
}


def write_dataset(repo_id: str, dest: Path, n: int) -> None:
    """Write ``repo_id``'s stand-in (``n`` rows per evaluation split, fewer for training) to ``dest``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    configs: dict[str | None, dict[str, str]] = {}
    for config, splits in DATASETS[repo_id].items():
        folder = config or "data"
        (dest / folder).mkdir()
        for split, build in splits.items():
            rel = f"{folder}/{split}-00000-of-00001.parquet"
            pq.write_table(pa.Table.from_pylist(build(n if split != "train" else 16)), dest / rel)
            configs.setdefault(config, {})[split] = rel
    (dest / "README.md").write_text(_card(repo_id, configs))


def publish_datasets(mirrors_root: Path, n: int = 60) -> dict[str, str]:
    """Publish every stand-in to the olah mirror root; returns repo id -> commit sha."""
    out = {}
    for repo_id in DATASETS:
        repo = mirrors_root / "datasets" / repo_id
        staging = repo.with_name(repo.name + ".build")
        write_dataset(repo_id, staging, n)
        out[repo_id] = commit_tree(staging, repo, f"publish {repo_id} stand-in ({n} rows per split)")
        shutil.rmtree(staging)
    return out
