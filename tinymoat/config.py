"""The MOAT configuration and the table of released variants.

Field names follow the reference implementation (deeplab2's MOAT) so that a
configuration reads the same in both code bases. Per-stage fields are tuples
with one entry per stage.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence, Tuple, Union

Window = Optional[Tuple[int, int]]

# Window attention as the paper uses it for large inputs: 14x14 windows at
# stride 16 and 7x7 at stride 32, no attention in the convolutional stages.
WINDOW_ATTENTION: Tuple[Window, ...] = (None, None, (14, 14), (7, 7))

BLOCK_TYPES = ("mbconv", "moat")
NORMALIZATIONS = ("imagenet", "inception")


@dataclasses.dataclass(frozen=True)
class MoatConfig:
    """Everything that defines a MOAT network except its input size and head."""

    stem_size: Tuple[int, ...]
    hidden_size: Tuple[int, ...]
    num_blocks: Tuple[int, ...]
    block_type: Tuple[str, ...] = ("mbconv", "mbconv", "moat", "moat")
    stage_stride: Tuple[int, ...] = (2, 2, 2, 2)
    head_size: int = 32
    expansion_rate: int = 4
    se_ratio: Optional[float] = 0.25
    kernel_size: int = 3
    # None: global attention in every MOAT block; otherwise one entry per stage.
    window_size: Optional[Tuple[Window, ...]] = None
    # Side P of the learned [heads, 2P-1, 2P-1] relative bias table per stage.
    position_embedding_size: Tuple[Optional[int], ...] = (None, None, 14, 7)
    position_embedding: bool = True
    global_attention_at_end_of_moat_stage: bool = False
    # The reference factory uses 3; 2 saves a few FLOPs for classification.
    shortcut_pool_size: int = 3
    ln_epsilon: float = 1e-5
    bn_epsilon: float = 1e-3
    bn_momentum: float = 0.99
    # Survival probability of the last block (drop path, training only);
    # earlier blocks decay linearly towards 1.0. None or 1.0: no drop path.
    survival_prob: Optional[float] = None
    # Which input normalisation the released checkpoints of this variant expect.
    normalization: str = "imagenet"
    name: str = "custom"

    def __post_init__(self):
        for field in ("stem_size", "hidden_size", "num_blocks", "block_type",
                      "stage_stride", "position_embedding_size"):
            object.__setattr__(self, field, tuple(getattr(self, field)))
        if self.window_size is not None:
            object.__setattr__(self, "window_size", tuple(
                _as_window(w) for w in self.window_size))
        self.validate()

    @property
    def num_stages(self) -> int:
        return len(self.block_type)

    def validate(self) -> None:
        n = self.num_stages
        for field in ("hidden_size", "num_blocks", "stage_stride",
                      "position_embedding_size"):
            if len(getattr(self, field)) != n:
                raise ValueError(
                    f"{field} has {len(getattr(self, field))} entries but "
                    f"block_type has {n} stages")
        if self.window_size is not None and len(self.window_size) != n:
            raise ValueError(f"window_size needs one entry per stage ({n}), "
                             f"got {len(self.window_size)}")
        unknown = set(self.block_type) - set(BLOCK_TYPES)
        if unknown:
            raise ValueError(f"unknown block type(s) {sorted(unknown)}; "
                             f"expected one of {BLOCK_TYPES}")
        for stage, (kind, hidden) in enumerate(zip(self.block_type,
                                                   self.hidden_size)):
            if kind == "moat" and hidden % self.head_size:
                raise ValueError(
                    f"stage {stage}: hidden size {hidden} is not a multiple "
                    f"of head_size {self.head_size}")
            if (kind == "moat" and self.position_embedding
                    and not self.position_embedding_size[stage]):
                raise ValueError(f"stage {stage}: position_embedding_size is "
                                 "needed when position_embedding is on")
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(f"unknown normalization {self.normalization!r}; "
                             f"expected one of {NORMALIZATIONS}")
        if self.survival_prob is not None and not 0 < self.survival_prob <= 1:
            raise ValueError("survival_prob must be in (0, 1]")

    def replace(self, **changes) -> "MoatConfig":
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"unknown MoatConfig field(s): {', '.join(unknown)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "MoatConfig":
        return cls(**data)

    @property
    def output_stride(self) -> int:
        stride = 2  # the stem
        for s in self.stage_stride:
            stride *= s
        return stride

    def block_survival_prob(self, block_id: int) -> Optional[float]:
        """Drop-path survival of block `block_id` (0-based over all stages)."""
        if self.survival_prob is None or self.survival_prob >= 1.0:
            return None
        drop = 1.0 - self.survival_prob
        return 1.0 - drop * block_id / sum(self.num_blocks)


def _as_window(window) -> Window:
    if window is None:
        return None
    if isinstance(window, int):
        return (window, window)
    window = tuple(int(v) for v in window)
    if len(window) != 2:
        raise ValueError(f"a window is (height, width), got {window}")
    return window


def _variant(name, stem, hidden, blocks, survival, normalization="imagenet"):
    return MoatConfig(stem_size=stem, hidden_size=hidden, num_blocks=blocks,
                      survival_prob=survival, normalization=normalization,
                      name=name)


VARIANTS = {
    c.name: c for c in (
        _variant("tiny-moat-0", (32, 32), (32, 64, 128, 256), (2, 3, 7, 2), None),
        _variant("tiny-moat-1", (40, 40), (40, 80, 160, 320), (2, 3, 7, 2), None),
        _variant("tiny-moat-2", (56, 56), (56, 112, 224, 448), (2, 3, 7, 2), None),
        _variant("tiny-moat-3", (80, 80), (80, 160, 320, 640), (2, 3, 7, 2), 0.9),
        _variant("moat-0", (64, 64), (96, 192, 384, 768), (2, 3, 7, 2), 0.8),
        _variant("moat-1", (64, 64), (96, 192, 384, 768), (2, 6, 14, 2), 0.7),
        _variant("moat-2", (128, 128), (128, 256, 512, 1024), (2, 6, 14, 2), 0.7,
                 "inception"),
        _variant("moat-3", (160, 160), (160, 320, 640, 1280), (2, 12, 28, 2), 0.4,
                 "inception"),
        _variant("moat-4", (256, 256), (256, 512, 1024, 2048), (2, 12, 28, 2), 0.3,
                 "inception"),
    )
}


def get_config(variant_or_config: Union[str, MoatConfig], **overrides) -> MoatConfig:
    """Resolves a variant name or a config, then applies field overrides."""
    if isinstance(variant_or_config, MoatConfig):
        config = variant_or_config
    elif isinstance(variant_or_config, str):
        key = variant_or_config.strip().lower().replace("_", "-")
        if key not in VARIANTS:
            raise ValueError(f"unknown variant {variant_or_config!r}; choose "
                             f"one of {', '.join(VARIANTS)}")
        config = VARIANTS[key]
    else:
        raise TypeError("expected a variant name or a MoatConfig, got "
                        f"{type(variant_or_config).__name__}")
    return config.replace(**overrides) if overrides else config


def as_hw(size: Union[int, Sequence[int]]) -> Tuple[int, int]:
    """An input size given as N or (H, W), as (H, W)."""
    if isinstance(size, int):
        return (size, size)
    size = tuple(int(v) for v in size)
    if len(size) != 2:
        raise ValueError(f"input size is N or (height, width), got {size}")
    return size
