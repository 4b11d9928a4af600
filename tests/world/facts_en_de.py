"""Parse-back of English and German texts (test_facts.py): what a reader learns from them.

The word lists are written here from each language's grammar, not taken from the realisers. A sentence is
split into its clauses at "; " and ", and" / ", und" (lists inside a clause use only "," and "and"/"und");
each clause is an overview, a relation (two noun phrases and a relation phrase), a position (one noun
phrase and places), a count or a background, or the parser fails naming it. Which noun phrase is the
subject follows the word order: the anchor of "to the left of"/"links von" is the phrase after it, and in
"The circle has the star to its left" the owner is the anchor. English "bow", "bat", "key" and "nut" stand
for both senses, and plain English "blue" for either shade.
"""

from __future__ import annotations

import re
from dataclasses import replace

from tests.world.facts import Facts, Phrase

_ENGLISH_NOUNS = {
    "circle": {"circle"}, "square": {"square"}, "rectangle": {"rectangle"}, "triangle": {"triangle"},
    "star": {"star"}, "heart": {"heart"}, "diamond": {"diamond"}, "bow": {"bow_ribbon", "bow_weapon"},
    "bat": {"bat_animal", "bat_club"}, "key": {"key_door", "key_keyboard"},
    "nut": {"nut_food", "nut_hardware"},
}
_COLOURS = ("red", "green", "blue", "yellow", "purple", "orange", "grey")
_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}
_ENGLISH_SIZES = {"small": "small", "little": "small", "big": "big", "large": "big"}
_ENGLISH_NOUN_PHRASE = re.compile(
    r"\b(?:(?P<det>an?|the|both) )?(?:(?P<number>" + "|".join(_NUMBERS) + r") )?"
    r"(?:(?P<size>" + "|".join(_ENGLISH_SIZES) + r") )?(?:(?P<shade>light|dark)-)?"
    r"(?:(?P<colour>" + "|".join(_COLOURS) + r") )?"
    r"(?P<noun>" + "|".join(_ENGLISH_NOUNS) + r")(?P<plural>s)?\b")
_ENGLISH_RELATIONS = {"to the left of": "left_of", "to the right of": "right_of", "above": "above",
                      "below": "below", "next to": "next_to"}
# "the circle has the star to its left": the relation of the star to the circle
_ENGLISH_OWNED = {"to its left": "left_of", "to their left": "left_of", "to its right": "right_of",
                  "to their right": "right_of", "above it": "above", "above them": "above",
                  "below it": "below", "below them": "below", "next to it": "next_to",
                  "next to them": "next_to"}
_ENGLISH_POSITIONS = {
    "in the top left corner": "top_left", "at the top": "top", "in the top right corner": "top_right",
    "on the left": "left", "in the centre": "centre", "in the middle": "centre", "on the right": "right",
    "in the bottom left corner": "bottom_left", "at the bottom": "bottom",
    "in the bottom right corner": "bottom_right",
}
_ENGLISH_OPENERS = re.compile(r"^(the image shows|there is|there are|we see|we can see|depicted (is|are)) ")
_ENGLISH_VERB = re.compile(r"\b(is|are|has|have|can be seen)\b")


def _alternation(phrases) -> str:
    return "|".join(sorted(map(re.escape, phrases), key=len, reverse=True))


def _english_phrases(clause: str) -> list[tuple[int, Phrase]]:
    found = []
    for match in _ENGLISH_NOUN_PHRASE.finditer(clause):
        det, number = match["det"], match["number"]
        count = _NUMBERS[number] if number else 2 if det == "both" else None if match["plural"] else 1
        shade = match["shade"] or ("plain" if match["colour"] and match["colour"] != "blue" else None)
        found.append((match.start(), Phrase(frozenset(_ENGLISH_NOUNS[match["noun"]]), count, match["colour"],
                                            shade, _ENGLISH_SIZES.get(match["size"]),
                                            new=det in ("a", "an") or (det is None and number is not None))))
    return found


def parse_english(text: str) -> Facts:
    return _parse(text, _ENGLISH)


def _found(pattern: str, clause: str) -> list[tuple[int, str]]:
    return [(m.start(), m.group()) for m in re.finditer(rf"\b(?:{pattern})\b", clause)]


class _Language:
    """What the shared clause reader needs from one language."""

    def __init__(self, *, phrases, relations, owned, positions, openers, verb, join, relative, pronouns,
                 background, counted, total_words):
        self.phrases, self.relations, self.owned, self.positions = phrases, relations, owned, positions
        self.openers, self.verb, self.join = openers, verb, join
        self.relative, self.pronouns = relative, pronouns
        self.background, self.counted, self.total_words = background, counted, total_words


_ENGLISH = _Language(
    phrases=_english_phrases, relations=_ENGLISH_RELATIONS, owned=_ENGLISH_OWNED,
    positions=_ENGLISH_POSITIONS,
    openers=_ENGLISH_OPENERS, verb=_ENGLISH_VERB, join=re.compile(r"; |, and "),
    relative=re.compile(r" that (?:is|are) "), pronouns=re.compile(r"^(it|they) "),
    background=re.compile(r"\b(white|beige|black) background|background is (white|beige|black)"),
    counted=re.compile(r"\bobjects?\b"), total_words={**_NUMBERS, "single": 1},
)

# ---------------------------------------------------------------------------------------------- German

_GERMAN_NOUNS = {  # every form of the noun -> shape
    r"kreis(e|en)?": "circle", r"quadrat(e|en)?": "square", r"rechteck(e|en)?": "rectangle",
    r"dreieck(e|en)?": "triangle", r"stern(e|en)?": "star", r"herz(en)?": "heart", r"raute(n)?": "diamond",
    r"schleife(n)?": "bow_ribbon", r"bogen|bögen": "bow_weapon", r"fledermaus|fledermäuse(n)?": "bat_animal",
    r"schläger(n)?": "bat_club", r"schlüssel(n)?": "key_door", r"taste(n)?": "key_keyboard",
    r"nuss|nüsse(n)?": "nut_food", r"mutter(n)?": "nut_hardware",
}
_GERMAN_COLOURS = {"rot": "red", "grün": "green", "blau": "blue", "gelb": "yellow", "violett": "purple",
                   "orangefarben": "orange", "grau": "grey"}
_GERMAN_NUMBERS = {"zwei": 2, "drei": 3, "vier": 4, "fünf": 5, "sechs": 6, "sieben": 7, "acht": 8}
_GERMAN_NOUN_PHRASE = re.compile(
    r"\b(?:(?P<det>eine[mnr]?|ein|der|die|das|den|dem) )?(?:(?P<number>beiden|"
    + "|".join(_GERMAN_NUMBERS) + r") )?(?:(?P<size>klein|groß)\w* )?(?:(?P<shade>hell|dunkel)?(?P<colour>"
    + "|".join(_GERMAN_COLOURS) + r")\w* )?"
    r"(?P<noun>" + "|".join(f"(?:{form})" for form in _GERMAN_NOUNS) + r")\b")
_GERMAN_RELATIONS = {"links von": "left_of", "rechts von": "right_of", "über": "above", "unter": "below",
                     "neben": "next_to"}
_GERMAN_POSITIONS = {
    "in der oberen linken ecke": "top_left", "oben": "top", "in der oberen rechten ecke": "top_right",
    "links(?! von)": "left", "in der mitte": "centre", "rechts(?! von)": "right",
    "in der unteren linken ecke": "bottom_left", "unten": "bottom",
    "in der unteren rechten ecke": "bottom_right",
}
_GERMAN_OPENERS = re.compile(r"^(das bild zeigt|auf dem bild (ist|sind)|zu sehen (ist|sind)|es gibt|"
                             r"man sieht|wir sehen|abgebildet (ist|sind)) ")
_GERMAN_VERB = re.compile(r"\b(ist|sind|liegt|liegen|befindet|befinden|sieht|gibt|enthält)\b")


def _german_shape(noun: str) -> str:
    return next(shape for form, shape in _GERMAN_NOUNS.items() if re.fullmatch(form, noun))


def _german_phrases(clause: str) -> list[tuple[int, Phrase]]:
    found = []
    for match in _GERMAN_NOUN_PHRASE.finditer(clause):
        det, number = match["det"], match["number"]
        count = 2 if number == "beiden" else _GERMAN_NUMBERS.get(number, 1)
        colour = _GERMAN_COLOURS.get(match["colour"])
        shade = match["shade"] and {"hell": "light", "dunkel": "dark"}[match["shade"]]
        if colour and not shade:
            shade = None if colour == "blue" else "plain"  # plain "blau" is either shade (English's "blue")
        size = {"klein": "small", "groß": "big"}.get(match["size"])
        new = (det or "").startswith("ein") or (det is None and number not in (None, "beiden"))
        found.append((match.start(), Phrase(frozenset({_german_shape(match["noun"])}), count, colour, shade,
                                            size, new=new)))
    return found


_GERMAN = _Language(
    phrases=_german_phrases, relations=_GERMAN_RELATIONS, owned={}, positions=_GERMAN_POSITIONS,
    openers=_GERMAN_OPENERS, verb=_GERMAN_VERB, join=re.compile(r"; |, und "),
    relative=re.compile(r", (?:der|die|das) (?=.* (?:liegt|liegen)\b)"),
    pronouns=re.compile(r"^(er|sie|es) "),
    background=re.compile(r"\b(weiß|beig|schwarz)\w* hintergrund|hintergrund ist (weiß|beige|schwarz)"),
    counted=re.compile(r"\bobjekte?\b"), total_words={**_GERMAN_NUMBERS, "ein": 1, "einziges": 1},
)
_GERMAN_BACKGROUNDS = {"weiß": "white", "beig": "beige", "beige": "beige", "schwarz": "black"}


def parse_german(text: str) -> Facts:
    # "vom Kreis" is "von dem Kreis": one rule for the anchor's article
    return _parse(re.sub(r"\bvom\b", "von dem", text), _GERMAN)


# ---------------------------------------------------------------------------------------------- both


def _parse(text: str, language: _Language) -> Facts:
    facts = Facts()
    sentences = [s for s in re.split(r"(?<=\.)\s+", text.strip().lower()) if s]
    previous_subject = None
    for index, sentence in enumerate(sentences):
        assert sentence.endswith("."), sentence
        body = sentence[:-1]
        if index == 0 and _is_overview(body, language):
            _read_overview(body, language, facts)
            continue
        for clause in language.join.split(body):
            previous_subject = _read_clause(clause, language, facts, previous_subject)
    return facts


def _is_overview(body: str, language: _Language) -> bool:
    """Opens with a caption opener, or a bare list of noun phrases (a fragment) without a verb of its own."""
    main = language.relative.split(body)[0]
    places = _alternation(language.relations) + "|" + _alternation_of_patterns(language.positions)
    if language.counted.search(body) or _found(places, main):  # "Man sieht den Stern oben" is a statement
        return False
    fragment = not language.verb.search(main) and bool(language.phrases(main))
    return bool(language.openers.match(body)) or fragment


def _read_overview(body: str, language: _Language, facts: Facts) -> None:
    background = language.background.search(body)
    if background:
        facts.backgrounds.append(_background_name(background))
    phrases = [phrase for _, phrase in language.phrases(body)]
    assert phrases and all(p.new for p in phrases), body
    facts.overview = phrases
    if language.relative.search(body):
        relation = _found(_alternation(language.relations), language.relative.split(body, maxsplit=1)[1])
        assert relation, body
        facts.relations.append((phrases[0], _relation_name(relation[0][1], language), phrases[1]))


def _relation_name(words: str, language: _Language) -> str:
    return next(name for pattern, name in language.relations.items() if re.fullmatch(pattern, words))


def _background_name(match: re.Match) -> str:
    word = match.group(1) or match.group(2)
    return _GERMAN_BACKGROUNDS.get(word, word)


def _read_clause(clause: str, language: _Language, facts: Facts, previous_subject: Phrase | None
                 ) -> Phrase | None:
    """Record what one clause states; returns its subject (None for counts and backgrounds)."""
    if language.counted.search(clause):
        totals = {language.total_words[w] for w in re.findall(r"\w+", clause) if w in language.total_words}
        assert len(totals) == 1, clause  # "ein einziges Objekt" says one twice
        facts.totals.append(totals.pop())
        return None
    background = language.background.search(clause)
    if background:
        facts.backgrounds.append(_background_name(background))
        return None
    found = language.phrases(clause)
    phrases = [phrase for _, phrase in found]
    if language.pronouns.match(clause):
        assert previous_subject is not None, clause
        found.insert(0, (0, replace(previous_subject, new=False)))
        phrases.insert(0, found[0][1])
    owned = _found(_alternation(language.owned), clause) if language.owned else []
    relation = _found(_alternation(language.relations), clause)
    if owned:  # "the circle has the star to its left": the second phrase is the subject
        assert len(phrases) == 2, clause
        subject, anchor, name = phrases[1], phrases[0], language.owned[owned[0][1]]
    elif relation:
        assert len(phrases) == 2 and len(relation) == 1, clause
        where, words = relation[0]
        # the anchor is the phrase right after the relation words, the subject the other one
        anchor_index = next(i for i, (start, _) in enumerate(found) if start > where)
        anchor, subject = phrases[anchor_index], phrases[1 - anchor_index]
        name = _relation_name(words, language)
    else:
        places = _found(_alternation_of_patterns(language.positions), clause)
        assert len(phrases) == 1 and places, clause
        facts.positions.append((phrases[0], frozenset(_position_name(w, language) for _, w in places)))
        facts.phrases.append(phrases[0])
        return phrases[0]
    facts.relations.append((subject, name, anchor))
    facts.phrases += phrases
    return subject


def _alternation_of_patterns(patterns) -> str:
    return "|".join(sorted(patterns, key=len, reverse=True))


def _position_name(words: str, language: _Language) -> str:
    return next(name for pattern, name in language.positions.items() if re.fullmatch(pattern, words))


PARSERS = {"en": parse_english, "de": parse_german}
