import math

import pytest
import torch
from torch import nn

from florenz.config import ConfigError
from florenz.train.config import OptimConfig
from florenz.train.optim import build_optimizer, lr_factor, no_decay_names


class RMSNorm(nn.Module):  # stands in for Gemma's: matched by class name
    def __init__(self, width: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(5, 4)
        self.proj = nn.Linear(4, 4)
        self.norm = nn.LayerNorm(4)
        self.rms = RMSNorm(4)
        self.encoder_attn_gate = nn.Parameter(torch.ones(1))


def test_cosine_matches_hand_computed_values():
    config = OptimConfig(schedule="cosine", warmup_steps=4)
    expected = {0: 0.0, 1: 0.25, 2: 0.5, 3: 0.75, 4: 1.0, 6: 0.5 * (1 + math.cos(math.pi / 4)), 8: 0.5,
                11: 0.5 * (1 + math.cos(7 * math.pi / 8)), 12: 0.0}
    for step, factor in expected.items():
        assert lr_factor(step, 12, config) == pytest.approx(factor, abs=1e-12), step


def test_cosine_matches_transformers_schedule():
    from transformers import get_cosine_schedule_with_warmup

    config = OptimConfig(schedule="cosine", warmup_steps=7)
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = get_cosine_schedule_with_warmup(optimizer, num_warmup_steps=7, num_training_steps=50)
    for step in range(50):
        assert lr_factor(step, 50, config) == pytest.approx(optimizer.param_groups[0]["lr"], abs=1e-12)
        optimizer.step()
        scheduler.step()


def test_wsd_holds_the_peak_then_decays_over_the_last_fraction():
    config = OptimConfig(schedule="wsd", warmup_steps=2, cooldown_fraction=0.2)
    factors = [lr_factor(step, 20, config) for step in range(20)]
    # 4 cool-down steps start at step 16: 1, 3/4, 1/2, 1/4
    assert factors == pytest.approx([0.0, 0.5] + [1.0] * 14 + [1.0, 0.75, 0.5, 0.25])
    sqrt_config = OptimConfig(schedule="wsd", warmup_steps=2, cooldown_fraction=0.2, cooldown_shape="1-sqrt")
    assert lr_factor(18, 20, sqrt_config) == pytest.approx(1 - math.sqrt(0.5))


def test_wsd_stable_phase_is_the_same_for_every_budget():
    config = OptimConfig(schedule="wsd", warmup_steps=3, cooldown_fraction=0.25)
    for step in range(24):  # budget of 32 steps decays from step 24 on
        assert lr_factor(step, 32, config) == lr_factor(step, 100, config)


def test_keywords_select_module_types_and_other_entries_are_name_patterns():
    assert no_decay_names(Tiny(), ("LayerNorm",)) == {"norm.weight", "norm.bias"}
    wider = no_decay_names(Tiny(), ("bias", "LayerNorm", "RMSNorm", "Embedding", "gate$"))
    assert wider == {"proj.bias", "norm.weight", "norm.bias", "rms.weight", "embed_tokens.weight",
                     "encoder_attn_gate"}


@pytest.mark.parametrize("size", ["world-xs-gemma", "world-xxs"])
def test_default_no_decay_equals_transformers_trainer_on_a_florenz_model(size):
    from transformers import Trainer

    from florenz.model.florenz import FlorenzModel
    from florenz.model.sizes import SIZES

    model = FlorenzModel(SIZES[size])
    decayed = set(Trainer.get_decay_parameter_names(None, model))  # the method does not use the Trainer
    exempt = no_decay_names(model, OptimConfig().no_decay)
    names = {name for name, _ in model.named_parameters()}
    assert exempt == names - decayed
    if size == "world-xs-gemma":  # the Gemma norms, old and new, are exempt; the gates are not
        assert {"decoder.norm.weight", "decoder.layers.0.input_layernorm.weight",
                "decoder.layers.0.post_encoder_attention_layernorm.weight"} <= exempt
        assert "decoder.layers.0.encoder_attn_gate" not in exempt


def test_an_invalid_no_decay_pattern_is_a_config_error_naming_the_option():
    with pytest.raises(ConfigError, match="--optim.no-decay"):
        no_decay_names(Tiny(), ("bias", "(unclosed"))


def test_weight_decay_shrinks_only_decayed_parameters():
    model = Tiny()
    config = OptimConfig(lr=0.1, weight_decay=0.5)
    optimizer = build_optimizer(model, config)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)  # the Adam term is 0: only decoupled decay moves a weight
    optimizer.step()
    for name, p in model.named_parameters():
        factor = 1.0 if name in ("proj.bias", "norm.weight", "norm.bias") else 1 - 0.1 * 0.5
        torch.testing.assert_close(p.detach(), before[name] * factor)


def test_frozen_parameters_are_left_out_of_the_optimizer():
    model = Tiny()
    model.proj.weight.requires_grad_(False)
    optimizer = build_optimizer(model, OptimConfig())
    ids = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert id(model.proj.weight) not in ids and len(ids) == len(list(model.parameters())) - 1
