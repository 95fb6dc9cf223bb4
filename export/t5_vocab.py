"""A T5-style SentencePiece (Unigram) tokenizer, trained offline and deterministically.

No model hub is reachable, so tiny Flux / SD3 folders cannot download T5's own tokenizer. This one is trained
with the `tokenizers` library on a fixed corpus of prompt words, with T5's special tokens and ids (`<pad>` 0,
`</s>` 1, `<unk>` 2) and its Metaspace pre-tokenizer, and is saved where `T5TokenizerFast.from_pretrained`
loads it: diffusers' FluxPipeline and StableDiffusion3Pipeline call it exactly as they call T5's.
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import T5TokenizerFast

SPECIAL_TOKENS = ["<pad>", "</s>", "<unk>"]
TRAINED_VOCAB_SIZE = 600
# Words of image prompts, so that common prompt words are a piece or two, not letters.
_WORDS = (  # noqa: SIM905 (a list literal would be one word per line)
    "a an the of on in at with and or by under over near behind beside above below from to into "
    "red green blue yellow orange purple pink brown black white gray grey gold silver cyan magenta "
    "circle square triangle star heart cross ring line dot shape shapes stripe stripes grid pattern "
    "small large big tiny huge round sharp soft bright dark light pale deep vivid colorful colourful "
    "background foreground center centre left right top bottom corner edge middle side "
    "photo photograph picture image painting drawing illustration render sketch portrait landscape "
    "cat dog bird horse fish flower tree forest mountain river lake ocean sea sky cloud clouds sun moon "
    "city street house building tower bridge road car boat train night day sunset sunrise dusk dawn "
    "lighthouse castle garden field desert snow rain storm fog mist water fire stone wood glass metal "
    "man woman child person people face eyes hair hand smiling standing sitting walking running "
    "cinematic detailed realistic high quality sharp focus blurry studio lighting shadow shadows "
    "style oil watercolor digital art anime cartoon minimal abstract modern vintage"
).split(" ")
_CORPUS = [" ".join(_WORDS[i : i + 7]) for i in range(0, len(_WORDS), 3)] + _WORDS


def build_t5_tokenizer(folder: Path, model_max_length: int = 512) -> T5TokenizerFast:
    """Train, save into `folder` and load the tokenizer (the same vocabulary on every run)."""
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=TRAINED_VOCAB_SIZE, special_tokens=SPECIAL_TOKENS, unk_token="<unk>", show_progress=False
    )
    tokenizer.train_from_iterator(_CORPUS, trainer=trainer)
    # Training is not bit-reproducible: the trainer adds single characters in a hash set's order, with
    # scores that follow it, and its sums differ in the last bits between runs. One score for the
    # characters, scores rounded to 6 places, sorted: every build gives each piece the same id and score.
    trained = json.loads(tokenizer.to_str())["model"]["vocab"]
    specials = [(piece, score) for piece, score in trained if piece in SPECIAL_TOKENS]
    others = [(piece, round(score, 6)) for piece, score in trained if piece not in SPECIAL_TOKENS]
    char_score = min(score for piece, score in others if len(piece) == 1)
    pieces = sorted(((p, char_score if len(p) == 1 else s) for p, s in others), key=lambda e: (-e[1], e[0]))
    tokenizer.model = models.Unigram(
        [tuple(e) for e in specials + pieces], unk_id=SPECIAL_TOKENS.index("<unk>")
    )
    # T5 ends every sequence with </s>.
    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    folder.mkdir(parents=True, exist_ok=True)
    fast = T5TokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        extra_ids=0,
        model_max_length=model_max_length,
    )
    fast.save_pretrained(folder)
    return T5TokenizerFast.from_pretrained(folder)
