"""What every language's realiser shares: cheap random choices, list joining, the shade actually said."""

from __future__ import annotations

import numpy as np

_RAW_RANGE = 1 << 64  # values one raw draw of a numpy bit generator can take


class Choices:
    """Small random choices (which synonym, which order) cut from 64-bit raw draws of one generator.

    One raw draw feeds many choices, so a text costs about one generator call instead of one per
    choice. With `rng=None` every choice is the first option: the canonical text, which tests pin.
    """

    __slots__ = ("_rng", "_bits", "_room")

    def __init__(self, rng: np.random.Generator | None) -> None:
        self._rng = rng
        self._bits = 0
        self._room = 1  # how many distinct values the unused bits still hold

    def index(self, count: int) -> int:
        """A number in [0, count), uniform up to a bias below count / 2**64."""
        if self._rng is None:
            return 0
        if self._room < count:
            self._bits = int(self._rng.bit_generator.random_raw())
            self._room = _RAW_RANGE
        value = self._bits % count
        self._bits //= count
        self._room //= count
        return value

    def pick(self, options: tuple):
        return options[self.index(len(options))]

    def chance(self, probability: float) -> bool:
        """True with `probability` (in steps of 1/1000); never True when choices are pinned."""
        return self._rng is not None and self.index(1000) < probability * 1000


def join_list(items: list[str], conjunction: str, separator: str = ", ") -> str:
    """"a, b and c": all but the last joined by `separator`, the last by `conjunction` (spaces included)."""
    if len(items) == 1:
        return items[0]
    return separator.join(items[:-1]) + conjunction + items[-1]


def coordinated(clauses: list[str], conjunction: str, end: str, separator: str = ", ") -> str:
    """One sentence of `clauses`: "A is here, B there, and C below." (first letter up, `end` mark after)."""
    return capitalise(join_list(clauses, conjunction, separator)) + end


def conjoined(clause: str, joined: bool, same_subject: bool, conjunction: str) -> str:
    """`clause` as it goes on a sentence in French or Spanish: " y …" after the same subject, ", y …" before
    a new one (a comma keeps a clause that starts with a place from reading as a list of places)."""
    if not joined:
        return clause
    return (f" {conjunction} " if same_subject else f", {conjunction} ") + clause


def conjoined_sentence(clauses: list[str], conjunction: str, semicolon: str) -> str:
    """One written sentence of `conjoined` clauses: "A y B", "A, y B"; three or more go "A; B; y C", the
    semicolons keeping clauses that start with a place apart from lists of places ("arriba y abajo").
    `semicolon`: ";", or French " ;" with its space before."""
    if len(clauses) > 2:
        bare = [clause.removeprefix(",").removeprefix(f" {conjunction} ") for clause in clauses]
        return coordinated(bare, f"{semicolon} {conjunction} ", ".", separator=f"{semicolon} ")
    return capitalise("".join(clauses)) + "."


def capitalise(text: str) -> str:
    """Upper-case the first letter only (German nouns and proper forms inside stay as they are)."""
    return text[:1].upper() + text[1:]


def said_shade(colour: str, shade: str, plain_blue: bool) -> str:
    """The shade a text names: "plain" for blue where the plan says plain "blue" (all but Russian obey)."""
    return "plain" if plain_blue and colour == "blue" else shade
