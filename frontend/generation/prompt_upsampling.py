"""Deterministic prompt upsampling: short prompts gain quality, lighting and composition terms.

No language model: the subject is kept verbatim at the front, and terms are chosen by what the prompt is
about (a portrait, a landscape, a product...), so the same prompt always gives the same revision. Prompts
that are already long, or already name lighting/quality, get only what they lack.
"""

from __future__ import annotations

import re

# Prompts with at least this many words are treated as already detailed.
DETAILED_WORDS = 25

# (keywords, lighting, composition); the first group whose keyword appears wins, the last is the default.
_SUBJECT_TERMS: list[tuple[tuple[str, ...], str, str]] = [
    (
        ("portrait", "face", "man", "woman", "person", "girl", "boy", "headshot", "people"),
        "soft studio lighting",
        "85mm portrait, shallow depth of field",
    ),
    (
        ("landscape", "mountain", "forest", "lake", "sea", "ocean", "beach", "valley", "sunset", "sky"),
        "golden hour lighting",
        "wide angle, sweeping vista",
    ),
    (
        ("city", "street", "building", "architecture", "interior", "room", "skyline"),
        "dramatic natural light",
        "symmetrical composition, wide shot",
    ),
    (
        ("product", "bottle", "mug", "shoe", "watch", "phone", "logo"),
        "clean studio lighting, soft shadows",
        "centered product shot, minimal background",
    ),
    (
        ("cat", "dog", "bird", "animal", "horse", "fox", "puppy", "kitten"),
        "soft natural light",
        "close-up, eye level",
    ),
    ((), "balanced natural lighting", "well-composed, rule of thirds"),
]
_QUALITY = "highly detailed, professional quality, sharp focus"
_LIGHTING_WORDS = ("lighting", "light", "lit", "sunlight", "glow", "shadow")
_QUALITY_WORDS = ("detailed", "quality", "8k", "4k", "sharp", "hd", "masterpiece")


def _mentions(words: set[str], vocabulary: tuple[str, ...]) -> bool:
    return any(term in words for term in vocabulary)


def upsample_prompt(prompt: str) -> str:
    subject = prompt.strip()
    words = set(re.findall(r"[a-z0-9]+", subject.lower()))
    if len(subject.split()) >= DETAILED_WORDS:
        return subject
    lighting, composition = next(
        (light, comp) for keys, light, comp in _SUBJECT_TERMS if not keys or _mentions(words, keys)
    )
    additions = []
    if not _mentions(words, _LIGHTING_WORDS):
        additions.append(lighting)
    additions.append(composition)
    if not _mentions(words, _QUALITY_WORDS):
        additions.append(_QUALITY)
    return ", ".join([subject.rstrip(" ,."), *additions])
