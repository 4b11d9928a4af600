"""Parse-back of French and Spanish texts (test_facts.py): what a reader learns from them.

The word lists are written here from each language's grammar, not taken from the realisers: the nouns with
their gender, every agreeing form of the adjectives, the determiners that mark a group as new (un/une,
un/una, a bare numeral) or known (le/la/l'/les, ce/cet/cette/ces; el/la/los/las, este/esta/estos/estas,
ambos/ambas), the place phrases, and the clause patterns that place a subject. Besides the facts, a parser
checks what a reader relies on: gender and number agreement of determiners, adjectives, participles, verbs
and pronouns; French elision and contraction (l'étoile, cet arc, du, des, d'un, qu'un, never "de huit" as
"d'huit"), Spanish del/al; a subject said first is known and one after "il y a"/"hay" new; and every
sentence splits into its clauses in exactly one way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from tests.world.facts import Facts, Phrase

_M, _F = False, True  # feminine?
_SINGULAR, _PLURAL = False, True
_ANY = frozenset((gender, number) for gender in (_M, _F) for number in (_SINGULAR, _PLURAL))


def _agreeing(masculine: str, feminine: str, masculine_plural: str, feminine_plural: str
              ) -> dict[str, frozenset[tuple[bool, bool]]]:
    """Each written form of an adjective -> the (feminine, plural) nouns it agrees with."""
    forms: dict[str, set[tuple[bool, bool]]] = {}
    for form, agreement in ((masculine, (_M, _SINGULAR)), (feminine, (_F, _SINGULAR)),
                            (masculine_plural, (_M, _PLURAL)), (feminine_plural, (_F, _PLURAL))):
        forms.setdefault(form, set()).add(agreement)
    return {form: frozenset(agreement) for form, agreement in forms.items()}


def _adjectives(table: dict[str, tuple[tuple[str, str, str, str], ...]]) -> dict[str, tuple[str, frozenset]]:
    """value -> its words' four forms, as written form -> (value, the nouns it agrees with)."""
    return {form: (value, agreement) for value, words in table.items() for forms in words
            for form, agreement in _agreeing(*forms).items()}


def _nouns(table: list[tuple[str, str, bool, str]]) -> dict[str, tuple[str, bool, frozenset[bool]]]:
    """(singular, plural, feminine, shape) rows as written form -> (shape, feminine, numbers it can be)."""
    nouns: dict[str, tuple[str, bool, frozenset[bool]]] = {}
    for singular, plural, feminine, shape in table:
        numbers = {_SINGULAR, _PLURAL} if singular == plural else {_SINGULAR}  # "noix" is both
        nouns[singular] = (shape, feminine, frozenset(numbers))
        nouns.setdefault(plural, (shape, feminine, frozenset({_PLURAL})))
    return nouns


@dataclass(frozen=True)
class _Determiner:
    new: bool
    agreement: frozenset[tuple[bool, bool]]
    count: int | None = None  # "ambos" says two


@dataclass(frozen=True)
class _Grammar:
    """What a reader of one language knows."""

    nouns: dict[str, tuple[str, bool, frozenset[bool]]]
    colours: dict[str, tuple[str, frozenset]]
    plain_colours: dict[str, str]  # the form a colour takes before a shade word (invariable compound)
    shades: dict[str, str]
    sizes_before: dict[str, tuple[str, frozenset]]
    sizes_after: dict[str, tuple[str, frozenset]]
    determiners: dict[str, _Determiner]
    numbers: dict[str, int]
    positions: dict[tuple[str, ...], str]
    relations: dict[tuple[str, ...], str]
    backgrounds: dict[str, str]
    pronouns: dict[str, tuple[bool, bool]]
    conjunction: str
    singular_verbs: frozenset[str]
    plural_verbs: frozenset[str]
    participles: dict[str, tuple[str, frozenset]]
    clauses: tuple[tuple[str, re.Pattern], ...]  # (subject said "known", "new" or "any", signature pattern)
    overview: re.Pattern
    opener_agreement: dict[str, bool]  # an opener verb that agrees -> plural
    counts: tuple[re.Pattern, ...]
    ones: dict[str, bool]  # "un seul", "una sola" … -> feminine
    things: dict[str, tuple[bool, bool]]  # what the count sentence counts -> (feminine, plural)
    background_sentences: tuple[re.Pattern, ...]
    surface_errors: tuple[tuple[re.Pattern, str], ...]  # checked on the written sentence
    contractions: tuple[tuple[str, str], ...]  # undone before reading ("du" -> "de le")


def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern, ...]:
    return tuple(re.compile(pattern) for pattern in patterns)


def _patterns(conjunction: str, patterns: list[tuple[str, str]]) -> tuple[tuple[str, re.Pattern], ...]:
    """Clause patterns over a signature ("N", "P", "R", "PRO", words), LOC a relation or a list of places."""
    places = f"P(?: , P)* {conjunction} P|P"
    return tuple((rule, re.compile(pattern.replace("LOC", f"(?:R N|{places})").replace("PLACES", places)))
                 for rule, pattern in patterns)


_FRENCH_NOUNS = _nouns([
    ("cercle", "cercles", _M, "circle"), ("rond", "ronds", _M, "circle"), ("carré", "carrés", _M, "square"),
    ("rectangle", "rectangles", _M, "rectangle"), ("triangle", "triangles", _M, "triangle"),
    ("étoile", "étoiles", _F, "star"), ("cœur", "cœurs", _M, "heart"), ("losange", "losanges", _M, "diamond"),
    ("nœud", "nœuds", _M, "bow_ribbon"), ("arc", "arcs", _M, "bow_weapon"),
    ("chauve-souris", "chauves-souris", _F, "bat_animal"), ("batte", "battes", _F, "bat_club"),
    ("clé", "clés", _F, "key_door"), ("touche", "touches", _F, "key_keyboard"),
    ("noix", "noix", _F, "nut_food"), ("écrou", "écrous", _M, "nut_hardware"),
])
_FRENCH_COLOURS = {"red": (("rouge", "rouge", "rouges", "rouges"),),
                   "green": (("vert", "verte", "verts", "vertes"),),
                   "blue": (("bleu", "bleue", "bleus", "bleues"),),
                   "yellow": (("jaune", "jaune", "jaunes", "jaunes"),),
                   "purple": (("violet", "violette", "violets", "violettes"),),
                   "orange": (("orange", "orange", "orange", "orange"),),
                   "grey": (("gris", "grise", "gris", "grises"),)}
_FRENCH_VERBS = ("est", "se trouve", "sont", "se trouvent")
FRENCH = _Grammar(
    nouns=_FRENCH_NOUNS,
    colours=_adjectives(_FRENCH_COLOURS),
    plain_colours={forms[0]: colour for colour, words in _FRENCH_COLOURS.items() for forms in words},
    shades={"clair": "light", "foncé": "dark"},
    sizes_before=_adjectives({"small": (("petit", "petite", "petits", "petites"),),
                              "big": (("grand", "grande", "grands", "grandes"),
                                      ("gros", "grosse", "gros", "grosses"))}),
    sizes_after={},
    determiners={"un": _Determiner(True, frozenset({(_M, _SINGULAR)})),
                 "une": _Determiner(True, frozenset({(_F, _SINGULAR)})),
                 "le": _Determiner(False, frozenset({(_M, _SINGULAR)})),
                 "la": _Determiner(False, frozenset({(_F, _SINGULAR)})),
                 "l'": _Determiner(False, frozenset({(_M, _SINGULAR), (_F, _SINGULAR)})),
                 "ce": _Determiner(False, frozenset({(_M, _SINGULAR)})),
                 "cet": _Determiner(False, frozenset({(_M, _SINGULAR)})),
                 "cette": _Determiner(False, frozenset({(_F, _SINGULAR)})),
                 "les": _Determiner(False, frozenset({(_M, _PLURAL), (_F, _PLURAL)})),
                 "ces": _Determiner(False, frozenset({(_M, _PLURAL), (_F, _PLURAL)}))},
    numbers={"deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7, "huit": 8},
    positions={tuple(phrase.split()): cell for phrase, cell in {
        "dans le coin supérieur gauche": "top_left", "en haut à gauche": "top_left", "en haut": "top",
        "dans le coin supérieur droit": "top_right", "en haut à droite": "top_right", "à gauche": "left",
        "au centre": "centre", "au milieu": "centre", "à droite": "right",
        "dans le coin inférieur gauche": "bottom_left", "en bas à gauche": "bottom_left", "en bas": "bottom",
        "dans le coin inférieur droit": "bottom_right", "en bas à droite": "bottom_right"}.items()},
    relations={tuple(phrase.split()): relation for phrase, relation in {
        "à gauche de": "left_of", "à droite de": "right_of", "au-dessus de": "above",
        "au-dessous de": "below",
        "en dessous de": "below", "à côté de": "next_to", "près de": "next_to"}.items()},
    backgrounds={"blanc": "white", "beige": "beige", "noir": "black"},
    pronouns={"il": (_M, _SINGULAR), "elle": (_F, _SINGULAR), "ils": (_M, _PLURAL), "elles": (_F, _PLURAL)},
    conjunction="et",
    singular_verbs=frozenset(("est", "se trouve")),
    plural_verbs=frozenset(("sont", "se trouvent")),
    participles=_adjectives({"placed": (("situé", "située", "situés", "situées"),
                                        ("placé", "placée", "placés", "placées"))}),
    clauses=_patterns("et", [
        ("known", r"(?P<s>N|PRO) (?P<v>est|sont|se trouve|se trouvent) (?P<loc>LOC)"),
        ("any", r"(?P<s>N) (?P<v>est|sont) (?P<p>\S+) (?P<loc>R N)"),
        ("any", r"(?P<loc>LOC) (?P<v>se trouve|se trouvent) (?P<s>N)"),
        ("any", r"(?P<loc>LOC) , on trouve (?P<s>N)"),
        ("new", r"(?P<loc>LOC) , il y a (?P<s>N)"),
        ("new", r"il y a (?P<s>N) (?P<loc>LOC)"),
        ("any", r"on (?:voit|aperçoit|peut voir) (?P<s>N) (?P<loc>PLACES)"),
    ]),
    overview=re.compile(r"(?:(?:la photo montre|il y a|sur la photo , il y a|on voit|on aperçoit|on peut voir"
                        r"|sur la photo , on voit|l' image représente) )?(?P<list>N(?: , N)* et N|N)"
                        r"(?: qui (?P<v>est|sont|se trouve|se trouvent) R N"
                        r"(?: , ainsi que (?:N(?: , N)* et N|N))?)?(?:(?: , le tout)? sur (?:un )?fond B)?"),
    opener_agreement={},
    counts=_compiled((
        r"il y a (?P<n>\w+) (?P<thing>objets|formes) au total",
        r"on compte (?P<n>\w+) (?P<thing>objets|formes) en tout",
        r"au total, (?:l'image|la photo) contient (?P<n>\w+) (?P<thing>objets|formes)",
        r"il n'y a qu'(?P<n>un seul|une seule) (?P<thing>objet|forme)",
        r"au total, (?:l'image|la photo) ne contient qu'(?P<n>un|une) (?P<thing>objet|forme)",
        r"on ne compte qu'(?P<n>un seul|une seule) (?P<thing>objet|forme)")),
    ones={"un": _M, "une": _F, "un seul": _M, "une seule": _F},
    things={"objet": (_M, _SINGULAR), "objets": (_M, _PLURAL), "forme": (_F, _SINGULAR),
            "formes": (_F, _PLURAL)},
    background_sentences=_compiled((
        r"(?:le fond|l'arrière-plan) est (?P<b>\w+)", r"(?:tout|le tout) est sur (?:un )?fond (?P<b>\w+)",
        r"(?:les objets|les formes) se détachent sur un fond (?P<b>\w+)",
        r"(?:l'objet|la forme) se détache sur un fond (?P<b>\w+)")),
    surface_errors=(
        (re.compile(r"\b(?:le|la|de|que|ce|ne) [aeiouéèêâîôœ]"), "no elision before a vowel"),
        (re.compile(r"\b(?:l|d|qu|n)'(?:[^aeiouyéèêâîôœ]|huit)"), "elision before a consonant or 'huit'"),
        (re.compile(r"\bcet [^aeiouéèêâîôœ]"), "'cet' before a consonant"),
        (re.compile(r"\b(?:de|à) les? "), "de le/de les/à le/à les not contracted"),
    ),
    contractions=((r"\bdu ", "de le "), (r"\bdes ", "de les "), (r"\bd'", "de "), (r"\bqu'", "que "),
                  (r"\bn'", "ne ")),
)

_SPANISH_NOUNS = _nouns([
    ("círculo", "círculos", _M, "circle"), ("cuadrado", "cuadrados", _M, "square"),
    ("rectángulo", "rectángulos", _M, "rectangle"), ("triángulo", "triángulos", _M, "triangle"),
    ("estrella", "estrellas", _F, "star"), ("corazón", "corazones", _M, "heart"),
    ("rombo", "rombos", _M, "diamond"),
    ("lazo", "lazos", _M, "bow_ribbon"), ("arco", "arcos", _M, "bow_weapon"),
    ("murciélago", "murciélagos", _M, "bat_animal"), ("bate", "bates", _M, "bat_club"),
    ("llave", "llaves", _F, "key_door"), ("tecla", "teclas", _F, "key_keyboard"),
    ("nuez", "nueces", _F, "nut_food"), ("tuerca", "tuercas", _F, "nut_hardware"),
])
_SPANISH_COLOURS = {"red": (("rojo", "roja", "rojos", "rojas"),),
                    "green": (("verde", "verde", "verdes", "verdes"),),
                    "blue": (("azul", "azul", "azules", "azules"),),
                    "yellow": (("amarillo", "amarilla", "amarillos", "amarillas"),),
                    "purple": (("morado", "morada", "morados", "moradas"),
                               ("violeta", "violeta", "violetas", "violetas")),
                    "orange": (("naranja", "naranja", "naranjas", "naranjas"),
                               ("anaranjado", "anaranjada", "anaranjados", "anaranjadas")),
                    "grey": (("gris", "gris", "grises", "grises"),)}
SPANISH = _Grammar(
    nouns=_SPANISH_NOUNS,
    colours=_adjectives(_SPANISH_COLOURS),
    plain_colours={forms[0]: colour for colour, words in _SPANISH_COLOURS.items() for forms in words},
    shades={"claro": "light", "oscuro": "dark"},
    sizes_before={"gran": ("big", frozenset({(_M, _SINGULAR), (_F, _SINGULAR)}))},
    sizes_after=_adjectives({"small": (("pequeño", "pequeña", "pequeños", "pequeñas"),),
                             "big": (("grande", "grande", "grandes", "grandes"),)}),
    determiners={"un": _Determiner(True, frozenset({(_M, _SINGULAR)})),
                 "una": _Determiner(True, frozenset({(_F, _SINGULAR)})),
                 "el": _Determiner(False, frozenset({(_M, _SINGULAR)})),
                 "la": _Determiner(False, frozenset({(_F, _SINGULAR)})),
                 "los": _Determiner(False, frozenset({(_M, _PLURAL)})),
                 "las": _Determiner(False, frozenset({(_F, _PLURAL)})),
                 "este": _Determiner(False, frozenset({(_M, _SINGULAR)})),
                 "esta": _Determiner(False, frozenset({(_F, _SINGULAR)})),
                 "estos": _Determiner(False, frozenset({(_M, _PLURAL)})),
                 "estas": _Determiner(False, frozenset({(_F, _PLURAL)})),
                 "ambos": _Determiner(False, frozenset({(_M, _PLURAL)}), 2),
                 "ambas": _Determiner(False, frozenset({(_F, _PLURAL)}), 2)},
    numbers={"dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7, "ocho": 8},
    positions={tuple(phrase.split()): cell for phrase, cell in {
        "en la esquina superior izquierda": "top_left", "arriba a la izquierda": "top_left", "arriba": "top",
        "en la parte superior": "top", "en la esquina superior derecha": "top_right",
        "arriba a la derecha": "top_right", "a la izquierda": "left", "en el centro": "centre",
        "en el medio": "centre", "a la derecha": "right", "en la esquina inferior izquierda": "bottom_left",
        "abajo a la izquierda": "bottom_left", "abajo": "bottom", "en la parte inferior": "bottom",
        "en la esquina inferior derecha": "bottom_right", "abajo a la derecha": "bottom_right"}.items()},
    relations={tuple(phrase.split()): relation for phrase, relation in {
        "a la izquierda de": "left_of", "a la derecha de": "right_of", "encima de": "above",
        "por encima de": "above", "debajo de": "below", "por debajo de": "below", "a el lado de": "next_to",
        "junto a": "next_to"}.items()},
    backgrounds={"blanco": "white", "beige": "beige", "negro": "black"},
    pronouns={},  # Spanish drops a repeated subject
    conjunction="y",
    singular_verbs=frozenset(("está", "se encuentra", "queda", "se ve", "se puede ver")),
    plural_verbs=frozenset(("están", "se encuentran", "quedan", "se ven", "se pueden ver")),
    participles=_adjectives({"placed": (("situado", "situada", "situados", "situadas"),)}),
    clauses=_patterns("y", [
        ("known", r"(?:(?P<s>N) )?(?P<v>está|están|se encuentra|se encuentran) (?P<loc>LOC)"),
        ("known", r"(?P<s>N) (?P<v>queda|quedan) (?P<loc>R N)"),
        ("known", r"(?P<s>N) (?P<v>está|están) (?P<p>\S+) (?P<loc>R N)"),
        ("known", r"(?P<loc>LOC) (?P<v>está|están|se encuentra|se encuentran) (?P<s>N)"),
        ("new", r"(?P<loc>LOC) hay (?P<s>N)"),
        ("new", r"hay (?P<s>N) (?P<loc>LOC)"),
        ("any", r"(?P<v>se ve|se ven|se puede ver|se pueden ver) (?P<s>N) (?P<loc>LOC)"),
    ]),
    overview=re.compile(r"(?:(?:la imagen muestra|hay|en la imagen hay|vemos|podemos ver|(?P<o>se ven?|"
                        r"en la imagen se ven?|en la imagen aparecen?)) )?(?P<list>N(?: , N)* y N|N)"
                        r"(?: que (?P<v>está|están|se encuentra|se encuentran) R N"
                        r"(?: , así como (?:N(?: , N)* y N|N))?)?(?:(?: , todo)? sobre (?:un )?fondo B)?"),
    opener_agreement={"se ve": False, "se ven": True, "en la imagen se ve": False,
                      "en la imagen se ven": True, "en la imagen aparece": False,
                      "en la imagen aparecen": True},
    counts=_compiled((
        r"en total hay (?P<n>\w+) (?P<thing>objetos|figuras)",
        r"solo hay (?P<n>un|una) (?P<thing>objeto|figura)",
        r"en total, la imagen contiene (?P<n>\w+|un solo|una sola) (?P<thing>\w+)",
        r"la imagen tiene (?P<n>\w+|un único|una única) (?P<thing>\w+)(?: en total)?")),
    ones={"un": _M, "una": _F, "un solo": _M, "una sola": _F, "un único": _M, "una única": _F},
    things={"objeto": (_M, _SINGULAR), "objetos": (_M, _PLURAL), "figura": (_F, _SINGULAR),
            "figuras": (_F, _PLURAL)},
    background_sentences=_compiled((
        r"el fondo(?: de la imagen)? es (?P<b>\w+)", r"todo (?:está|aparece) sobre un fondo (?P<b>\w+)",
        r"(?:los objetos|las figuras) destacan sobre un fondo (?P<b>\w+)",
        r"(?:el objeto|la figura) destaca sobre un fondo (?P<b>\w+)")),
    surface_errors=((re.compile(r"\b(?:de|a) el\b"), "de el/a el not contracted"),),
    contractions=((r"\bdel ", "de el "), (r"\bal ", "a el ")),
)


_TOKEN = re.compile(r"\w+'|[\w-]+|[,;]")


@dataclass(frozen=True)
class _NounPhrase:
    phrase: Phrase
    feminine: bool
    plural: bool


@dataclass(frozen=True)
class _Item:
    """One reading unit of a sentence: a noun phrase "N", place "P", relation "R" (with its preposition),
    pronoun "PRO", background "B", or any other word as itself."""

    kind: str
    value: object = None


def parse_french(text: str) -> Facts:
    return _parse(text, FRENCH)


def parse_spanish(text: str) -> Facts:
    return _parse(text, SPANISH)


PARSERS = {"fr": parse_french, "es": parse_spanish}


def _parse(text: str, grammar: _Grammar) -> Facts:
    assert text.endswith("."), text
    facts = Facts()
    previous: _NounPhrase | None = None  # the last clause's subject: what a pronoun or zero subject means
    for index, sentence in enumerate(text[:-1].split(". ")):
        lowered = sentence[:1].lower() + sentence[1:]
        if _said_total(lowered, grammar, facts) or _said_background(lowered, grammar, facts):
            previous = None
            continue
        items = _items(_tokens(lowered, grammar), grammar)
        if index == 0 and _read_overview(items, grammar, facts):
            continue
        previous = _read_clauses(items, grammar, facts, previous, sentence)
    return facts


def _said_total(sentence: str, grammar: _Grammar, facts: Facts) -> bool:
    for pattern in grammar.counts:
        match = pattern.fullmatch(sentence)
        if match:
            feminine, plural = grammar.things[match["thing"]]
            if match["n"] in grammar.ones:
                assert grammar.ones[match["n"]] == feminine and not plural, sentence
                facts.totals.append(1)
            else:
                assert plural, sentence
                facts.totals.append(grammar.numbers[match["n"]])
            return True
    return False


def _said_background(sentence: str, grammar: _Grammar, facts: Facts) -> bool:
    for pattern in grammar.background_sentences:
        match = pattern.fullmatch(sentence)
        if match:
            facts.backgrounds.append(grammar.backgrounds[match["b"]])
            return True
    return False


def _tokens(sentence: str, grammar: _Grammar) -> list[str]:
    for pattern, problem in grammar.surface_errors:
        assert not pattern.search(sentence), f"{problem}: {sentence!r}"
    for contracted, full in grammar.contractions:
        sentence = re.sub(contracted, full, sentence)
    return _TOKEN.findall(sentence)


def _items(tokens: list[str], grammar: _Grammar) -> list[_Item]:
    items = []
    start = 0
    while start < len(tokens):
        for length in range(min(5, len(tokens) - start), 0, -1):  # the longest place phrase
            key = tuple(tokens[start:start + length])
            if key in grammar.relations or key in grammar.positions:
                items.append(_Item("R", grammar.relations[key]) if key in grammar.relations
                             else _Item("P", grammar.positions[key]))
                start += length
                break
        else:
            noun_phrase = _noun_phrase(tokens, start, grammar)
            token = tokens[start]
            if noun_phrase:
                items.append(_Item("N", noun_phrase[0]))
                start += noun_phrase[1]
                continue
            if token in grammar.pronouns and tokens[start + 1:start + 3] != ["y", "a"]:  # not "il y a"
                items.append(_Item("PRO", grammar.pronouns[token]))
            elif token in grammar.backgrounds:
                items.append(_Item("B", grammar.backgrounds[token]))
            else:
                items.append(_Item(token))
            start += 1
    return items


def _noun_phrase(tokens: list[str], start: int, grammar: _Grammar) -> tuple[_NounPhrase, int] | None:
    """The noun phrase starting at `start` and its length in tokens, its agreement checked; None if none."""
    words = [*tokens[start:], "", "", ""]  # padded: look ahead without bounds checks
    where = " ".join(tokens)
    agreeing = []  # every word that agrees with the noun, and the (feminine, plural) nouns it fits
    determiner = grammar.determiners.get(words[0])
    if determiner:
        agreeing.append((words[0], determiner.agreement))
    at = determiner is not None
    number = grammar.numbers.get(words[at])
    at += number is not None
    size = grammar.sizes_before.get(words[at])
    if size:
        agreeing.append((words[at], size[1]))
        at += 1
    if words[at] not in grammar.nouns:
        return None
    noun = words[at]
    shape, feminine, numbers = grammar.nouns[noun]
    at += 1
    assert determiner or number, f"a bare noun: {where!r}"
    plural = number is not None or all(is_plural for _, is_plural in determiner.agreement)
    assert plural in numbers, f"{noun!r} after a {'plural' if plural else 'singular'} determiner: {where!r}"
    colour = shade = None
    if words[at + 1] in grammar.shades:  # a compound colour, invariable: "bleu clair", "azul claro"
        colour, shade = grammar.plain_colours[words[at]], grammar.shades[words[at + 1]]
        at += 2
    elif words[at] in grammar.colours:
        colour, agrees = grammar.colours[words[at]]
        agreeing.append((words[at], agrees))
        shade = None if colour == "blue" else "plain"  # plain "blue" leaves light or dark untold
        at += 1
    if words[at] in grammar.sizes_after:
        size = grammar.sizes_after[words[at]]
        agreeing.append((words[at], size[1]))
        at += 1
    for word, agrees in agreeing:
        assert (feminine, plural) in agrees, f"{word!r} does not agree with {noun!r}: {where!r}"
    count = number or (determiner.count if determiner else None) or (None if plural else 1)
    new = determiner is None or determiner.new
    phrase = Phrase(frozenset({shape}), count, colour, shade, size[0] if size else None, new)
    return _NounPhrase(phrase, feminine, plural), at


def _signature(items: list[_Item]) -> str:
    return " ".join(item.kind for item in items)


def _read_overview(items: list[_Item], grammar: _Grammar, facts: Facts) -> bool:
    """The opening sentence naming every group as new, maybe with a relative clause and the background."""
    signature = _signature(items)
    match = grammar.overview.fullmatch(signature)
    if not match:
        return False
    noun_phrases = [item.value for item in items if item.kind == "N"]
    assert all(np.phrase.new for np in noun_phrases), f"overview names a known group: {signature}"
    facts.overview = [np.phrase for np in noun_phrases]
    listed = signature[match.start("list"):match.end("list")].split().count("N")
    if match.groupdict().get("o"):  # a Spanish opener verb agrees with the list: "se ven una estrella y …"
        plural = listed > 1 or noun_phrases[0].plural
        assert grammar.opener_agreement[match["o"]] == plural, f"opener agreement: {signature}"
    if match["v"]:  # the relative clause on the list's last noun phrase: "… qui est à gauche d'un cercle"
        subject, obj = noun_phrases[listed - 1], noun_phrases[listed]
        _check_verb(match["v"], subject, grammar, signature)
        relation = next(item.value for item in items if item.kind == "R")
        facts.relations.append((subject.phrase, relation, obj.phrase))
    facts.backgrounds += [item.value for item in items if item.kind == "B"]
    return True


def _check_verb(verb: str, subject: _NounPhrase, grammar: _Grammar, where: str) -> None:
    wanted = grammar.plural_verbs if subject.plural else grammar.singular_verbs
    assert verb in wanted, f"{verb!r} does not agree with its subject: {where}"


def _read_clauses(items: list[_Item], grammar: _Grammar, facts: Facts, previous: _NounPhrase | None,
                  sentence: str) -> _NounPhrase | None:
    """Every clause of a sentence that places subjects, its facts added; returns the last subject."""
    readings = _readings(tuple(item.kind for item in items), grammar)
    assert len(readings) == 1, f"{len(readings)} readings of {sentence!r}: {_signature(items)}"
    for start, end, rule, match in readings[0]:
        clause = items[start:end]
        groups = match.groupdict()
        said = clause[_span(match, "s")[0]] if groups["s"] else None
        if said is None or said.kind == "PRO":  # a pronoun or Spanish zero subject: the previous subject
            assert previous is not None, f"no antecedent: {sentence!r}"
            assert said is None or said.value == (previous.feminine, previous.plural), \
                f"pronoun {groups['s']!r} for {previous.phrase}: {sentence!r}"
            subject = _NounPhrase(replace(previous.phrase, new=False), previous.feminine, previous.plural)
        else:
            subject = said.value
            assert rule == "any" or subject.phrase.new == (rule == "new"), f"{rule} subject: {sentence!r}"
        if groups.get("v"):
            _check_verb(groups["v"], subject, grammar, sentence)
        if groups.get("p"):
            _, agrees = grammar.participles.get(groups["p"], (None, frozenset()))
            assert (subject.feminine, subject.plural) in agrees, f"participle {groups['p']!r}: {sentence!r}"
        first, last = _span(match, "loc")
        place = clause[first:last]
        if place[0].kind == "R":
            obj = place[1].value.phrase
            facts.relations.append((subject.phrase, place[0].value, obj))
            facts.phrases += [subject.phrase, obj]
        else:
            cells = frozenset(item.value for item in place if item.kind == "P")
            facts.positions.append((subject.phrase, cells))
            facts.phrases.append(subject.phrase)
        previous = subject
    return previous


def _span(match: re.Match, group: str) -> tuple[int, int]:
    """The items a group of a signature match covers, as [first, last)."""
    first = match.string[:match.start(group)].count(" ")
    return first, first + match[group].count(" ") + 1


def _readings(kinds: tuple[str, ...], grammar: _Grammar) -> list[list[tuple[int, int, str, re.Match]]]:
    """Every way to read `kinds` as clauses joined by ",", ";", the conjunction, or a mark and it."""
    ways: dict[int, list] = {len(kinds): [[]]}  # from an item on: the readings of the rest
    for start in range(len(kinds) - 1, -1, -1):
        ways[start] = []
        for end in range(start + 1, len(kinds) + 1):
            if end < len(kinds) and kinds[end] not in (",", ";", grammar.conjunction):
                continue
            following = end
            if end < len(kinds):  # past the mark, the conjunction or both; something must follow
                both = kinds[end] in (",", ";") and kinds[end + 1:end + 2] == (grammar.conjunction,)
                following += 1 + both
                if following >= len(kinds):
                    continue
            clause = " ".join(kinds[start:end])
            for rule, pattern in grammar.clauses:
                match = pattern.fullmatch(clause)
                if match:
                    ways[start] += [[(start, end, rule, match), *rest] for rest in ways[following]]
    return ways[0]
