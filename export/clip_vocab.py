"""The CLIP BPE tokenizer, built offline from the vocabulary that ships in the open-clip-torch wheel.

OpenAI's CLIP vocabulary (MIT) is `open_clip/bpe_simple_vocab_16e6.txt.gz`. We turn it into the
`vocab.json` + `merges.txt` pair that transformers' CLIPTokenizer loads, exactly as open_clip builds its
own table: 256 byte symbols, the same with `</w>`, 48894 merges, then the two special tokens (49408 in all).
"""

from __future__ import annotations

import gzip
import json
from importlib import metadata
from pathlib import Path

from transformers import CLIPTokenizer

BPE_FILE = "open_clip/bpe_simple_vocab_16e6.txt.gz"
NUM_MERGES = 49152 - 256 - 2
VOCAB_SIZE = 49408


def find_bpe_file() -> Path:
    """Locate the vocabulary without importing open_clip (which needs torchvision, not installed here)."""
    try:
        path = Path(str(metadata.distribution("open_clip_torch").locate_file(BPE_FILE)))
    except metadata.PackageNotFoundError:
        path = Path("/nonexistent")
    if not path.is_file():
        raise FileNotFoundError(
            f"{BPE_FILE} not found: install the vocabulary with `pip install --no-deps open-clip-torch` "
            "(`make install` does this)"
        )
    return path


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character table, which CLIP's BPE is defined over."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in chars), strict=True))


def write_tokenizer_files(folder: Path, bpe_file: Path | None = None) -> None:
    with gzip.open(bpe_file or find_bpe_file()) as compressed:
        lines = compressed.read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : NUM_MERGES + 1]]
    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    assert len(tokens) == VOCAB_SIZE, len(tokens)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}, ensure_ascii=False))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")


def build_clip_tokenizer(folder: Path) -> CLIPTokenizer:
    """Write the vocabulary into `folder` and load it (transformers 5 needs from_pretrained on a folder)."""
    write_tokenizer_files(folder)
    tokenizer = CLIPTokenizer.from_pretrained(folder, model_max_length=77)
    if len(tokenizer) != VOCAB_SIZE:
        raise RuntimeError(f"CLIP tokenizer has {len(tokenizer)} tokens, expected {VOCAB_SIZE}")
    return tokenizer
