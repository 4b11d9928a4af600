"""Key/value cache for generation: self-attention grows by one step, cross-attention is computed once.

Both decoder kinds use it the same way: `forward(..., cache=cache)` reads `cache.length` as the position
offset of the new tokens, calls `update_self` in each layer, takes cross-attention keys/values from
`cross[layer]` (filling it on the first call) and the model advances `length` at the end of the step.
"""

from __future__ import annotations

import torch


class KVCache:
    def __init__(self, num_layers: int) -> None:
        self.self_keys: list[torch.Tensor | None] = [None] * num_layers  # (B, nkv, t, hd)
        self.self_values: list[torch.Tensor | None] = [None] * num_layers
        self.cross: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * num_layers  # (B, nkv, S, hd)
        self.length = 0  # decoder positions already in the cache

    def update_self(
        self, layer: int, keys: torch.Tensor, values: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Append this step's keys/values (B, nkv, t, hd) and return all of them so far."""
        if self.self_keys[layer] is not None:
            keys = torch.cat([self.self_keys[layer], keys], dim=2)
            values = torch.cat([self.self_values[layer], values], dim=2)
        self.self_keys[layer], self.self_values[layer] = keys, values
        return keys, values

    def reorder(self, index: torch.Tensor) -> None:
        """Select batch rows (beam search): every cached tensor becomes tensor[index]."""
        def pick(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.index_select(0, index)

        self.self_keys = [pick(t) for t in self.self_keys]
        self.self_values = [pick(t) for t in self.self_values]
        self.cross = [None if kv is None else (pick(kv[0]), pick(kv[1])) for kv in self.cross]
