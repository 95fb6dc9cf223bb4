"""Named style presets (prompt template, negative additions, guidance), kept in data/styles.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

STYLES_FILE = Path(__file__).resolve().parents[1] / "data" / "styles.json"


@dataclass(frozen=True)
class StylePreset:
    name: str
    description: str
    prompt_template: str  # holds "{prompt}" once
    negative_prompt: str
    guidance_scale: float

    def apply(self, prompt: str, negative_prompt: str) -> tuple[str, str]:
        """The styled prompt, and the user's negative prompt followed by the preset's additions."""
        styled = self.prompt_template.replace("{prompt}", prompt.strip())
        negatives = ", ".join(p for p in (negative_prompt.strip(), self.negative_prompt) if p)
        return styled, negatives


def parse_styles(data: dict) -> dict[str, StylePreset]:
    styles = {}
    for name, fields in data.items():
        preset = StylePreset(name=name, **fields)
        if preset.prompt_template.count("{prompt}") != 1:
            raise ValueError(f"style {name!r}: prompt_template must contain {{prompt}} exactly once")
        styles[name] = preset
    return styles


@cache
def load_styles(path: Path = STYLES_FILE) -> dict[str, StylePreset]:
    return parse_styles(json.loads(path.read_text()))
