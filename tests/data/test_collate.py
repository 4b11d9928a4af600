import io

import numpy as np
import pytest
import torch
from PIL import Image

from florenz.data.collate import EncodedSample, collate, image_to_tensor, shift_right, truncate


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_image_is_normalised_with_imagenet_statistics():
    pixels = np.zeros((4, 4, 3), dtype=np.uint8)
    pixels[..., 0] = 255  # pure red
    tensor = image_to_tensor(_png(pixels), 4)
    assert tensor.shape == (3, 4, 4) and tensor.dtype == torch.float32
    # hand-computed: (1 - 0.485) / 0.229, (0 - 0.456) / 0.224, (0 - 0.406) / 0.225
    expected = torch.tensor([2.2489083, -2.0357143, -1.8044444])
    torch.testing.assert_close(tensor[:, 2, 3], expected, rtol=0, atol=1e-5)


def test_image_is_resized_bicubic_to_the_model_side():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
    tensor = image_to_tensor(_png(pixels), 8)
    reference = np.asarray(Image.fromarray(pixels).resize((8, 8), Image.Resampling.BICUBIC), dtype=np.float32)
    reference = (reference / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    torch.testing.assert_close(tensor, torch.tensor(reference.transpose(2, 0, 1), dtype=torch.float32))


def test_truncation_cuts_the_end_including_eos():
    assert truncate([2, 10, 11, 12, 1], 3) == [2, 10, 11]
    assert truncate([2, 10, 1], 5) == [2, 10, 1]


def test_shift_right_starts_with_eos_and_pads_ignored_labels():
    labels = torch.tensor([[2, 7, 8, 1], [2, 9, 1, -100]])
    assert shift_right(labels, 1, 0).tolist() == [[1, 2, 7, 8], [1, 2, 9, 1]]
    labels = torch.tensor([[2, 9, -100, -100]])
    assert shift_right(labels, 1, 0).tolist() == [[1, 2, 9, 0]]


def test_collate_pads_prompts_with_encoder_pad_and_labels_with_ignore_index():
    image = torch.zeros(3, 2, 2)
    samples = [EncodedSample([2, 5, 6, 1], [2, 7, 1], image),
               EncodedSample([2, 5, 1], [2, 7, 8, 9, 1], image + 1)]
    batch = collate(samples, prompt_pad_token_id=9, decoder_start_token_id=1, target_pad_token_id=0)
    assert batch["input_ids"].tolist() == [[2, 5, 6, 1], [2, 5, 1, 9]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    assert batch["labels"].tolist() == [[2, 7, 1, -100, -100], [2, 7, 8, 9, 1]]
    assert batch["decoder_input_ids"].tolist() == [[1, 2, 7, 1, 0], [1, 2, 7, 8, 9]]
    assert batch["pixel_values"].shape == (2, 3, 2, 2) and batch["pixel_values"][1].eq(1).all()


def test_text_only_samples_give_a_decoder_only_batch():
    batch = collate([EncodedSample([], [2, 4, 1]), EncodedSample([], [2, 1])], prompt_pad_token_id=0)
    assert set(batch) == {"decoder_input_ids", "labels"}
    assert batch["labels"].tolist() == [[2, 4, 1], [2, 1, -100]]


@pytest.mark.parametrize("length", [1, 3])
def test_shift_right_keeps_the_shape(length):
    labels = torch.full((2, length), 5)
    assert shift_right(labels, 1, 0).shape == (2, length)


def test_padding_to_a_multiple_rounds_both_lengths_up():
    samples = [EncodedSample([2, 5, 1], [2, 7, 8, 1], torch.zeros(3, 2, 2))]
    batch = collate(samples, prompt_pad_token_id=0, pad_to_multiple_of=8)
    assert batch["input_ids"].shape == (1, 8) and batch["attention_mask"].tolist() == [[1] * 3 + [0] * 5]
    assert batch["labels"].tolist() == [[2, 7, 8, 1] + [-100] * 4]
    assert batch["decoder_input_ids"].tolist() == [[1, 2, 7, 8, 1, 0, 0, 0]]
