"""The French and Spanish parse-back can fail: it rejects hand-written faulty sentences and catches faults
planted in the realisers (test_facts.py runs it on the real ones)."""

import numpy as np
import pytest

from florenz.world.languages import DETAIL_LEVELS
from florenz.world.realise import es, fr, plan_description, realise
from florenz.world.scene import sample_scene
from tests.world.facts import check
from tests.world.facts_fr_es import PARSERS

OPENING = {"fr": "La photo montre une étoile rouge et un cercle bleu. ",
           "es": "La imagen muestra una estrella roja y un círculo azul. "}
FAULTY = [
    ("fr", "La photo montre une petit étoile rouge.", "does not agree"),
    ("fr", "Il y a deux étoile rouges.", "after a plural determiner"),
    ("fr", OPENING["fr"] + "Le étoile est en haut.", "no elision"),
    ("fr", OPENING["fr"] + "L'étoile est à gauche de le cercle.", "not contracted"),
    ("fr", "Il y a un cercle à gauche d'huit étoiles.", "elision before"),
    ("fr", OPENING["fr"] + "L'étoile sont en haut.", "does not agree with its subject"),
    ("fr", OPENING["fr"] + "L'étoile est placé à gauche du cercle.", "participle"),
    ("fr", OPENING["fr"] + "L'étoile est en haut. Il est à gauche du cercle.", "pronoun"),
    ("fr", OPENING["fr"] + "Une étoile est en haut.", "known subject"),
    ("fr", OPENING["fr"] + "Il y a l'étoile en haut.", "new subject"),
    ("fr", "On voit cette étoile.", "overview names a known group"),
    ("es", "La imagen muestra una estrella pequeño.", "does not agree"),
    ("es", "Hay dos gran estrellas.", "does not agree"),
    ("es", OPENING["es"] + "La estrella está a la izquierda de el círculo.", "not contracted"),
    ("es", OPENING["es"] + "La estrella están arriba.", "does not agree with its subject"),
    ("es", OPENING["es"] + "Hay la estrella arriba.", "new subject"),
    ("es", OPENING["es"] + "Arriba hay la estrella.", "new subject"),
    ("es", "Se ven una estrella roja.", "opener agreement"),
    ("es", "Está arriba.", "no antecedent"),
]


@pytest.mark.parametrize(("lang", "text", "problem"), FAULTY)
def test_parser_rejects_a_faulty_sentence(lang, text, problem):
    with pytest.raises(AssertionError, match=problem):
        PARSERS[lang](text)


def test_parser_reads_a_hand_written_text():
    facts = PARSERS["fr"]("Il y a deux petites étoiles bleu clair et un gros écrou vert. À gauche de l'écrou "
                          "se trouvent les deux étoiles et elles sont en haut. Il y a trois objets au total.")
    stars, nut = facts.overview
    assert (stars.count, stars.colour, stars.shade, stars.size, stars.new) == (2, "blue", "light", "small",
                                                                               True)
    assert (nut.shapes, nut.colour, nut.shade, nut.size) == ({"nut_hardware"}, "green", "plain", "big")
    assert [(s.shapes, relation, o.shapes) for s, relation, o in facts.relations] == [
        ({"star"}, "left_of", {"nut_hardware"})]
    assert [(s.count, cells) for s, cells in facts.positions] == [(2, {"top"})]  # "elles": the two stars
    assert facts.totals == [3]


# each fault: what is planted in which realiser; every one must surface in the parse-back or the check
PLANTED = {
    "de not contracted": (fr, "_of", lambda phrase: "de " + phrase),
    "pronoun genders swapped": (fr, "_PRONOUNS", ("elle", "il", "elles", "ils")),
    "left and right swapped": (fr, "_RELATIONS", {**fr._RELATIONS, "left_of": ("à droite",),
                                                  "right_of": ("à gauche",)}),
    "colours in the masculine": (fr, "_COLOURS", {c: (f[0],) * 4 for c, f in fr._COLOURS.items()}),
    "sizes swapped": (es, "_SIZES", {"small": es._SIZES["big"], "big": es._SIZES["small"]}),
    "plural verbs singular": (es, "_IS_LOCATED", (("está", "está"), ("se encuentra", "se encuentra"))),
    "del not contracted": (es, "_CONTRACTED", {"de": "de el", "a": "a el"}),
    "top and bottom swapped": (es, "_POSITIONS", {**es._POSITIONS, "top": es._POSITIONS["bottom"],
                                                  "bottom": es._POSITIONS["top"]}),
}


def caught_texts(lang: str) -> int:
    """Of 60 random texts in `lang`, how many the parse-back rejects or finds false of their scene."""
    rng = np.random.default_rng(3)
    caught = 0
    for index in range(60):
        scene = sample_scene(rng, max_objects=8 if index % 2 else 4)
        plan = plan_description(scene, DETAIL_LEVELS[index % 3], rng)
        try:
            caught += bool(check(PARSERS[lang](realise(plan, lang, rng)), scene))
        except AssertionError:
            caught += 1
    return caught


@pytest.mark.parametrize("lang", ["fr", "es"])
def test_nothing_is_caught_in_the_realiser_as_it_is(lang):
    assert caught_texts(lang) == 0


@pytest.mark.parametrize("fault", PLANTED)
def test_parse_back_catches_a_fault_planted_in_the_realiser(fault, monkeypatch):
    module, name, value = PLANTED[fault]
    monkeypatch.setattr(module, name, value)
    assert caught_texts(module.__name__.rsplit(".", 1)[1]) > 0, fault
