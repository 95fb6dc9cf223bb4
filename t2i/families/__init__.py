"""Model families: how each one turns prompts into the conditioning its denoiser takes.

The denoising loop (`t2i.denoise`) is shared; a family supplies its text encoders' tokenizers, its prompt
encoding and the extra inputs of its UNet, by name. The networks a family exports and serves are listed in
`t2i.contract.FAMILY_NETWORKS`. A flow-matching transformer family (SD3, Flux) adds a module here and its
networks to the contract; the API layer never sees families.
"""

from __future__ import annotations

from pathlib import Path

from t2i import contract
from t2i.contract import ModelMetadata
from t2i.families.base import Conditioning, PromptEncoder, RunNetwork, Tokenizer, uses_guidance
from t2i.families.sd import SDPromptEncoder
from t2i.families.sdxl import SDXLPromptEncoder

PROMPT_ENCODERS: dict[str, type[PromptEncoder]] = {"sd": SDPromptEncoder, "sdxl": SDXLPromptEncoder}
assert set(PROMPT_ENCODERS) == set(contract.FAMILIES), "contract.FAMILIES and this table disagree"

__all__ = ["Conditioning", "PromptEncoder", "RunNetwork", "Tokenizer", "load_tokenizers", "prompt_encoder"]
__all__ += ["uses_guidance"]


def prompt_encoder(metadata: ModelMetadata, tokenizers: list[Tokenizer]) -> PromptEncoder:
    return PROMPT_ENCODERS[metadata.family](metadata, tokenizers)


def load_tokenizers(version_dir: Path, metadata: ModelMetadata) -> list[Tokenizer]:
    """One CLIP tokenizer per text encoder of the family, saved by export beside the metadata."""
    from transformers import CLIPTokenizer

    count = PROMPT_ENCODERS[metadata.family].text_encoders
    return [CLIPTokenizer.from_pretrained(version_dir / name) for name in contract.TOKENIZER_DIRNAMES[:count]]
