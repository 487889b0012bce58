"""Realistic SynthMemes: small synthetic memes with the *shape* of the real Hateful Memes task.

The clean memes (`mmlab.data.synthmemes`) follow one rule, "mean when picture and caption
disagree in mood", with no exceptions: a fusion model solves them perfectly, so every fusion
looks alike. The real benchmark (Kiela et al. 2020) is hard for several reasons at once, and
each is a knob here (`Knobs`; the defaults are justified in `datasets/synthmemes.md`):

- **Unimodal hate.** Some memes are mean from one modality alone: an insult in the caption
  ("you are such a clown"), or a hate-symbol stand-in in the picture (made-up emblems, see
  `mmlab.data.drawing.SYMBOLS`). A text-only model finds the insults, so it is above chance,
  but far from solved (text_share, image_share).
- **Interaction.** The other mean memes are sarcastic: a cheerful caption over a grim picture or
  the reverse. Only a model that combines the modalities can tell; an additive (late-fusion)
  model cannot. Benign memes (label 0) have picture and caption of the same mood.
- **Benign confounders** for a part of the sarcastic memes: the same caption under a picture of
  the other mood, or the same picture (icon and place) under a caption of the other mood, with
  the opposite label (confounders).
- **Imbalance.** Train holds 36 % mean memes, like the real train split; dev and test are
  balanced (train_mean).
- **Label noise.** A share of the labels of each class is flipped, as annotators disagree. With
  a flip rate e, even a perfect model gets accuracy and AUROC of about 1 - e (noise).
- **Meaning in more than one word.** By default a fifth of the captions are negated ("not a
  terrible day" is positive): a bag of words sees "terrible" (`NEGATION`, the `negation` setting).
- **A long tail.** 19 icons, 8 caption topics, many synonyms; the first ones are common and the
  later ones rare (Zipf weights 1 / rank^tail).
- **Unseen memes.** In the phase-2 splits dev_unseen and test_unseen, every caption with a
  topic sits on a picture it never meets in train, dev_seen or test_seen (the picture x topic
  combination is held out: holdout), and a share of all captions use a word that no training
  caption has (novel_words): a new synonym, or a new insult.

Every row records *why* it has its label, so that explanations and errors can be scored
against the truth: `reason` (text, image, interaction or benign), `label_clean` and `flipped`,
the caption's key words and their positions (`cue_words`, `cue_positions`: indices into
`text.split()`), the icon and its box in pixels (`image_concept`, `icon_box`), and the
confounder `group` and kind (`confounder`). Notebook 00 introduces them after the clean memes;
notebooks 01, 03, 04 and 06 train and explain on them; datasets/synthmemes.md describes them
and their calibration.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

from mmlab.data.drawing import ICONS, SYMBOLS, icon_box
from mmlab.errors import MmlabError


@dataclass(frozen=True)
class Knobs:
    """What makes the realistic memes hard: shares in [0, 1] and an exponent (tail).

    The defaults are calibrated and justified in datasets/synthmemes.md.
    """

    text_share: float = 0.35  # of the mean memes: mean from the caption alone (an insult)
    image_share: float = 0.12  # of the mean memes: mean from the picture alone (a symbol)
    confounders: float = 0.5  # of the sarcastic memes: in a benign-confounder pair
    train_mean: float = 0.36  # share of label 1 in train, after the noise (dev and test: 0.5)
    noise: float = 0.15  # share of the labels of each class that are flipped (below 0.5)
    holdout: float = 0.25  # of each icon group, per topic: kept for the unseen splits
    novel_words: float = 0.5  # of the unseen captions: the key word never occurs in training
    tail: float = 1.0  # Zipf exponent of icon, topic and word frequencies (0: uniform)

    def check(self) -> None:
        """Raise MmlabError for a value out of range."""
        for knob in fields(self):
            value = getattr(self, knob.name)
            high = 3.0 if knob.name == "tail" else 1.0
            if not 0.0 <= value <= high:
                raise MmlabError(f"knob {knob.name}={value} is out of range "
                                 f"(fix: choose 0 to {high:g})")
        if self.text_share + self.image_share > 1:
            raise MmlabError(f"text_share + image_share = {self.text_share + self.image_share:g} "
                             "is more than all mean memes (fix: make their sum at most 1)")
        if not self.noise <= self.train_mean <= 1 - self.noise or self.noise >= 0.5:
            raise MmlabError(f"train_mean={self.train_mean} cannot be reached with "
                             f"noise={self.noise} (fix: choose noise below 0.5 and train_mean "
                             "between noise and 1 - noise)")
        if not 0.0 < self.holdout < 1.0:
            raise MmlabError(f"knob holdout={self.holdout} leaves no seen or no unseen "
                             "combinations (fix: choose a share strictly between 0 and 1)")


class Topic(NamedTuple):
    """Caption words of both moods, and templates. The last word of a list is never in training."""

    words: tuple[tuple[str, ...], tuple[str, ...]]  # (positive, negative), most common first
    plain: tuple[str, ...]
    negated: tuple[str, ...]  # each holds one of NEGATORS; "not a {w} day" flips the word's mood


# Eight topics, each with its own words: a word tells its mood and topic wherever it appears.
TOPICS: dict[str, Topic] = {
    "day": Topic((("great", "lovely", "wonderful", "beautiful", "perfect", "splendid"),
                  ("terrible", "awful", "horrible", "miserable", "dreadful", "ghastly")),
                 ("what a {w} day", "{w} day today", "such a {w} day", "today was {w}"),
                 ("not a {w} day", "today was not {w}", "this is not a {w} day")),
    "love": Topic((("love", "adore", "enjoy", "like", "treasure", "cherish"),
                   ("hate", "detest", "dislike", "loathe", "resent", "despise")),
                  ("i {w} this", "i {w} it so much", "we all {w} this"),
                  ("i do not {w} this", "i never {w} this", "we do not {w} it")),
    "mood": Topic((("happy", "cheerful", "joyful", "glad", "excited", "elated"),
                   ("sad", "gloomy", "upset", "grumpy", "anxious", "glum")),
                  ("feeling {w}", "so {w} right now", "i am {w}"),
                  ("not feeling {w}", "i am not {w}", "not so {w} right now")),
    "news": Topic((("good", "fantastic", "amazing", "brilliant", "excellent", "superb"),
                   ("bad", "grim", "tragic", "shocking", "devastating", "dire")),
                  ("{w} news everyone", "this is {w} news", "what {w} news"),
                  ("this is not {w} news", "not {w} news at all", "no {w} news today")),
    "food": Topic((("tasty", "delicious", "yummy", "fresh", "sweet", "scrumptious"),
                   ("disgusting", "gross", "rotten", "stale", "bland", "rancid")),
                  ("this food is {w}", "{w} dinner tonight", "my lunch was {w}"),
                  ("this food is not {w}", "my lunch was not {w}", "no {w} food here")),
    "work": Topic((("fun", "easy", "exciting", "rewarding", "relaxed", "fulfilling"),
                   ("boring", "exhausting", "pointless", "stressful", "endless", "tedious")),
                  ("work was {w} today", "such a {w} job", "{w} meeting again"),
                  ("work was not {w} today", "not a {w} job", "never a {w} meeting")),
    "party": Topic((("awesome", "wild", "cool", "legendary", "lively", "festive"),
                    ("lame", "dull", "awkward", "dead", "empty", "dismal")),
                   ("that party was {w}", "{w} party last night", "the party is {w}"),
                   ("that party was not {w}", "not a {w} party", "the party is not {w}")),
    "trip": Topic((("relaxing", "sunny", "scenic", "restful", "smooth", "idyllic"),
                   ("rainy", "chaotic", "cramped", "hectic", "delayed", "dreary")),
                  ("our trip was {w}", "a {w} holiday", "{w} flight home"),
                  ("our trip was not {w}", "not a {w} holiday", "no {w} flight home")),
}
NEGATORS = ("not", "never", "no")
NEGATION = 0.2  # the realistic memes' default share of negated captions (the `negation` setting)
INSULT = "insult"  # the topic of the captions that are mean by themselves
INSULTS = ("loser", "clown", "idiot", "fool", "creep", "weirdo", "slob", "moron",
           "nitwit", "buffoon")
NOVEL_INSULTS = 2  # the last two insults are never in training
INSULT_TEMPLATES = ("look at this {w}", "you are such a {w}", "what a {w}", "nobody likes a {w}",
                    "only a {w} would say that", "typical {w}")
FILLERS_BEFORE = ("", "", "", "", "honestly", "well", "ok so", "lol", "tbh", "me when", "pov")
FILLERS_AFTER = ("", "", "", "", "lol", "again", "for real", "haha", "today", "smh", "ngl")

# Icons by mood, most common first; the symbols are mean whatever the caption says.
CHEERFUL = ("sun", "heart", "flower", "star", "cake", "balloon", "rainbow", "gift")
GRIM = ("storm", "bomb", "skull", "spider", "bin", "ghost", "rain", "broken_heart")
ICON_GROUPS = (CHEERFUL, GRIM, SYMBOLS)


def label_and_reason(image_concept: str, image_mood: int, text_concept: str,
                     text_mood: int) -> tuple[int, str]:
    """The realistic rule, (label, reason): mean (1) for an insult, a symbol, or opposite moods.

    Insults count as negative captions and symbols as grim pictures (their `*_mood` is 1).
    """
    if text_concept == INSULT:
        return 1, "text"
    if image_concept in SYMBOLS:
        return 1, "image"
    if image_mood != text_mood:
        return 1, "interaction"
    return 0, "benign"


def held_out_pairs(seed: int, holdout: float) -> frozenset[tuple[str, str]]:
    """The (icon, caption topic) combinations of the unseen splits, never in the seen ones.

    For every topic and every icon group (cheerful, grim, symbols), a share `holdout` of the
    group's icons (at least one, never all) is held out. The icons rotate from topic to topic,
    so each icon is held out with some topics and seen with the others.
    """
    rng = random.Random(f"synthmemes/memes-realistic/{seed}/holdout")
    topics = list(TOPICS)
    rng.shuffle(topics)
    pairs = set()
    for group in ICON_GROUPS:
        icons = rng.sample(group, len(group))  # a shuffled copy
        per_topic = min(len(icons) - 1, max(1, round(len(icons) * holdout)))
        for j, topic in enumerate(topics):
            pairs.update((icons[(j + i) % len(icons)], topic) for i in range(per_topic))
    return frozenset(pairs)


def _fill(template: str, word: str) -> str:
    """The template with its word; "a" becomes "an" before a vowel ("an awful day")."""
    return re.sub(r"\ba (?=[aeiou])", "an ", template.format(w=word))


def _zipf_choice(rng: random.Random, options: list[str], ranked: tuple[str, ...],
                 tail: float) -> str:
    """One of `options`, drawn with weight 1 / (rank in `ranked` + 1) ** tail: a long tail."""
    weights = [(ranked.index(option) + 1) ** -tail for option in options]
    return rng.choices(options, weights)[0]


class MemeMaker:
    """Draws the memes of one split: every picture x topic combination seen, or every one unseen."""

    def __init__(self, rng: random.Random, knobs: Knobs, negation: float, size: int,
                 held_out: frozenset[tuple[str, str]], unseen: bool) -> None:
        self.rng, self.knobs, self.negation, self.size = rng, knobs, negation, size
        self.held_out, self.unseen = held_out, unseen
        self.groups = 0  # how many `group` numbers were handed out

    def new_group(self) -> int:
        """A new `group` number: the two memes of a confounder pair share one."""
        self.groups += 1
        return self.groups - 1

    def allowed(self, icon: str, topic: str) -> bool:
        """Whether this split may combine `icon` with a caption about `topic`."""
        return ((icon, topic) in self.held_out) == self.unseen

    # --- the two halves of a meme -------------------------------------------------------------

    def _word(self, words: tuple[str, ...], novel_count: int) -> tuple[str, bool]:
        """A word of `words` and whether it is novel (one of the last `novel_count`)."""
        if self.unseen and self.rng.random() < self.knobs.novel_words:
            return self.rng.choice(words[-novel_count:]), True
        seen = words[:-novel_count]
        return _zipf_choice(self.rng, list(seen), seen, self.knobs.tail), False

    def _with_fillers(self, phrase: str) -> str:
        words = [self.rng.choice(FILLERS_BEFORE), phrase, self.rng.choice(FILLERS_AFTER)]
        return " ".join(w for w in words if w)

    def caption(self, topic: str, mood: int) -> dict[str, Any]:
        """A caption about `topic` of mood 0 (positive) or 1 (negative), possibly negated."""
        spec = TOPICS[topic]
        negated = self.rng.random() < self.negation
        word, novel = self._word(spec.words[1 - mood if negated else mood], novel_count=1)
        template = self.rng.choice(spec.negated if negated else spec.plain)
        cue = [next(w for w in template.split() if w in NEGATORS), word] if negated else [word]
        concept = f"{topic}/{('positive', 'negative')[mood]}"  # as the clean memes: "day/positive"
        text = self._with_fillers(_fill(template, word))
        return self._caption_fields(text, concept, mood, negated, cue, novel)

    def insult(self) -> dict[str, Any]:
        """A caption that is mean by itself ("you are such a clown")."""
        word, novel = self._word(INSULTS, NOVEL_INSULTS)
        text = self._with_fillers(_fill(self.rng.choice(INSULT_TEMPLATES), word))
        return self._caption_fields(text, INSULT, 1, False, [word], novel)

    @staticmethod
    def _caption_fields(text: str, concept: str, mood: int, negated: bool, cue: list[str],
                        novel: bool) -> dict[str, Any]:
        words = text.split()
        return {"text": text, "text_concept": concept, "text_mood": mood, "negated": negated,
                "cue_words": cue, "cue_positions": [words.index(w) for w in cue],
                "novel_word": novel}

    def picture(self, group: tuple[str, ...], topic: str) -> dict[str, Any]:
        """An icon of `group` that this split may show with a caption about `topic`, and its box."""
        options = [icon for icon in group if self.allowed(icon, topic)]
        icon = _zipf_choice(self.rng, options, group, self.knobs.tail)
        box = [round(v) for v in icon_box(self.rng, self.size)]
        return {"image_concept": icon, "image_mood": ICONS[icon][0], "icon_box": box}

    def topic(self, icon: str | None = None) -> str:
        """A caption topic (one this split may combine with `icon`, when given)."""
        topics = tuple(TOPICS)
        options = [t for t in topics if icon is None or self.allowed(icon, t)]
        return _zipf_choice(self.rng, options, topics, self.knobs.tail)

    # --- whole memes, by the reason for their label -------------------------------------------

    def _meme(self, caption: dict[str, Any], picture: dict[str, Any], confounder: str,
              group: int | None = None) -> dict[str, Any]:
        label, reason = label_and_reason(picture["image_concept"], picture["image_mood"],
                                         caption["text_concept"], caption["text_mood"])
        group = self.new_group() if group is None else group
        return {"text": caption["text"], "label_clean": label, "reason": reason, **caption,
                **picture, "confounder": confounder, "group": group}

    def mood_meme(self, sarcastic: bool) -> dict[str, Any]:
        """Sarcastic (moods disagree, mean) or benign (moods agree), not in a confounder pair."""
        topic, mood = self.topic(), self.rng.randint(0, 1)
        caption = self.caption(topic, mood)
        picture_group = ICON_GROUPS[1 - mood if sarcastic else mood]
        return self._meme(caption, self.picture(picture_group, topic), "none")

    def text_meme(self) -> dict[str, Any]:
        """Mean from the caption alone: an insult over a cheerful or grim picture.

        The picture is drawn as for a caption of a random topic, so that every icon is as
        common under insults as under other captions: otherwise an icon's frequency would
        tell a picture-only model something about the label.
        """
        group = ICON_GROUPS[self.rng.randint(0, 1)]
        return self._meme(self.insult(), self.picture(group, self.topic()), "none")

    def image_meme(self) -> dict[str, Any]:
        """Mean from the picture alone: a symbol under a caption of either mood."""
        topic = self.topic()
        caption = self.caption(topic, self.rng.randint(0, 1))
        return self._meme(caption, self.picture(SYMBOLS, topic), "none")

    def confounder_pair(self) -> list[dict[str, Any]]:
        """A benign meme and its sarcastic twin: one modality shared, the other's mood flipped."""
        group, mood = self.new_group(), self.rng.randint(0, 1)
        if self.rng.random() < 0.5:  # the same caption over pictures of both moods
            topic = self.topic()
            caption = self.caption(topic, mood)
            return [self._meme(caption, self.picture(ICON_GROUPS[m], topic), "same_text", group)
                    for m in (mood, 1 - mood)]
        # the same picture (icon and box) under captions of both moods
        picture = self.picture(ICON_GROUPS[mood], self.topic())
        return [self._meme(self.caption(self.topic(picture["image_concept"]), m), picture,
                           "same_image", group) for m in (mood, 1 - mood)]


def make_realistic_rows(n: int, seed: int, split: str, negation: float = NEGATION, size: int = 64,
                        knobs: Knobs | None = None) -> list[dict[str, Any]]:
    """The rows (no pictures yet) of one split of the realistic memes.

    The split's name sets its kind: "train" is imbalanced (a share `knobs.train_mean` of label 1),
    any other is balanced; names ending in "_unseen" hold only held-out picture x topic
    combinations. Labels are first made clean, then a share `knobs.noise` of each class is
    flipped; so that the noisy labels have the asked share s, the clean ones have
    (s - noise) / (1 - 2 noise).
    """
    knobs = knobs or Knobs()
    rng = random.Random(f"synthmemes/memes-realistic/{seed}/{split}")
    maker = MemeMaker(rng, knobs, negation, size, held_out_pairs(seed, knobs.holdout),
                      unseen=split.endswith("_unseen"))
    share = knobs.train_mean if split == "train" else 0.5
    n_mean = round(n * (share - knobs.noise) / (1 - 2 * knobs.noise))
    n_text, n_image = round(n_mean * knobs.text_share), round(n_mean * knobs.image_share)
    n_sarcastic, n_benign = n_mean - n_text - n_image, n - n_mean
    n_pairs = min(round(n_sarcastic * knobs.confounders), n_benign)
    rows = [row for _ in range(n_pairs) for row in maker.confounder_pair()]
    rows += [maker.mood_meme(sarcastic=True) for _ in range(n_sarcastic - n_pairs)]
    rows += [maker.mood_meme(sarcastic=False) for _ in range(n_benign - n_pairs)]
    rows += [maker.text_meme() for _ in range(n_text)]
    rows += [maker.image_meme() for _ in range(n_image)]
    rng.shuffle(rows)
    _flip_labels(rows, knobs.noise, rng)
    return rows


def _flip_labels(rows: list[dict[str, Any]], noise: float, rng: random.Random) -> None:
    """Set `label`: `label_clean`, flipped for a share `noise` of each class (drawn at random)."""
    flipped = set()
    for label in (0, 1):
        members = [i for i, row in enumerate(rows) if row["label_clean"] == label]
        flipped.update(rng.sample(members, round(noise * len(members))))
    for i, row in enumerate(rows):
        row["flipped"] = i in flipped
        row["label"] = row["label_clean"] ^ row["flipped"]
