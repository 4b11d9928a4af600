"""Key/value cache for generation: one preallocated buffer per layer, cross-attention computed once.

Both decoder kinds use it the same way: `forward(..., cache=cache)` reads `cache.length` as the position
offset of the new tokens, calls `update_self` in each layer, takes cross-attention keys/values from
`cross[layer]` (filling it on the first call), takes what does not change during one generation (encoder
masks, position tables) from `constants`, and the model advances `length` at the end of the step.

Self-attention keys/values are written in place into a buffer of `max_length` positions allocated on the
first step (no per-step concatenation or reallocation); a step attends a view of the filled part. Without
`max_length` the buffer doubles when full, so that a cache built by hand still works for any length.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from florenz.errors import FlorenzError


class KVCache:
    def __init__(self, num_layers: int, max_length: int | None = None) -> None:
        if max_length is not None and max_length < 1:
            raise FlorenzError(f"a KV cache needs max_length >= 1 (got {max_length})")
        self.max_length = max_length  # None: grow by doubling
        self.self_keys: list[torch.Tensor | None] = [None] * num_layers  # (B, nkv, capacity, hd)
        self.self_values: list[torch.Tensor | None] = [None] * num_layers
        self.cross: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * num_layers  # (B, nkv, S, hd)
        self.constants: dict[str, torch.Tensor | tuple[torch.Tensor, ...] | None] = {}
        self.length = 0  # decoder positions already in the cache
        # reorder's targets: the buffers a reorder replaced, reused by the next one
        self._spare_keys: list[torch.Tensor | None] = [None] * num_layers
        self._spare_values: list[torch.Tensor | None] = [None] * num_layers

    def constant(self, name: str, build: Callable[[], torch.Tensor | tuple[torch.Tensor, ...] | None]):
        """The tensor(s) a decoder derives once per generation (e.g. an additive encoder mask): built on the
        first call, returned as is afterwards."""
        if name not in self.constants:
            self.constants[name] = build()
        return self.constants[name]

    def _buffer(self, current: torch.Tensor | None, like: torch.Tensor, needed: int) -> torch.Tensor:
        """current, or a larger buffer (B, nkv, capacity, hd) holding its first `length` positions."""
        if current is not None and current.shape[2] >= needed:
            return current
        if self.max_length is not None:
            if needed > self.max_length:
                raise FlorenzError(f"the KV cache holds {self.max_length} positions but {needed} are needed; "
                                   f"build it with a larger max_length")
            capacity = self.max_length
        else:
            capacity = max(needed, 2 * (0 if current is None else current.shape[2]), 16)
        B, nkv, _, hd = like.shape
        # zeros, not empty: the flex kernel reads the whole buffer, and 0 · NaN of a masked key is NaN
        grown = like.new_zeros(B, nkv, capacity, hd)
        if current is not None:
            grown[:, :, :self.length] = current[:, :, :self.length]
        return grown

    def update_self(
        self, layer: int, keys: torch.Tensor, values: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Write this step's keys/values (B, nkv, T, hd) after the cached ones; return views of all so far,
        (B, nkv, length + T, hd)."""
        start, T = self.length, keys.shape[2]
        key_buffer, value_buffer = self.self_keys[layer], self.self_values[layer]
        if key_buffer is None or key_buffer.shape[2] < start + T:  # the first write, or a full buffer
            key_buffer = self.self_keys[layer] = self._buffer(key_buffer, keys, start + T)
            value_buffer = self.self_values[layer] = self._buffer(value_buffer, values, start + T)
        # narrow, not slicing: one view per write and read, where buffer[:, :, a:b] makes three
        key_buffer.narrow(2, start, T).copy_(keys)
        value_buffer.narrow(2, start, T).copy_(values)
        return key_buffer.narrow(2, 0, start + T), value_buffer.narrow(2, 0, start + T)

    def reorder(self, index: torch.Tensor) -> None:
        """Select batch rows of the self-attention keys/values (beam search): buffer becomes buffer[index].

        Cross-attention keys/values and the constants are left alone: beam search only moves rows among the
        beams of one input, which share the encoder output, so those rows are equal.
        """
        for buffers, spares in ((self.self_keys, self._spare_keys), (self.self_values, self._spare_values)):
            for layer, buffer in enumerate(buffers):
                if buffer is None:
                    continue
                # gather into the buffer the previous reorder left free, instead of allocating one per step
                spare = spares[layer]
                if spare is None or spare.shape != buffer.shape:
                    spare = torch.zeros_like(buffer)  # zeros beyond `length`, as in _buffer
                filled = slice(0, self.length)
                torch.index_select(buffer[:, :, filled], 0, index, out=spare[:, :, filled])
                buffers[layer], spares[layer] = spare, buffer
