"""DaViT, the vision tower of Florence-2: conv patch stages of spatial-window and channel-group attention.

Reference §1.3 and Ding et al., "DaViT: Dual Attention Vision Transformers" (arXiv 2204.03645). Parameter
names match transformers' `Florence2VisionBackbone`, so its checkpoint keys load without renaming.
Features travel between blocks channels-last, `(B, H, W, C)`, so norms and linears need no transposes.

Shapes: `B` batch, `H`×`W` feature grid, `C` stage width, `N = H·W` grid tokens, `nh` heads, `hd` head dim,
`g` channel groups, `w` window side, `nW` windows per image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from florenz.model.config import VisionConfig


class DropPath(nn.Module):
    """Stochastic depth: drop a residual branch for a whole sample (Huang et al. 2016); identity in eval."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.rate == 0.0 or not self.training:
            return x
        keep = 1.0 - self.rate
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"rate={self.rate}"


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


def _conv_channels_last(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """Apply a Conv2d to channels-last features: (B, H, W, Cin) -> (B, H', W', Cout)."""
    return conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class ConvEmbed(nn.Module):
    """Strided patch conv opening a stage; its LayerNorm comes after the conv in stage 0, before it later."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, padding: int,
                 prenorm: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=kernel, stride=stride, padding=padding)
        self.norm = nn.LayerNorm(in_channels if prenorm else out_channels)
        self.prenorm = prenorm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.prenorm:
            x = self.norm(x)
        x = _conv_channels_last(self.conv, x)  # (B, H', W', C)
        return x if self.prenorm else self.norm(x)


class WindowAttention(nn.Module):
    """Multi-head attention inside non-overlapping w×w windows; no relative position bias."""

    def __init__(self, dim: int, num_heads: int, window_size: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.window_size = window_size
        self.qkv = nn.Linear(dim, 3 * dim)  # qkv_bias=True in every Florence-2 config
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, C = x.shape
        w, nh = self.window_size, self.num_heads
        # pad right/bottom to whole windows; the padded zeros still produce keys (qkv has a bias), as upstream
        x = F.pad(x, (0, 0, 0, (-W) % w, 0, (-H) % w))  # (B, Hp, Wp, C)
        Hp, Wp = x.shape[1], x.shape[2]
        windows = x.view(B, Hp // w, w, Wp // w, w, C).transpose(2, 3).reshape(-1, w * w, C)  # (B·nW, w², C)
        qkv = self.qkv(windows).view(-1, w * w, 3, nh, C // nh)  # (B·nW, w², 3, nh, hd)
        qkv = qkv.permute(2, 0, 3, 1, 4)  # (3, B·nW, nh, w², hd)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])  # scale hd^-0.5; (B·nW, nh, w², hd)
        out = self.proj(out.transpose(1, 2).reshape(-1, w * w, C))  # (B·nW, w², C)
        out = out.view(B, Hp // w, Wp // w, w, w, C).transpose(2, 3).reshape(B, Hp, Wp, C)
        return out[:, :H, :W]  # (B, H, W, C)


class ChannelAttention(nn.Module):
    """Attention among the channels of each group, with the N tokens as the feature axis (q scaled N^-0.5)."""

    def __init__(self, dim: int, num_groups: int) -> None:
        super().__init__()
        self.num_groups = num_groups
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, C = x.shape
        N, g = H * W, self.num_groups
        qkv = self.qkv(x.reshape(B, N, C)).view(B, N, 3, g, C // g)  # (B, N, 3, g, C/g)
        qkv = qkv.permute(2, 0, 3, 4, 1)  # (3, B, g, C/g, N)
        # SDPA's default scale 1/sqrt(last dim) is exactly DaViT's N^-0.5 here
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])  # (B, g, C/g, N)
        return self.proj(out.permute(0, 3, 1, 2).reshape(B, H, W, C))  # (B, H, W, C)


class _MixingBlock(nn.Module):
    """Both DaViT blocks: dwconv residual, pre-LN attention, dwconv residual, pre-LN MLP."""

    def __init__(self, dim: int, mlp_ratio: float, drop_path_rate: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(dim, dim, kernel_size=3, padding=1, groups=dim)
        self.norm1 = nn.LayerNorm(dim)
        self.conv2 = nn.Conv2d(dim, dim, kernel_size=3, padding=1, groups=dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = MLP(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path_rate)

    def attend(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, H, W, C)
        x = x + _conv_channels_last(self.conv1, x)
        x = x + self.drop_path(self.attend(self.norm1(x)))
        x = x + _conv_channels_last(self.conv2, x)
        return x + self.drop_path(self.ffn(self.norm2(x)))


class SpatialBlock(_MixingBlock):
    def __init__(self, dim: int, num_heads: int, window_size: int, mlp_ratio: float,
                 drop_path_rate: float) -> None:
        super().__init__(dim, mlp_ratio, drop_path_rate)
        self.window_attn = WindowAttention(dim, num_heads, window_size)

    def attend(self, x: torch.Tensor) -> torch.Tensor:
        return self.window_attn(x)


class ChannelBlock(_MixingBlock):
    def __init__(self, dim: int, num_groups: int, mlp_ratio: float, drop_path_rate: float) -> None:
        super().__init__(dim, mlp_ratio, drop_path_rate)
        self.channel_attn = ChannelAttention(dim, num_groups)

    def attend(self, x: torch.Tensor) -> torch.Tensor:
        return self.channel_attn(x)


class DualAttentionLayer(nn.Module):
    """One (SpatialBlock, ChannelBlock) pair; a stage repeats it `depths[stage]` times."""

    def __init__(self, spatial_block: SpatialBlock, channel_block: ChannelBlock) -> None:
        super().__init__()
        self.spatial_block = spatial_block
        self.channel_block = channel_block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.channel_block(self.spatial_block(x))


class DaViT(nn.Module):
    """The DaViT tower without its classifier head and final norm (Florence-2 deletes both).

    Weights keep PyTorch's default init: the paper's tower is loaded pretrained, the world's is pre-trained.
    """

    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        dims = config.embed_dims
        # stochastic depth rises linearly over all 2·sum(depths) blocks; on the CPU so meta-device builds work
        rates = torch.linspace(0.0, config.drop_path_rate, 2 * sum(config.depths), device="cpu").tolist()
        self.convs = nn.ModuleList()
        self.blocks = nn.ModuleList()
        for stage, dim in enumerate(dims):
            in_channels = 3 if stage == 0 else dims[stage - 1]
            self.convs.append(ConvEmbed(in_channels, dim, config.patch_size[stage],
                                        config.patch_stride[stage], config.patch_padding[stage],
                                        config.patch_prenorm[stage]))
            first = 2 * sum(config.depths[:stage])
            self.blocks.append(nn.ModuleList(
                DualAttentionLayer(
                    SpatialBlock(dim, config.num_heads[stage], config.window_size, config.mlp_ratio,
                                 rates[first + 2 * i]),
                    ChannelBlock(dim, config.num_groups[stage], config.mlp_ratio, rates[first + 2 * i + 1]))
                for i in range(config.depths[stage])))

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """Pixels (B, 3, H, W) -> last-stage tokens (B, h·w, C_last), row-major, and the grid (h, w)."""
        x = pixel_values.to(self.convs[0].conv.weight.dtype).permute(0, 2, 3, 1)  # (B, H, W, 3)
        for conv, layers in zip(self.convs, self.blocks):
            x = conv(x)  # (B, h, w, C)
            for layer in layers:
                x = layer(x)
        B, h, w, C = x.shape
        return x.reshape(B, h * w, C), (h, w)
