"""Suite-wide settings: tests use tiny models, for which one thread is fastest (no thread sync)."""

import torch

torch.set_num_threads(1)
