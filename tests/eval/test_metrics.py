"""Metrics against their references: pycocoevalcap's Cider, sacrebleu, CLIPScore's formula on a tiny CLIP."""

import numpy as np
import pytest
import sacrebleu
import torch
from PIL import Image
from pycocoevalcap.cider.cider import Cider

from florenz.errors import FlorenzError
from florenz.eval.metrics import (
    ambiguity_accuracy,
    bleu,
    cider_d,
    cider_d_scores,
    clip_score,
    tokenize_for_cider,
)
from florenz.world.languages import LANGUAGES
from florenz.world.samples import caption
from florenz.world.scene import sample_scene


def world_corpus(lang: str, samples: int, seed: int) -> tuple[list[str], list[list[str]]]:
    """Hypotheses that describe their own scene (half the time) or another one, 1-5 references each."""
    rng = np.random.default_rng(seed)
    scenes = [sample_scene(rng) for _ in range(samples)]
    references = [[caption(scene, lang, "short", rng, prefix=False)["target"]
                   for _ in range(rng.integers(1, 6))] for scene in scenes]
    described = [i if rng.random() < 0.5 else rng.integers(samples) for i in range(samples)]
    hypotheses = [caption(scenes[i], lang, "short", rng)["target"] for i in described]
    return hypotheses, references


def pycocoevalcap_cider(hypotheses: list[list[str]], references: list[list[list[str]]]) -> tuple[float, list]:
    """pycocoevalcap's Cider (CIDEr-D) on space-joined tokens, as its PTB tokenizer would hand them over."""
    gts = {i: [" ".join(ref) for ref in refs] for i, refs in enumerate(references)}
    res = {i: [" ".join(hyp)] for i, hyp in enumerate(hypotheses)}
    return Cider().compute_score(gts, res)


def test_cider_d_matches_pycocoevalcap_on_random_tokens_with_edge_cases():
    rng = np.random.default_rng(0)
    vocabulary = [f"w{i}" for i in range(25)]

    def sentence() -> list[str]:
        return [vocabulary[i] for i in rng.integers(0, 25, rng.integers(0, 13))]

    references = [[sentence() for _ in range(rng.integers(1, 6))] for _ in range(200)]
    hypotheses = [sentence() for _ in range(200)]
    hypotheses[0] = list(references[0][0])  # exact match
    hypotheses[1] = []  # empty output
    hypotheses[2] = ["w3"]  # one word: pycocoevalcap's length counts bigrams, so Δ uses 0
    references[3] = [["w1", "w2"], ["w1", "w2"]]  # duplicate references
    expected_mean, expected = pycocoevalcap_cider(hypotheses, references)
    ours = cider_d_scores(hypotheses, references)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-6)
    assert abs(ours.mean() - expected_mean) < 1e-6
    assert expected_mean > 0.1  # the corpus is not degenerate


@pytest.mark.parametrize("lang", LANGUAGES)
def test_cider_d_matches_pycocoevalcap_on_world_captions(lang):
    hypotheses, references = world_corpus(lang, samples=40, seed=LANGUAGES.index(lang))
    tokens_of = [tokenize_for_cider(hyp, lang) for hyp in hypotheses]
    expected, _ = pycocoevalcap_cider(tokens_of, [[tokenize_for_cider(r, lang) for r in refs]
                                                  for refs in references])
    assert abs(cider_d(hypotheses, references, lang) - expected) < 1e-6
    assert expected > 0.2


def test_tokenize_for_cider_splits_chinese_into_characters_and_drops_punctuation():
    assert tokenize_for_cider("图为两个红色的圆、一个ＡＢＣ。", "zh") == [
        "图", "为", "两", "个", "红", "色", "的", "圆", "一", "个", "abc"]


def test_tokenize_for_cider_lowercases_cyrillic_and_keeps_hyphenated_words_whole():
    assert tokenize_for_cider("На картинке изображен Светло-оранжевый круг.", "ru") == [
        "на", "картинке", "изображен", "светлооранжевый", "круг"]


def test_tokenize_for_cider_splits_elisions_and_normalises_width():
    assert tokenize_for_cider("La photo montre l'arbre, «bleu» !", "fr") == [
        "la", "photo", "montre", "l", "arbre", "bleu"]
    assert tokenize_for_cider("ＴＨＥ  Image\tshows", "en") == ["the", "image", "shows"]


def test_bleu_matches_sacrebleu_with_one_stream_per_reference():
    hypotheses, references = world_corpus("de", samples=30, seed=7)
    references = [(refs * 3)[:3] for refs in references]  # three references each
    expected = sacrebleu.corpus_bleu(hypotheses, [list(stream) for stream in zip(*references)])
    assert bleu(hypotheses, references, "de") == pytest.approx(expected.score, abs=1e-9)
    assert 5 < expected.score < 100


def test_bleu_with_uneven_reference_counts_equals_padding_with_repeats():
    # BLEU clips by the maximum count over references and takes the closest reference length: repeating a
    # reference changes neither, so padding short lists with repeats is an independent layout to compare to
    hypotheses, references = world_corpus("fr", samples=30, seed=8)
    most = max(map(len, references))
    assert min(map(len, references)) < most
    padded = [(refs * most)[:most] for refs in references]
    expected = sacrebleu.corpus_bleu(hypotheses, [list(stream) for stream in zip(*padded)])
    assert bleu(hypotheses, references, "fr") == pytest.approx(expected.score, abs=1e-9)


def test_bleu_scores_chinese_with_the_zh_tokenizer():
    hypotheses, references = world_corpus("zh", samples=30, seed=9)
    streams = [list(stream) for stream in zip(*[(refs * 5)[:5] for refs in references])]
    expected = sacrebleu.corpus_bleu(hypotheses, streams, tokenize="zh").score
    with_13a = sacrebleu.corpus_bleu(hypotheses, streams, tokenize="13a").score
    assert bleu(hypotheses, references, "zh") == pytest.approx(expected, abs=1e-9)
    assert expected > with_13a + 10  # 13a sees whole Chinese clauses as single words


@pytest.mark.parametrize("call", [
    lambda: bleu(["a"], [["a"], ["b"]], "en"),
    lambda: cider_d(["a", "b"], [["a"], []], "en"),
    lambda: cider_d([], [], "en"),
    lambda: cider_d(["a"], ["a"], "en"),
    lambda: bleu(["a"], [["a"]], "English"),
    lambda: bleu([None], [["a"]], "en"),
    lambda: cider_d(["a"], [[["a"]]], "en"),
    lambda: cider_d_scores(["a b"], [[["a", "b"]]]),
])
def test_metrics_reject_malformed_input_with_a_florenz_error(call):
    with pytest.raises(FlorenzError):
        call()


def test_ambiguity_accuracy_counts_strictly_lower_correct_losses():
    # correct, tie (wrong, as in the reference), wrong, correct
    assert ambiguity_accuracy([1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 1.0, 5.0]) == 0.5
    assert ambiguity_accuracy(np.array([0.1]), np.array([0.2])) == 1.0
    with pytest.raises(FlorenzError, match="NaN"):
        ambiguity_accuracy([1.0, float("nan")], [2.0, 1.0])
    with pytest.raises(FlorenzError, match="equally long"):
        ambiguity_accuracy([1.0], [2.0, 1.0])


CLIP_WORDS = "a an the red blue green circle square star two and".split()


@pytest.fixture(scope="module")
def tiny_clip_dir(tmp_path_factory):
    """A random 2-layer CLIPModel (32 px images, word-level tokenizer) saved as a local directory."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, PreTrainedTokenizerFast

    out = tmp_path_factory.mktemp("clip")
    words = ["<pad>", "<unk>", "<bos>", "<eos>", *CLIP_WORDS]
    backend = Tokenizer(models.WordLevel({word: i for i, word in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(single="<bos> $A <eos>",
                                                           special_tokens=[("<bos>", 2), ("<eos>", 3)])
    PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>", bos_token="<bos>",
                            eos_token="<eos>").save_pretrained(out)
    processor = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor.save_pretrained(out)
    torch.manual_seed(0)
    config = CLIPConfig(
        text_config=dict(vocab_size=len(words), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=16, pad_token_id=0, bos_token_id=2,
                         eos_token_id=3),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           image_size=32, patch_size=8),
        projection_dim=16)
    CLIPModel(config).save_pretrained(out)
    return out


def test_clip_score_equals_the_formula_on_a_tiny_random_clip(tiny_clip_dir):
    from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel

    rng = np.random.default_rng(0)
    count = 40  # more than one batch of pairs
    images = [Image.fromarray(rng.integers(0, 256, (24 + i % 20, 40, 3), dtype=np.uint8))
              for i in range(count)]
    texts = [" ".join(rng.choice(CLIP_WORDS, rng.integers(1, 12))) for _ in range(count)]
    texts[0] = "a red circle and a star " * 5  # longer than the 16 positions: must be cut, not crash

    # cos from CLIPModel.forward, one pair at a time: logits_per_image = exp(logit_scale) * cos
    model = CLIPModel.from_pretrained(tiny_clip_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_clip_dir)
    processor = AutoImageProcessor.from_pretrained(tiny_clip_dir)
    cosines = []
    with torch.no_grad():
        for image, text in zip(images, texts):
            tokens = tokenizer([text], truncation=True, max_length=16, return_tensors="pt")
            pixels = processor(images=[image], return_tensors="pt")["pixel_values"]
            logits = model(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"],
                           pixel_values=pixels).logits_per_image
            cosines.append((logits / model.logit_scale.exp()).item())
    cosines = np.array(cosines)
    assert (cosines < 0).any() and (cosines > 0).any()  # the max(cos, 0) clamp is exercised
    assert clip_score(images, texts, str(tiny_clip_dir)) == pytest.approx(
        np.mean(2.5 * np.maximum(cosines, 0)), abs=1e-5)
    assert clip_score(images, texts, str(tiny_clip_dir), w=1.0) == pytest.approx(
        np.mean(np.maximum(cosines, 0)), abs=1e-5)


def test_clip_score_names_a_directory_without_a_model(tmp_path):
    with pytest.raises(FlorenzError, match="config.json"):
        clip_score([Image.new("RGB", (8, 8))], ["a"], str(tmp_path))
