"""Greedy and beam-search generation for Florenz models, with a KV cache (reference §6.2–6.3, §9.2.8/10).

A model is anything with `config` (decoder_start_token_id, eos_token_id, pad_token_id),
`encode(pixel_values, input_ids, attention_mask) -> (encoder_hidden (B, S, D), encoder_mask (B, S))` and
`decode(decoder_input_ids (B, T), encoder_hidden, encoder_mask, cache=None) -> logits (B, T, V)` whose
decoder advances `cache.length`, and `decoder.num_layers` (the size of its KVCache).

Every setting is an argument: nothing comes from a hidden generation config (the reference inherited
`no_repeat_ngram_size=3`, `early_stopping` and forced tokens from `text_config`, §9.2.8). The decoder input
starts with `decoder_start_token_id`, then the forced prefix (e.g. the ids of "<bos> La photo montre",
§6.3); what is returned is only the continuation, up to and without `<eos>`.
Beam search is transformers' beam search with `early_stopping=True`: 2K candidates per step, a candidate
among the best K that ends in `<eos>` (or reaches max_new_tokens) becomes a hypothesis scored
sum(log p) / generated_length ** length_penalty (the length counts the `<eos>`), and an input is done once it
has K hypotheses. `no_repeat_ngram_size` bans, as transformers does, any token that would repeat an n-gram
of the decoder input so far (start token and prefix included).
"""

from __future__ import annotations

from typing import Any

import torch

from florenz.errors import FlorenzError
from florenz.model.cache import KVCache

_NEVER = -1.0e9  # transformers' score for beams that must not be picked


class _Stepper:
    """Next-token log-probabilities for growing decoder inputs, through the cache or by recomputing all."""

    def __init__(self, model: Any, encoder_hidden: torch.Tensor | None, encoder_mask: torch.Tensor | None,
                 use_cache: bool, max_length: int) -> None:
        """max_length: the most decoder positions ever fed, the size of the cache's static buffers."""
        self.model, self.encoder_hidden, self.encoder_mask = model, encoder_hidden, encoder_mask
        self.cache = KVCache(model.decoder.num_layers, max_length) if use_cache else None

    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (R, t) -> float32 next-token logits (R, V); with a cache only the uncached tail is fed."""
        new = tokens if self.cache is None else tokens[:, self.cache.length:]
        logits = self.model.decode(new, self.encoder_hidden, self.encoder_mask, self.cache)  # (R, T, V)
        return logits[:, -1] if logits.dtype == torch.float32 else logits[:, -1].float()

    def log_probs(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (R, t) -> log p(next token) (R, V)."""
        return torch.log_softmax(self.logits(tokens), dim=-1)

    def reorder(self, rows: torch.Tensor) -> None:
        if self.cache is not None:
            self.cache.reorder(rows)


def _ban_repeated_ngrams(scores: torch.Tensor, tokens: torch.Tensor, n: int) -> None:
    """Set scores (R, V) (logits or log-probabilities) to -inf, in place, at each token that would complete
    an n-gram already in its row of tokens (R, t)."""
    t = tokens.shape[1]
    if n <= 0 or t + 1 < n:
        return
    for row, sequence in enumerate(tokens.tolist()):
        current = tuple(sequence[t - n + 1:])  # the n-1 tokens the next one would extend
        banned = {sequence[i + n - 1] for i in range(t - n + 1) if tuple(sequence[i:i + n - 1]) == current}
        if banned:
            scores[row, list(banned)] = float("-inf")


def _greedy(stepper: _Stepper, prompt: torch.Tensor, max_new_tokens: int, eos: int, pad: int,
            no_repeat_ngram_size: int) -> torch.Tensor:
    """prompt (B, P) -> prompt and continuation (B, P + steps); rows that ended hold pad after <eos>."""
    B, P = prompt.shape
    buffer = prompt.new_full((B, P + max_new_tokens), pad)  # filled column by column, never reallocated
    buffer[:, :P] = prompt
    finished = torch.zeros(B, dtype=torch.bool, device=prompt.device)
    for length in range(P, P + max_new_tokens):
        tokens = buffer[:, :length]
        # the logits' argmax is the log-probabilities' (as transformers' greedy search), a softmax less
        logits = stepper.logits(tokens)  # (B, V)
        _ban_repeated_ngrams(logits, tokens, no_repeat_ngram_size)
        next_tokens = torch.argmax(logits, dim=-1).masked_fill_(finished, pad)  # (B,)
        buffer.select(1, length).copy_(next_tokens)
        finished.logical_or_(next_tokens == eos)
        if bool(finished.all()):
            return buffer[:, :length + 1]
    return buffer


def _beam_search(stepper: _Stepper, prompt: torch.Tensor, num_beams: int, max_new_tokens: int, eos: int,
                 no_repeat_ngram_size: int, length_penalty: float) -> list[list[int]]:
    """prompt (B·K, P), K beams per input in consecutive rows -> the best continuation of each input."""
    K, P = num_beams, prompt.shape[1]
    B = prompt.shape[0] // K
    tokens = prompt  # (B·K, t)
    running_scores = torch.full((B, K), _NEVER, device=prompt.device)
    running_scores[:, 0] = 0.0  # the K beams start identical: only the first may expand at step 0
    hypotheses: list[list[tuple[float, list[int]]]] = [[] for _ in range(B)]  # (score, continuation)
    for step in range(max_new_tokens):
        log_probs = stepper.log_probs(tokens)  # (B·K, V)
        _ban_repeated_ngrams(log_probs, tokens, no_repeat_ngram_size)
        V = log_probs.shape[-1]
        scores = (log_probs.view(B, K, V) + running_scores[:, :, None]).view(B, K * V)
        top_scores, top_indices = scores.topk(2 * K, dim=1)  # (B, 2K): K spare in case beams end
        source_beams, top_tokens = top_indices // V, top_indices % V  # (B, 2K)
        ends = (top_tokens == eos) | (step == max_new_tokens - 1)  # (B, 2K)
        if bool(ends[:, :K].any()):  # only the best K candidates may become hypotheses
            # one transfer to Python lists, not one tensor index per candidate
            ending, scores_list, beams_list, tokens_list = (x[:, :K].tolist() for x in (
                ends, top_scores, source_beams, top_tokens))
            for b in range(B):
                if len(hypotheses[b]) == K:
                    continue  # done: early stopping once K hypotheses exist
                for c in range(K):
                    if ending[b][c]:
                        continuation = tokens[b * K + beams_list[b][c], P:].tolist() + [tokens_list[b][c]]
                        hypotheses[b].append((scores_list[b][c] / (step + 1) ** length_penalty, continuation))
                hypotheses[b] = sorted(hypotheses[b], key=lambda h: -h[0])[:K]
            if all(len(h) == K for h in hypotheses):
                break
        running_scores, keep = (top_scores + ends.float() * _NEVER).topk(K, dim=1)  # (B, K)
        first_rows = torch.arange(B, device=prompt.device)[:, None] * K  # (B, 1)
        rows = (first_rows + source_beams.gather(1, keep)).view(-1)  # (B·K,)
        tokens = torch.cat([tokens[rows], top_tokens.gather(1, keep).view(-1, 1)], dim=1)
        stepper.reorder(rows)
    return [h[0][1] for h in hypotheses]


def _until_eos(continuation: list[int], eos: int) -> list[int]:
    return continuation[:continuation.index(eos)] if eos in continuation else continuation


def generate(model: Any, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
             *, max_new_tokens: int, num_beams: int = 1, prefix_ids: list[int] | None = None,
             use_cache: bool = True, no_repeat_ngram_size: int = 0,
             length_penalty: float = 1.0) -> list[list[int]]:
    """Generated token ids per input, after the forced prefix and without `<eos>`.

    pixel_values (B, 3, H, W); input_ids, attention_mask (B, L): the prompt; prefix_ids: ids forced after
    decoder_start_token_id for every input (one language per call). The model runs in eval mode and gets
    its previous mode back.
    """
    if max_new_tokens < 1 or num_beams < 1:
        raise FlorenzError(f"generate needs max_new_tokens >= 1 and num_beams >= 1 (got {max_new_tokens}, "
                           f"{num_beams}); pass positive values")
    config = model.config
    was_training = model.training
    model.eval()
    try:
        # inference mode: no autograd version counters or view tracking, ~15% of a tiny model's step
        with torch.inference_mode():
            encoder_hidden, encoder_mask = model.encode(pixel_values, input_ids, attention_mask)
            start = [config.decoder_start_token_id, *(prefix_ids or [])]
            rows = input_ids.shape[0] * num_beams
            prompt = torch.tensor(start, device=input_ids.device).expand(rows, -1)  # (B·K, P)
            max_length = len(start) + max_new_tokens - 1  # the last new token is never fed back
            if num_beams == 1:
                stepper = _Stepper(model, encoder_hidden, encoder_mask, use_cache, max_length)
                tokens = _greedy(stepper, prompt, max_new_tokens, config.eos_token_id, config.pad_token_id,
                                 no_repeat_ngram_size)
                continuations = tokens[:, len(start):].tolist()
            else:
                def per_beam(x: torch.Tensor | None) -> torch.Tensor | None:
                    return None if x is None else x.repeat_interleave(num_beams, dim=0)

                stepper = _Stepper(model, per_beam(encoder_hidden), per_beam(encoder_mask), use_cache,
                                   max_length)
                continuations = _beam_search(stepper, prompt, num_beams, max_new_tokens, config.eos_token_id,
                                             no_repeat_ngram_size, length_penalty)
    finally:
        model.train(was_training)
    return [_until_eos(continuation, config.eos_token_id) for continuation in continuations]
