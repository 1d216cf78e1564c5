"""Writes sentences-10k.txt beside this file: 10,000 English sentences, the same bytes on every machine.

    python sample_inputs/make_sentences.py            # sample_inputs/sentences-10k.txt
    python sample_inputs/make_sentences.py -n 500 -o /tmp/500.txt
    python sample_inputs/make_sentences.py --long     # sample_inputs/long.txt: two lines of 60 and 120
                                                      # sentences (1,069 and 1,921 WordPiece tokens)

Sentences are drawn from small word lists with Python's random.Random(seed), whose sequence is fixed
across platforms and versions for randint/choice on these inputs. Lengths run from 3 to 40 words
(mostly 8 to 20, like ordinary prose), with commas, questions, numbers and names mixed in, so that
batches meet very different lengths.
"""

import argparse
import random
from pathlib import Path

SUBJECTS = ["the cat", "my neighbour", "a student", "the old man", "our team", "the committee", "she", "he",
            "they", "the children", "a small dog", "the engineer", "my deskmate", "the river", "this company",
            "the new manager", "a stranger", "the teacher", "everyone", "the city council", "Maria", "Chen Wei",
            "the pilot", "the farmer", "a young doctor", "the orchestra", "the robot", "the museum", "my sister"]
VERBS = ["found", "built", "painted", "forgot", "wanted", "carried", "explained", "visited", "bought", "sold",
         "described", "opened", "closed", "watched", "followed", "repaired", "ignored", "loved", "measured",
         "borrowed", "cooked", "wrote", "read", "studied", "cleaned", "planted", "moved", "discovered", "shared"]
OBJECTS = ["a red bicycle", "the report", "an old map", "the garden", "three apples", "a quiet room",
           "the broken window", "his homework", "a long letter", "the station", "some fresh bread",
           "the mountain trail", "a wooden chair", "the final exam", "a blue umbrella", "the budget",
           "an interesting idea", "the kitchen", "a tiny bird", "the contract", "two tickets", "the lighthouse",
           "a new recipe", "the database", "the photographs", "a warm coat", "the evidence", "the piano"]
PLACES = ["in the morning", "at the market", "near the school", "after dinner", "during the storm",
          "before the meeting", "on Tuesday", "in Paris", "at his house", "under the bridge", "by the lake",
          "in 1999", "at 7 a.m.", "last summer", "without a word", "with great care", "for the third time",
          "in the library", "across the street", "at the airport", "behind the theatre", "in the rain"]
ADVERBS = ["quickly", "slowly", "carefully", "suddenly", "quietly", "happily", "reluctantly", "finally",
           "almost", "never", "always", "often", "barely", "proudly"]
JOINERS = [", and then", ", but", " because", " while", ", so", " although", " after", " before"]


def clause(rng: random.Random) -> str:
    words = [rng.choice(SUBJECTS)]
    if rng.random() < 0.3:
        words.append(rng.choice(ADVERBS))
    words += [rng.choice(VERBS), rng.choice(OBJECTS)]
    for _ in range(rng.choice([0, 0, 1, 1, 2])):
        words.append(rng.choice(PLACES))
    return " ".join(words)


def sentence(rng: random.Random) -> str:
    n = rng.choice([1, 1, 1, 2, 2, 3, 4])  # clauses: short and long sentences mixed
    if rng.random() < 0.08:
        return rng.choice(["Yes.", "No way!", "Why not?", "Thanks a lot.", "See you at 5.", "Really?"])
    text = clause(rng)
    for _ in range(n - 1):
        text += rng.choice(JOINERS) + " " + clause(rng)
    text = text[0].upper() + text[1:]
    return text + rng.choice([".", ".", ".", "!", "?"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=10_000, help="number of sentences")
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("-o", "--output", type=Path)
    ap.add_argument("--long", action="store_true", help="write long.txt: texts longer than 512 tokens")
    args = ap.parse_args()
    if args.long:
        rng = random.Random(512)
        lines = [" ".join(sentence(rng) for _ in range(n)) for n in (60, 120)]
    else:
        rng = random.Random(args.seed)
        lines = [sentence(rng) for _ in range(args.n)]
    out = args.output or Path(__file__).with_name("long.txt" if args.long else "sentences-10k.txt")
    out.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


if __name__ == "__main__":
    main()
