from __future__ import annotations

from pathlib import Path

from export.clip_vocab import VOCAB_SIZE, build_clip_tokenizer


def test_real_clip_token_ids(tmp_path: Path) -> None:
    tokenizer = build_clip_tokenizer(tmp_path)
    assert len(tokenizer) == VOCAB_SIZE
    # Ids of OpenAI's CLIP vocabulary: <|startoftext|> a red circle <|endoftext|>.
    assert tokenizer("a red circle").input_ids == [49406, 320, 736, 7117, 49407]
    padded = tokenizer("x", padding="max_length", max_length=77).input_ids
    assert len(padded) == 77
