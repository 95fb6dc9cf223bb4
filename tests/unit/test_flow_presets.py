"""The offline T5 tokenizer and the flow presets built from it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from transformers import T5TokenizerFast

from export.presets import build_preset
from export.repository import ExportOptions, fingerprint, write_model_repository
from export.t5_vocab import build_t5_tokenizer
from t2i.onnx_networks import local_pipeline
from t2i.request import GenerationRequest


def model_of(tokenizer: T5TokenizerFast) -> dict:
    return json.loads(tokenizer.backend_tokenizer.to_str())["model"]


def test_the_t5_tokenizer_is_the_same_on_every_build_and_pads_as_t5(tmp_path: Path) -> None:
    first = build_t5_tokenizer(tmp_path / "a")
    second = build_t5_tokenizer(tmp_path / "b")
    # The same pieces, ids and scores (the trainer alone is not bit-reproducible).
    assert model_of(first) == model_of(second) and first.get_vocab() == second.get_vocab()
    assert (first.pad_token_id, first.eos_token_id, first.unk_token_id) == (0, 1, 2)
    ids = first(
        ["a red circle"], padding="max_length", max_length=32, truncation=True, return_tensors="pt"
    ).input_ids
    row = ids[0].tolist()
    end = row.index(1)  # </s> right after the text, then padding
    assert 0 < end < 31 and set(row[end + 1 :]) == {0} and 2 not in row[:end]
    assert first.batch_decode(ids, skip_special_tokens=True) == ["a red circle"]
    reloaded = T5TokenizerFast.from_pretrained(tmp_path / "a")
    assert reloaded(["a red circle"]).input_ids == first(["a red circle"]).input_ids


def test_the_tiny_flux_preset_exports_and_serves_its_defaults(tmp_path: Path) -> None:
    options = ExportOptions()
    write_model_repository(
        build_preset("tiny-flux"), tmp_path, options, fingerprint({"preset": "tiny-flux"}, options)
    )
    pipeline = local_pipeline(tmp_path)
    meta = pipeline.metadata
    assert (meta.family, meta.native_width, meta.default_steps, meta.default_guidance_scale) == (
        "flux",
        256,
        4,
        0.0,
    )
    assert meta.random_weights and not meta.guidance_embeds
    images = pipeline(GenerationRequest(prompt="a red circle", width=64, height=48 + 16, seed=1))
    assert images.shape == (1, 64, 64, 3) and images.std() > 0
    assert np.array_equal(
        images, pipeline(GenerationRequest(prompt="a red circle", width=64, height=64, seed=1))
    )
