"""Hand-built plans realised in all six languages, against sentences written out by hand.

Each case lists what a native speaker writes for one plan; `realise(plan, lang)` without a generator takes
the first synonym everywhere (big, small, "ist", "est", "está", "在", …), so the text is fully pinned. The
first cases are plans of variety "low" (today's templates); the later ones pin each new form, opener,
relative clause, join, pronoun and known re-mention (issue 17).
"""

from dataclasses import replace

import pytest

from florenz.world.realise import (
    FORMS,
    OPENERS,
    BackgroundSentence,
    CountSentence,
    Description,
    Mention,
    PositionSentence,
    RelationSentence,
    realise,
)


def bare(mention: Mention, size: bool = False, colour: bool = False, known: bool = True) -> Mention:
    """`mention` as a later sentence names it: by shape only, unless size/colour are asked for; known."""
    return replace(mention, name_size=size, name_colour=colour, known=known)


def known(mention: Mention) -> Mention:
    return replace(mention, known=True)


def pronoun(mention: Mention) -> Mention:
    return replace(mention, known=True, pronoun=True)


LIGHT_BLUE_CIRCLE = Mention("circle", "blue", "light", "small")
TWO_RED_SQUARES = Mention("square", "red", "plain", "big", 2)
DARK_YELLOW_TRIANGLE = Mention("triangle", "yellow", "dark", "small")
GREEN_STAR = Mention("star", "green", "plain", "small")
RED_CIRCLE = Mention("circle", "red", "plain", "big")
PURPLE_HEART = Mention("heart", "purple", "light", "big")
ORANGE_DIAMOND = Mention("diamond", "orange", "plain", "small")
TWO_GREY_TRIANGLES = Mention("triangle", "grey", "dark", "small", 2)
LIGHT_RED_STAR = Mention("star", "red", "light", "big")
ORANGE_SQUARE = Mention("square", "orange", "plain", "big")
DARK_PURPLE_CIRCLE = Mention("circle", "purple", "dark", "small")
RED_HEART = Mention("heart", "red", "plain", "big")
GREY_STAR = Mention("star", "grey", "light", "small")
DARK_BLUE_CIRCLE = Mention("circle", "blue", "dark", "big")
TWO_YELLOW_STARS = Mention("star", "yellow", "plain", "small", 2)
LIGHT_GREEN_SQUARE = Mention("square", "green", "light", "small")

CASES = {
    "small light-blue circle, prefix": (
        Description("short", (LIGHT_BLUE_CIRCLE,), "prefix"),
        {
            "en": "The image shows a small light-blue circle.",
            "de": "Das Bild zeigt einen kleinen hellblauen Kreis.",
            "fr": "La photo montre un petit cercle bleu clair.",
            "es": "La imagen muestra un círculo azul claro pequeño.",
            "ru": "На картинке изображен маленький голубой круг.",
            "zh": "图为一个浅蓝色的小圆形。",
        },
    ),
    "two big red squares left of a triangle, new subject": (
        Description("detailed", (TWO_RED_SQUARES, DARK_YELLOW_TRIANGLE), "exist",
                    sentences=(RelationSentence(TWO_RED_SQUARES, "left_of",
                                                bare(DARK_YELLOW_TRIANGLE, known=False)),)),
        {
            "en": "There are two big red squares and a small dark-yellow triangle. "
                  "Two big red squares are to the left of a triangle.",
            "de": "Auf dem Bild sind zwei große rote Quadrate und ein kleines dunkelgelbes Dreieck. "
                  "Links von einem Dreieck sind zwei große rote Quadrate.",
            "fr": "Il y a deux grands carrés rouges et un petit triangle jaune foncé. "
                  "Il y a deux grands carrés rouges à gauche d'un triangle.",
            "es": "Hay dos cuadrados rojos grandes y un triángulo amarillo oscuro pequeño. "
                  "Hay dos cuadrados rojos grandes a la izquierda de un triángulo.",
            "ru": "На картинке есть два больших красных квадрата и маленький темно-желтый треугольник. "
                  "Слева от треугольника находятся два больших красных квадрата.",
            "zh": "图中有两个红色的大正方形和一个深黄色的小三角形。一个三角形的左边有两个红色的大正方形。",
        },
    ),
    "feminine star first, next to with dative/instrumental": (
        Description("detailed", (GREEN_STAR, RED_CIRCLE), "prefix",
                    sentences=(RelationSentence(bare(GREEN_STAR, size=True), "next_to",
                                                bare(RED_CIRCLE, colour=True)),)),
        {
            "en": "The image shows a small green star and a big red circle. "
                  "The small star is next to the red circle.",
            "de": "Das Bild zeigt einen kleinen grünen Stern und einen großen roten Kreis. "
                  "Der kleine Stern ist neben dem roten Kreis.",
            "fr": "La photo montre une petite étoile verte et un grand cercle rouge. "
                  "La petite étoile est à côté du cercle rouge.",
            "es": "La imagen muestra una estrella verde pequeña y un círculo rojo grande. "
                  "La estrella pequeña está al lado del círculo rojo.",
            "ru": "На картинке изображена маленькая зеленая звезда и большой красный круг. "
                  "Маленькая звезда находится рядом с красным кругом.",
            "zh": "图为一颗绿色的小星星和一个红色的大圆形。小星星在红色圆形的旁边。",
        },
    ),
    "neuter heart above a feminine diamond, indefinite": (
        Description("detailed", (PURPLE_HEART, ORANGE_DIAMOND), "see",
                    sentences=(RelationSentence(PURPLE_HEART, "above", ORANGE_DIAMOND),)),
        {
            "en": "We see a big light-purple heart and a small orange diamond. "
                  "A big light-purple heart is above a small orange diamond.",
            "de": "Man sieht ein großes hellviolettes Herz und eine kleine orangefarbene Raute. "
                  "Über einer kleinen orangefarbenen Raute ist ein großes hellviolettes Herz.",
            "fr": "On voit un grand cœur violet clair et un petit losange orange. "
                  "Il y a un grand cœur violet clair au-dessus d'un petit losange orange.",
            "es": "Vemos un corazón morado claro grande y un rombo naranja pequeño. "
                  "Hay un corazón morado claro grande encima de un rombo naranja pequeño.",
            "ru": "Мы видим большое светло-фиолетовое сердце и маленький оранжевый ромб. "
                  "Над маленьким оранжевым ромбом находится большое светло-фиолетовое сердце.",
            "zh": "可以看到一个浅紫色的大心形和一个橙色的小菱形。一个橙色小菱形的上方有一个浅紫色的大心形。",
        },
    ),
    "three feminine stars, plural prefix": (
        Description("short", (Mention("star", "blue", "dark", "small", 3),
                              Mention("heart", "grey", "plain", "big")), "prefix"),
        {
            "en": "The image shows three small dark-blue stars and a big grey heart.",
            "de": "Das Bild zeigt drei kleine dunkelblaue Sterne und ein großes graues Herz.",
            "fr": "La photo montre trois petites étoiles bleu foncé et un grand cœur gris.",
            "es": "La imagen muestra tres estrellas azul oscuro pequeñas y un corazón gris grande.",
            "ru": "На картинке изображены три маленькие синие звезды и большое серое сердце.",
            "zh": "图为三颗深蓝色的小星星和一个灰色的大心形。",
        },
    ),
    "four neuter hearts": (
        Description("short", (Mention("heart", "green", "light", "small", 4),), "exist"),
        {
            "en": "There are four small light-green hearts.",
            "de": "Auf dem Bild sind vier kleine hellgrüne Herzen.",
            "fr": "Il y a quatre petits cœurs vert clair.",
            "es": "Hay cuatro corazones verde claro pequeños.",
            "ru": "На картинке есть четыре маленьких светло-зеленых сердца.",
            "zh": "图中有四个浅绿色的小心形。",
        },
    ),
    "two feminine stars, accusative": (
        Description("short", (TWO_YELLOW_STARS, Mention("diamond", "blue", "dark", "big")), "see"),
        {
            "en": "We see two small yellow stars and a big dark-blue diamond.",
            "de": "Man sieht zwei kleine gelbe Sterne und eine große dunkelblaue Raute.",
            "fr": "On voit deux petites étoiles jaunes et un grand losange bleu foncé.",
            "es": "Vemos dos estrellas amarillas pequeñas y un rombo azul oscuro grande.",
            "ru": "Мы видим две маленькие желтые звезды и большой синий ромб.",
            "zh": "可以看到两颗黄色的小星星和一个深蓝色的大菱形。",
        },
    ),
    "English plain blue, light in the image": (
        Description("short", (Mention("star", "blue", "light", "small"),), "see", plain_blue=True),
        {
            "en": "We see a small blue star.",
            "de": "Man sieht einen kleinen blauen Stern.",
            "fr": "On voit une petite étoile bleue.",
            "es": "Vemos una estrella azul pequeña.",
            "ru": "Мы видим маленькую голубую звезду.",
            "zh": "可以看到一颗蓝色的小星星。",
        },
    ),
    "English plain blue, dark in the image": (
        Description("short", (Mention("star", "blue", "dark", "small"),), "see", plain_blue=True),
        {
            "en": "We see a small blue star.",
            "de": "Man sieht einen kleinen blauen Stern.",
            "fr": "On voit une petite étoile bleue.",
            "es": "Vemos una estrella azul pequeña.",
            "ru": "Мы видим маленькую синюю звезду.",
        },
    ),
    "paragraph: known pair, positions, count, background": (
        Description("paragraph", (TWO_GREY_TRIANGLES, LIGHT_RED_STAR), "exist", sentences=(
            RelationSentence(bare(TWO_GREY_TRIANGLES), "below", bare(LIGHT_RED_STAR)),
            PositionSentence(bare(TWO_GREY_TRIANGLES), ("bottom_left", "bottom_right")),
            PositionSentence(bare(LIGHT_RED_STAR), ("top",)),
            CountSentence(3),
            BackgroundSentence("beige"),
        )),
        {
            "en": "There are two small dark-grey triangles and a big light-red star. "
                  "The two triangles are below the star. "
                  "The two triangles are in the bottom left corner and in the bottom right corner. "
                  "The star is at the top. There are three objects in total. The background is beige.",
            "de": "Auf dem Bild sind zwei kleine dunkelgraue Dreiecke und ein großer hellroter Stern. "
                  "Die beiden Dreiecke sind unter dem Stern. "
                  "Die beiden Dreiecke sind in der unteren linken Ecke und in der unteren rechten Ecke. "
                  "Der Stern ist oben. Insgesamt sind es drei Objekte. Der Hintergrund ist beige.",
            "fr": "Il y a deux petits triangles gris foncé et une grande étoile rouge clair. "
                  "Les deux triangles sont au-dessous de l'étoile. "
                  "Les deux triangles sont dans le coin inférieur gauche et dans le coin inférieur droit. "
                  "L'étoile est en haut. Il y a trois objets au total. Le fond est beige.",
            "es": "Hay dos triángulos gris oscuro pequeños y una estrella rojo claro grande. "
                  "Los dos triángulos están debajo de la estrella. "
                  "Los dos triángulos están en la esquina inferior izquierda y "
                  "en la esquina inferior derecha. "
                  "La estrella está arriba. En total hay tres objetos. El fondo es beige.",
            "ru": "На картинке есть два маленьких темно-серых треугольника и большая светло-красная звезда. "
                  "Оба треугольника находятся под звездой. "
                  "Оба треугольника находятся в левом нижнем углу и в правом нижнем углу. "
                  "Звезда находится вверху. Всего на картинке три объекта. Фон бежевый.",
            "zh": "图中有两个深灰色的小三角形和一颗浅红色的大星星。两个三角形在星星的下方。"
                  "两个三角形分别在左下角和右下角。星星在顶部。图中总共有三个物体。背景是米色的。",
        },
    ),
    "background phrase, right of with contraction": (
        Description("detailed", (ORANGE_SQUARE, DARK_PURPLE_CIRCLE), "prefix", background="black",
                    sentences=(RelationSentence(known(ORANGE_SQUARE), "right_of",
                                                known(DARK_PURPLE_CIRCLE)),)),
        {
            "en": "The image shows a big orange square and a small dark-purple circle on a black background. "
                  "The big orange square is to the right of the small dark-purple circle.",
            "de": "Das Bild zeigt ein großes orangefarbenes Quadrat und einen kleinen dunkelvioletten "
                  "Kreis vor schwarzem Hintergrund. "
                  "Das große orangefarbene Quadrat ist rechts vom kleinen dunkelvioletten Kreis.",
            "fr": "La photo montre un grand carré orange et un petit cercle violet foncé sur fond noir. "
                  "Le grand carré orange est à droite du petit cercle violet foncé.",
            "es": "La imagen muestra un cuadrado naranja grande y un círculo morado oscuro pequeño "
                  "sobre un fondo negro. "
                  "El cuadrado naranja grande está a la derecha del círculo morado oscuro pequeño.",
            "ru": "На картинке изображен большой оранжевый квадрат и маленький темно-фиолетовый круг "
                  "на черном фоне. "
                  "Большой оранжевый квадрат находится справа от маленького темно-фиолетового круга.",
            "zh": "图为一个橙色的大正方形和一个深紫色的小圆形，背景是黑色的。"
                  "橙色的大正方形在深紫色小圆形的右边。",
        },
    ),
    "one object: an, position of a new subject, only one": (
        Description("paragraph", (Mention("circle", "orange", "plain", "small"),), "see", sentences=(
            PositionSentence(bare(Mention("circle", "orange", "plain", "small"), colour=True, known=False),
                             ("centre",)),
            CountSentence(1),
            BackgroundSentence("white"),
        )),
        {
            "en": "We see a small orange circle. An orange circle is in the centre. "
                  "There is only one object. The background is white.",
            "de": "Man sieht einen kleinen orangefarbenen Kreis. In der Mitte ist ein orangefarbener Kreis. "
                  "Es ist nur ein Objekt zu sehen. Der Hintergrund ist weiß.",
            "fr": "On voit un petit cercle orange. Il y a un cercle orange au centre. "
                  "Il n'y a qu'un seul objet. Le fond est blanc.",
            "es": "Vemos un círculo naranja pequeño. Hay un círculo naranja en el centro. "
                  "Solo hay un objeto. El fondo es blanco.",
            "ru": "Мы видим маленький оранжевый круг. В центре находится оранжевый круг. "
                  "На картинке только один объект. Фон белый.",
            "zh": "可以看到一个橙色的小圆形。中间有一个橙色的圆形。图中只有一个物体。背景是白色的。",
        },
    ),
    "neuter heart as anchor: dem Herzen, со звездой, de l'étoile": (
        Description("detailed", (RED_HEART, GREY_STAR), "prefix", sentences=(
            RelationSentence(bare(RED_HEART), "next_to", bare(GREY_STAR)),
            RelationSentence(bare(GREY_STAR), "left_of", bare(RED_HEART)),
        )),
        {
            "en": "The image shows a big red heart and a small light-grey star. "
                  "The heart is next to the star. The star is to the left of the heart.",
            "de": "Das Bild zeigt ein großes rotes Herz und einen kleinen hellgrauen Stern. "
                  "Das Herz ist neben dem Stern. Der Stern ist links vom Herzen.",
            "fr": "La photo montre un grand cœur rouge et une petite étoile gris clair. "
                  "Le cœur est à côté de l'étoile. L'étoile est à gauche du cœur.",
            "es": "La imagen muestra un corazón rojo grande y una estrella gris claro pequeña. "
                  "El corazón está al lado de la estrella. La estrella está a la izquierda del corazón.",
            "ru": "На картинке изображено большое красное сердце и маленькая светло-серая звезда. "
                  "Сердце находится рядом со звездой. Звезда находится слева от сердца.",
            "zh": "图为一个红色的大心形和一颗浅灰色的小星星。心形在星星的旁边。星星在心形的左边。",
        },
    ),
    "known pair as anchor: beiden, обеих/обеими, des deux": (
        Description("detailed", (DARK_BLUE_CIRCLE, TWO_YELLOW_STARS), "exist", sentences=(
            RelationSentence(bare(DARK_BLUE_CIRCLE), "left_of", bare(TWO_YELLOW_STARS)),
            RelationSentence(bare(DARK_BLUE_CIRCLE), "below", bare(TWO_YELLOW_STARS)),
        )),
        {
            "en": "There is a big dark-blue circle and two small yellow stars. "
                  "The circle is to the left of the two stars. The circle is below the two stars.",
            "de": "Auf dem Bild sind ein großer dunkelblauer Kreis und zwei kleine gelbe Sterne. "
                  "Der Kreis ist links von den beiden Sternen. Der Kreis ist unter den beiden Sternen.",
            "fr": "Il y a un grand cercle bleu foncé et deux petites étoiles jaunes. "
                  "Le cercle est à gauche des deux étoiles. Le cercle est au-dessous des deux étoiles.",
            "es": "Hay un círculo azul oscuro grande y dos estrellas amarillas pequeñas. "
                  "El círculo está a la izquierda de las dos estrellas. "
                  "El círculo está debajo de las dos estrellas.",
            "ru": "На картинке есть большой синий круг и две маленькие желтые звезды. "
                  "Круг находится слева от обеих звезд. Круг находится под обеими звездами.",
            "zh": "图中有一个深蓝色的大圆形和两颗黄色的小星星。圆形在两颗星星的左边。圆形在两颗星星的下方。",
        },
    ),
    "five and more: genitive plural, declined numerals": (
        Description("paragraph", (Mention("star", "red", "plain", "small", 5),), "prefix", sentences=(
            RelationSentence(RED_CIRCLE, "left_of", Mention("star", "red", "plain", "small", 5)),
            RelationSentence(RED_CIRCLE, "above", Mention("star", "red", "plain", "small", 5)),
            CountSentence(6),
        )),
        {
            "en": "The image shows five small red stars. "
                  "A big red circle is to the left of five small red stars. "
                  "A big red circle is above five small red stars. There are six objects in total.",
            "de": "Das Bild zeigt fünf kleine rote Sterne. "
                  "Links von fünf kleinen roten Sternen ist ein großer roter Kreis. "
                  "Über fünf kleinen roten Sternen ist ein großer roter Kreis. "
                  "Insgesamt sind es sechs Objekte.",
            "fr": "La photo montre cinq petites étoiles rouges. "
                  "Il y a un grand cercle rouge à gauche de cinq petites étoiles rouges. "
                  "Il y a un grand cercle rouge au-dessus de cinq petites étoiles rouges. "
                  "Il y a six objets au total.",
            "es": "La imagen muestra cinco estrellas rojas pequeñas. "
                  "Hay un círculo rojo grande a la izquierda de cinco estrellas rojas pequeñas. "
                  "Hay un círculo rojo grande encima de cinco estrellas rojas pequeñas. "
                  "En total hay seis objetos.",
            "ru": "На картинке изображены пять маленьких красных звезд. "
                  "Слева от пяти маленьких красных звезд находится большой красный круг. "
                  "Над пятью маленькими красными звездами находится большой красный круг. "
                  "Всего на картинке шесть объектов.",
            "zh": "图为五颗红色的小星星。五颗红色小星星的左边有一个红色的大圆形。"
                  "五颗红色小星星的上方有一个红色的大圆形。图中总共有六个物体。",
        },
    ),
    "со before a consonant cluster": (
        Description("detailed", (RED_CIRCLE, LIGHT_GREEN_SQUARE), "prefix", sentences=(
            RelationSentence(bare(RED_CIRCLE), "next_to", bare(LIGHT_GREEN_SQUARE, colour=True)),
        )),
        {
            "en": "The image shows a big red circle and a small light-green square. "
                  "The circle is next to the light-green square.",
            "ru": "На картинке изображен большой красный круг и маленький светло-зеленый квадрат. "
                  "Круг находится рядом со светло-зеленым квадратом.",
        },
    ),
    # issue 17: the new forms, openers, relative clauses, joins, pronouns and known re-mentions
    "relation form 1: locative inversion, known subject last": (
        Description("detailed", (GREEN_STAR, RED_CIRCLE), "prefix",
                    sentences=(RelationSentence(bare(GREEN_STAR), "left_of", bare(RED_CIRCLE), form=1),)),
        {
            "en": "The image shows a small green star and a big red circle. "
                  "To the left of the circle is the star.",
            "de": "Das Bild zeigt einen kleinen grünen Stern und einen großen roten Kreis. "
                  "Links vom Kreis liegt der Stern.",
            "fr": "La photo montre une petite étoile verte et un grand cercle rouge. "
                  "À gauche du cercle se trouve l'étoile.",
            "es": "La imagen muestra una estrella verde pequeña y un círculo rojo grande. "
                  "A la izquierda del círculo está la estrella.",
            "ru": "На картинке изображена маленькая зеленая звезда и большой красный круг. "
                  "Слева от круга находится звезда.",
            "zh": "图为一颗绿色的小星星和一个红色的大圆形。圆形的左边是星星。",
        },
    ),
    "relation form 2: seen from the anchor / object first": (
        Description("detailed", (GREEN_STAR, TWO_YELLOW_STARS), "see",
                    sentences=(RelationSentence(bare(GREEN_STAR, colour=True), "above",
                                                bare(TWO_YELLOW_STARS, colour=True), form=2),)),
        {
            "en": "We see a small green star and two small yellow stars. "
                  "The two yellow stars have the green star above them.",
            "de": "Man sieht einen kleinen grünen Stern und zwei kleine gelbe Sterne. "
                  "Den grünen Stern sieht man über den beiden gelben Sternen.",
            "fr": "On voit une petite étoile verte et deux petites étoiles jaunes. "
                  "L'étoile verte est située au-dessus des deux étoiles jaunes.",
            "es": "Vemos una estrella verde pequeña y dos estrellas amarillas pequeñas. "
                  "La estrella verde queda encima de las dos estrellas amarillas.",
            "ru": "Мы видим маленькую зеленую звезду и две маленькие желтые звезды. "
                  "Зеленая звезда расположена над обеими желтыми звездами.",
            "zh": "可以看到一颗绿色的小星星和两颗黄色的小星星。"
                  "在两颗黄色星星的上方可以看到绿色的星星。",
        },
    ),
    "position forms 1 and 2 joined, a pronoun, count and background forms": (
        Description("paragraph", (TWO_GREY_TRIANGLES, LIGHT_RED_STAR), "see", sentences=(
            PositionSentence(bare(LIGHT_RED_STAR), ("top",), form=1),
            PositionSentence(bare(TWO_GREY_TRIANGLES), ("bottom_left", "bottom_right"), form=2, joined=True),
            RelationSentence(pronoun(TWO_GREY_TRIANGLES), "below", bare(LIGHT_RED_STAR)),
            CountSentence(3, form=1),
            BackgroundSentence("black", form=2),
        )),
        {
            "en": "We see two small dark-grey triangles and a big light-red star. "
                  "At the top is the star, and the two triangles can be seen in the bottom left corner "
                  "and in the bottom right corner. "
                  "They are below the star. In total, the image contains three objects. "
                  "The scene is set against a black background.",
            "de": "Man sieht zwei kleine dunkelgraue Dreiecke und einen großen hellroten Stern. "
                  "Oben liegt der Stern, und die beiden Dreiecke sieht man in der unteren linken Ecke "
                  "und in der unteren rechten Ecke. Sie sind unter dem Stern. "
                  "Insgesamt enthält das Bild drei Objekte. "
                  "Das Ganze ist vor einem schwarzen Hintergrund zu sehen.",
            "fr": "On voit deux petits triangles gris foncé et une grande étoile rouge clair. "
                  "En haut se trouve l'étoile, et on voit les deux triangles dans le coin inférieur gauche "
                  "et dans le coin inférieur droit. Ils sont au-dessous de l'étoile. "
                  "Au total, l'image contient trois objets. Les objets se détachent sur un fond noir.",
            "es": "Vemos dos triángulos gris oscuro pequeños y una estrella rojo claro grande. "
                  "Arriba está la estrella, y se ven los dos triángulos en la esquina inferior izquierda "
                  "y en la esquina inferior derecha. Están debajo de la estrella. "
                  "En total, la imagen contiene tres objetos. Los objetos destacan sobre un fondo negro.",
            "ru": "Мы видим два маленьких темно-серых треугольника и большую светло-красную звезду. "
                  "Вверху находится звезда, а оба треугольника видны в левом нижнем углу и в правом нижнем "
                  "углу. Они находятся под звездой. Всего изображено три объекта. На картинке черный фон.",
            "zh": "可以看到两个深灰色的小三角形和一颗浅红色的大星星。"
                  "顶部是星星，在左下角和右下角可以看到两个三角形。它们在星星的下方。"
                  "整幅图共包含三个物体。画面的底色是黑色的。",
        },
    ),
    "depicted, with a relative clause on the first noun phrase": (
        Description("short", (GREEN_STAR, RED_CIRCLE, ORANGE_DIAMOND), "depicted", relative="left_of"),
        {
            "en": "Depicted are a small green star that is to the left of a big red circle, "
                  "as well as a small orange diamond.",
            "de": "Abgebildet sind ein kleiner grüner Stern, der links von einem großen roten Kreis liegt, "
                  "sowie eine kleine orangefarbene Raute.",
            "fr": "Sur la photo, on voit une petite étoile verte qui est à gauche d'un grand cercle rouge, "
                  "ainsi qu'un petit losange orange.",
            "es": "Se ve una estrella verde pequeña que está a la izquierda de un círculo rojo grande, "
                  "así como un rombo naranja pequeño.",
            "ru": "Изображена маленькая зеленая звезда, которая находится слева от большого красного круга, "
                  "и маленький оранжевый ромб.",
            "zh": "画面上是一颗位于红色大圆形左边的绿色小星星和一个橙色的小菱形。",
        },
    ),
    "fragment caption with its background; one object, depicted": (
        Description("short", (LIGHT_BLUE_CIRCLE,), "fragment", background="white"),
        {
            "en": "A small light-blue circle on a white background.",
            "de": "Ein kleiner hellblauer Kreis vor weißem Hintergrund.",
            "fr": "Un petit cercle bleu clair sur fond blanc.",
            "es": "Un círculo azul claro pequeño sobre un fondo blanco.",
            "ru": "Маленький голубой круг на белом фоне.",
            "zh": "一个浅蓝色的小圆形，背景是白色的。",
        },
    ),
    "statement register: a new subject after its new anchor, then known": (
        Description("detailed", (GREEN_STAR, RED_CIRCLE), "statement", sentences=(
            RelationSentence(GREEN_STAR, "next_to", RED_CIRCLE, form=1),
            PositionSentence(bare(GREEN_STAR), ("left",)),
            PositionSentence(pronoun(RED_CIRCLE), ("centre",), joined=True),
        )),
        {
            "en": "Next to a big red circle is a small green star. The star is on the left, and it is in the "
                  "centre.",
            "de": "Neben einem großen roten Kreis liegt ein kleiner grüner Stern. "
                  "Der Stern ist links, und er ist in der Mitte.",
        },
    ),
    "statement register, new subject in form 0 and 2; count forms for one object": (
        Description("paragraph", (ORANGE_DIAMOND,), "statement", sentences=(
            PositionSentence(ORANGE_DIAMOND, ("top_right",), form=2),
            CountSentence(1, form=1),
            CountSentence(1, form=2),
            BackgroundSentence("beige", form=1),
        )),
        {
            "en": "A small orange diamond can be seen in the top right corner. "
                  "The image contains a single object. The picture has just one object. "
                  "Everything is on a beige background.",
            "de": "Man sieht eine kleine orangefarbene Raute in der oberen rechten Ecke. "
                  "Insgesamt enthält das Bild ein einziges Objekt. "
                  "Auf dem Bild gibt es nur ein einziges Objekt. "
                  "Alles befindet sich vor beigem Hintergrund.",
            "fr": "On voit un petit losange orange dans le coin supérieur droit. "
                  "Au total, l'image ne contient qu'un objet. On ne compte qu'un seul objet. "
                  "Tout est sur fond beige.",
            "es": "Se ve un rombo naranja pequeño en la esquina superior derecha. "
                  "En total, la imagen contiene un solo objeto. La imagen tiene un único objeto. "
                  "Todo está sobre un fondo beige.",
            "ru": "В правом верхнем углу виден маленький оранжевый ромб. Изображен всего один объект. "
                  "Объект на картинке всего один. Все изображено на бежевом фоне.",
            "zh": "在右上角可以看到一个橙色的小菱形。整幅图只包含一个物体。图中的物体只有一个。"
                  "画面以米色为背景。",
        },
    ),
    "seven keys and one key: counts above four, homonyms told apart by size": (
        Description("paragraph", (Mention("key_door", "yellow", "plain", "small", 7),
                                  Mention("key_keyboard", "yellow", "plain", "big")), "exist", sentences=(
            RelationSentence(bare(Mention("key_door", "yellow", "plain", "small", 7), size=True), "above",
                             bare(Mention("key_keyboard", "yellow", "plain", "big"), size=True)),
            CountSentence(8, form=2),
        )),
        {
            "en": "There are seven small yellow keys and a big yellow key. "
                  "The seven small keys are above the big key. The picture has eight objects altogether.",
            "de": "Auf dem Bild sind sieben kleine gelbe Schlüssel und eine große gelbe Taste. "
                  "Die sieben kleinen Schlüssel sind über der großen Taste. "
                  "Auf dem Bild gibt es acht Objekte.",
            "fr": "Il y a sept petites clés jaunes et une grande touche jaune. "
                  "Les sept petites clés sont au-dessus de la grande touche. On compte huit objets en tout.",
            "es": "Hay siete llaves amarillas pequeñas y una tecla amarilla grande. "
                  "Las siete llaves pequeñas están encima de la tecla grande. "
                  "La imagen tiene ocho objetos en total.",
            "ru": "На картинке есть семь маленьких желтых ключей и большая желтая клавиша. "
                  "Семь маленьких ключей находятся над большой клавишей. Объектов на картинке всего восемь.",
            "zh": "图中有七把黄色的小钥匙和一个黄色的大按键。七把小钥匙在大按键的上方。"
                  "图中的物体总共有八个。",
        },
    ),
    "homonyms: English bow and bow, German Schleife and Bogen; both as subject": (
        Description("detailed", (Mention("bow_ribbon", "red", "plain", "big"),
                                 Mention("bow_weapon", "green", "plain", "small", 2),
                                 Mention("nut_food", "grey", "dark", "small"),
                                 Mention("bat_animal", "purple", "plain", "big")), "prefix", sentences=(
            RelationSentence(bare(Mention("nut_food", "grey", "dark", "small")), "right_of",
                             bare(Mention("bat_animal", "purple", "plain", "big"))),
            PositionSentence(bare(Mention("bow_weapon", "green", "plain", "small", 2), colour=True),
                             ("left", "right")),
        )),
        {
            "en": "The image shows a big red bow, two small green bows, a small dark-grey nut "
                  "and a big purple bat. The nut is to the right of the bat. "
                  "The two green bows are on the left and on the right.",
            "de": "Das Bild zeigt eine große rote Schleife, zwei kleine grüne Bögen, "
                  "eine kleine dunkelgraue Nuss und eine große violette Fledermaus. "
                  "Die Nuss ist rechts von der Fledermaus. "
                  "Die beiden grünen Bögen sind links und rechts.",
            "fr": "La photo montre un grand nœud rouge, deux petits arcs verts, une petite noix gris foncé "
                  "et une grande chauve-souris violette. La noix est à droite de la chauve-souris. "
                  "Les deux arcs verts sont à gauche et à droite.",
            "es": "La imagen muestra un lazo rojo grande, dos arcos verdes pequeños, "
                  "una nuez gris oscuro pequeña y un murciélago morado grande. "
                  "La nuez está a la derecha del murciélago. "
                  "Los dos arcos verdes están a la izquierda y a la derecha.",
            "ru": "На картинке изображен большой красный бант, два маленьких зеленых лука, "
                  "маленький темно-серый орех и большая фиолетовая летучая мышь. "
                  "Орех находится справа от летучей мыши. Оба зеленых лука находятся слева и справа.",
            "zh": "图为一个红色的大蝴蝶结、两张绿色的小弓、一颗深灰色的小坚果和一只紫色的大蝙蝠。"
                  "坚果在蝙蝠的右边。两张绿色的弓分别在左侧和右侧。",
        },
    ),
    "animate bats: the accusative plural is the genitive; five nuts; measure words 只 and 个": (
        Description("short", (Mention("bat_animal", "grey", "plain", "small", 3),
                              Mention("nut_hardware", "red", "dark", "big", 5)), "see"),
        {
            "ru": "Мы видим трех маленьких серых летучих мышей и пять больших темно-красных гаек.",
            "zh": "可以看到三只灰色的小蝙蝠和五个深红色的大螺母。",
        },
    ),
    "statement: a new subject last, a joined pronoun after it, a new pair as anchor, then оба": (
        Description("paragraph", (RED_HEART, TWO_YELLOW_STARS), "statement", sentences=(
            PositionSentence(RED_HEART, ("top",)),
            RelationSentence(pronoun(RED_HEART), "above", TWO_YELLOW_STARS, joined=True),
            PositionSentence(bare(TWO_YELLOW_STARS), ("bottom_left", "bottom")),
        )),
        {
            "ru": "Вверху находится большое красное сердце, и оно находится над двумя маленькими желтыми "
                  "звездами. Обе звезды находятся в левом нижнем углу и внизу.",
            "zh": "顶部有一个红色的大心形，它在两颗黄色小星星的上方。两颗星星分别在左下角和底部。",
        },
    ),
    "a joined pronoun after a known subject: а также, a zero subject": (
        Description("detailed", (GREY_STAR, DARK_BLUE_CIRCLE), "prefix", sentences=(
            PositionSentence(bare(GREY_STAR), ("centre",)),
            RelationSentence(pronoun(GREY_STAR), "right_of", bare(DARK_BLUE_CIRCLE), joined=True),
        )),
        {
            "ru": "На картинке изображена маленькая светло-серая звезда и большой синий круг. "
                  "Звезда находится в центре, а также справа от круга.",
            "zh": "图为一颗浅灰色的小星星和一个深蓝色的大圆形。星星在中间，在圆形的右边。",
        },
    ),
    "pronoun joined to its own subject; elision before a vowel (l'écrou), de la, del": (
        Description("detailed", (Mention("nut_hardware", "grey", "plain", "small"),
                                 Mention("bat_club", "blue", "dark", "big")), "exist", sentences=(
            PositionSentence(bare(Mention("nut_hardware", "grey", "plain", "small")), ("top_left",)),
            RelationSentence(pronoun(Mention("nut_hardware", "grey", "plain", "small")), "left_of",
                             bare(Mention("bat_club", "blue", "dark", "big")), joined=True),
        )),
        {
            "fr": "Il y a un petit écrou gris et une grande batte bleu foncé. "
                  "L'écrou est dans le coin supérieur gauche et il est à gauche de la batte.",
            "es": "Hay una tuerca gris pequeña y un bate azul oscuro grande. "
                  "La tuerca está en la esquina superior izquierda y está a la izquierda del bate.",
        },
    ),
    "relative clause of two plural groups, with the background": (
        Description("short", (Mention("bat_animal", "orange", "plain", "small", 3),
                              Mention("key_keyboard", "green", "light", "big", 2)), "exist",
                    background="white", relative="below"),
        {
            "fr": "Il y a trois petites chauves-souris orange qui sont au-dessous de deux grandes touches "
                  "vert clair, le tout sur fond blanc.",
            "es": "Hay tres murciélagos naranjas pequeños que están debajo de dos teclas verde claro "
                  "grandes, todo sobre un fondo blanco.",
        },
    ),
    "statement register: eight nuts, a new anchor after 'de' (de huit), inversion of a known plural": (
        Description("detailed", (Mention("heart", "red", "plain", "small"),
                                 Mention("nut_food", "yellow", "dark", "big", 8)), "statement", sentences=(
            RelationSentence(Mention("heart", "red", "plain", "small"), "above",
                             Mention("nut_food", "yellow", "dark", "big", 8)),
            PositionSentence(bare(Mention("nut_food", "yellow", "dark", "big", 8), colour=True),
                             ("left", "centre", "right", "bottom"), form=1),
        )),
        {
            "fr": "Il y a un petit cœur rouge au-dessus de huit grandes noix jaune foncé. "
                  "À gauche, au centre, à droite et en bas se trouvent les huit noix jaune foncé.",
            "es": "Hay un corazón rojo pequeño encima de ocho nueces amarillo oscuro grandes. "
                  "A la izquierda, en el centro, a la derecha y abajo están las ocho nueces amarillo oscuro.",
        },
    ),
    "three joined clauses: semicolons, the last with its conjunction": (
        Description("short", (GREEN_STAR, RED_CIRCLE, ORANGE_DIAMOND), "statement", sentences=(
            PositionSentence(GREEN_STAR, ("top",)),
            PositionSentence(RED_CIRCLE, ("bottom",), form=1, joined=True),
            PositionSentence(ORANGE_DIAMOND, ("centre",), form=2, joined=True),
        )),
        {
            "fr": "Il y a une petite étoile verte en haut ; en bas se trouve un grand cercle rouge ; "
                  "et on voit un petit losange orange au centre.",
            "es": "Hay una estrella verde pequeña arriba; abajo hay un círculo rojo grande; "
                  "y se ve un rombo naranja pequeño en el centro.",
        },
    ),
}

PAIRS = [(name, lang) for name, (_, expected) in CASES.items() for lang in expected]


@pytest.mark.parametrize(("case", "lang"), PAIRS, ids=[f"{lang}: {name}" for name, lang in PAIRS])
def test_canonical_realisation_matches_hand_written_sentence(case, lang):
    description, expected = CASES[case]
    assert realise(description, lang) == expected[lang]


def test_every_language_has_at_least_eight_hand_written_cases():
    for lang in ("en", "de", "fr", "es", "ru", "zh"):
        assert sum(lang in expected for _, expected in CASES.values()) >= 8


def test_english_and_german_pin_every_form_opener_and_discourse_device():
    for lang in ("en", "de"):
        plans = [plan for plan, expected in CASES.values() if lang in expected]
        sentences = [s for plan in plans for s in plan.sentences]
        assert {plan.opener for plan in plans} == set(OPENERS)
        for kind, forms in FORMS.items():
            assert {s.form for s in sentences if isinstance(s, kind)} == set(range(forms)), (lang, kind)
        assert any(plan.relative for plan in plans) and any(s.joined for s in sentences)
        assert any(s.subject.pronoun for s in sentences if hasattr(s, "subject"))
