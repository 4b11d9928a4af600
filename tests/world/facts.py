"""What a parse-back of a realised text recovers, and the check of it against the scene (test_facts.py).

Every language has a parser `parse(text: str) -> Facts`, written from the language's grammar, not from the
realiser's tables (it reads the words as a reader would). The parsers live in
    tests/world/facts_en_de.py   PARSERS = {"en": parse_english, "de": parse_german}
    tests/world/facts_fr_es.py   PARSERS = {"fr": …, "es": …}
    tests/world/facts_ru_zh.py   PARSERS = {"ru": …, "zh": …}
A parser raises AssertionError naming the sentence it cannot read (an unknown word order is a finding).
It resolves pronouns (and zero subjects) to their antecedent, the previous sentence's subject.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from florenz.world.scene import Group, Scene, SceneObject

# "next to" holds for neighbouring objects whose centres are this close (fraction of the image side)
NEXT_TO_DISTANCE = 0.45


@dataclass(frozen=True)
class Phrase:
    """One noun phrase as the text says it; None: the text does not say it."""

    shapes: frozenset[str]  # the scene shapes the noun can name (English "bow": bow_ribbon and bow_weapon)
    count: int | None = None  # "two stars", "both stars", "the three stars"; None for "the star(s)" unsaid
    colour: str | None = None  # one of scene.COLOURS
    shade: str | None = None  # "light", "plain", "dark"; None where unsaid or untold (English plain "blue")
    size: str | None = None  # "small" or "big"
    new: bool = False  # said as new to the reader: a/an, ein, un/une, un/una, 一个, Russian new-subject-last


@dataclass
class Facts:
    """Everything one text states, phrases in the order the text says them."""

    overview: list[Phrase] = field(default_factory=list)  # the opening's noun phrases (none: no overview)
    phrases: list[Phrase] = field(default_factory=list)  # every later noun phrase, pronouns resolved
    relations: list[tuple[Phrase, str, Phrase]] = field(default_factory=list)  # subject, relation, object
    positions: list[tuple[Phrase, frozenset[str]]] = field(default_factory=list)  # group, its plan.POSITIONS
    totals: list[int] = field(default_factory=list)  # "five objects in total"
    backgrounds: list[str] = field(default_factory=list)  # one of scene.BACKGROUNDS


def matches(phrase: Phrase, group: Group) -> bool:
    obj = group.prototype
    return obj.shape in phrase.shapes and all(said is None or said == actual for said, actual in (
        (phrase.count, group.count), (phrase.colour, obj.colour), (phrase.shade, obj.shade),
        (phrase.size, obj.size)))


def holds(subject: SceneObject, relation: str, obj: SceneObject) -> bool:
    """Is `subject` <relation> `obj` on the image (y grows downwards), by the centres alone?"""
    dx, dy = obj.x - subject.x, obj.y - subject.y
    horizontal = abs(dx) >= abs(dy)
    if relation == "next_to":
        return horizontal and (dx * dx + dy * dy) ** 0.5 < NEXT_TO_DISTANCE
    return {"left_of": horizontal and dx > 0, "right_of": horizontal and dx < 0,
            "above": not horizontal and dy > 0, "below": not horizontal and dy < 0}[relation]


def grid_cell(obj: SceneObject) -> str:
    """The 3x3 cell of a centre, written out independently of the planner."""
    row = "top" if obj.y < 1 / 3 else "middle" if obj.y < 2 / 3 else "bottom"
    column = "left" if obj.x < 1 / 3 else "middle" if obj.x < 2 / 3 else "right"
    return {("middle", "middle"): "centre", ("top", "middle"): "top", ("bottom", "middle"): "bottom",
            ("middle", "left"): "left", ("middle", "right"): "right"}.get((row, column), f"{row}_{column}")


def introduced_once(phrases: list[Phrase], groups: tuple[Group, ...]) -> bool:
    """Can each phrase stand for its own group, every group named by exactly one phrase?"""
    if len(phrases) != len(groups):
        return False

    def assign(index: int, free: frozenset[int]) -> bool:
        if index == len(phrases):
            return True
        return any(assign(index + 1, free - {g}) for g in free if matches(phrases[index], groups[g]))

    return assign(0, frozenset(range(len(groups))))


def check(facts: Facts, scene: Scene) -> list[str]:
    """The stated facts that are false of `scene` (empty: the text is faithful)."""
    groups = scene.groups()
    problems = []
    introductions = facts.overview or [p for p in facts.phrases if p.new]
    if not introduced_once(introductions, groups):
        problems.append(f"introductions {introductions} are not the scene's groups one by one")
    for phrase in facts.phrases:
        if not any(matches(phrase, group) for group in groups):
            problems.append(f"{phrase} names no group")
    for subject, relation, obj in facts.relations:
        if not any(matches(subject, a) and matches(obj, b) and a != b and all(
                holds(scene.objects[i], relation, scene.objects[j]) for i in a.indices for j in b.indices)
                for a in groups for b in groups):
            problems.append(f"{subject} {relation} {obj} is false")
    for phrase, cells in facts.positions:
        if not any(matches(phrase, g) and {grid_cell(scene.objects[i]) for i in g.indices} == cells
                   for g in groups):
            problems.append(f"{phrase} is not at {sorted(cells)}")
    problems += [f"total {total} is not {len(scene.objects)}" for total in facts.totals
                 if total != len(scene.objects)]
    problems += [f"background {said} is not {scene.background}" for said in facts.backgrounds
                 if said != scene.background]
    return problems
