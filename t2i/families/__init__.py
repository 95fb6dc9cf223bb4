"""Model families: how each one turns prompts into the conditioning its denoiser takes, sets its
schedule and calls its denoiser.

The denoising loop (`t2i.denoise`) is shared; a family supplies its text encoders' tokenizers, its prompt
encoding and the inputs of its denoiser (a UNet, or a flow-matching transformer), by name. The networks
a family exports and serves are listed in `t2i.contract.FAMILY_NETWORKS`; the API layer never sees
families.
"""

from __future__ import annotations

import json
from pathlib import Path

from t2i import contract
from t2i.contract import ModelMetadata
from t2i.families.base import Conditioning, Family, RunNetwork, Tokenizer, uses_guidance
from t2i.families.flux import FluxFamily
from t2i.families.sd import SDFamily
from t2i.families.sd3 import SD3Family
from t2i.families.sdxl import SDXLFamily

FAMILY_CLASSES: dict[str, type[Family]] = {
    "sd": SDFamily,
    "sdxl": SDXLFamily,
    "flux": FluxFamily,
    "sd3": SD3Family,
}
assert set(FAMILY_CLASSES) == set(contract.FAMILIES), "contract.FAMILIES and this table disagree"

__all__ = ["Conditioning", "Family", "RunNetwork", "Tokenizer", "family_of", "load_tokenizers"]
__all__ += ["uses_guidance"]


def family_of(metadata: ModelMetadata, tokenizers: list[Tokenizer]) -> Family:
    return FAMILY_CLASSES[metadata.family](metadata, tokenizers)


def load_tokenizers(assets_dir: Path, metadata: ModelMetadata) -> list[Tokenizer]:
    """One tokenizer per text encoder of the family, saved by export beside the metadata: CLIP's, or
    T5's where the folder says so."""
    from transformers import CLIPTokenizer, T5TokenizerFast

    count = FAMILY_CLASSES[metadata.family].tokenizer_count(metadata)
    tokenizers: list[Tokenizer] = []
    for name in contract.TOKENIZER_DIRNAMES[:count]:
        config = json.loads((assets_dir / name / "tokenizer_config.json").read_text())
        is_t5 = str(config.get("tokenizer_class", "")).startswith("T5")
        tokenizers.append((T5TokenizerFast if is_t5 else CLIPTokenizer).from_pretrained(assets_dir / name))
    return tokenizers
