"""Offline prompt moderation against the categorised word lists in data/moderation_terms.json.

A best-effort first line, not a classifier. Its limits, stated plainly:
- it matches English word lists only; other languages pass unchecked;
- it reads the text, never the image: there is no image classifier behind it;
- a paraphrase ("a person wearing nothing") or spaced-out letters ("n u d e") evade it.
Normalisation (Unicode NFKC, case folding, dropped diacritics, common leetspeak digits, punctuation as spaces)
and whole-word matching keep it from the cheapest evasions and from flagging "grape" for "rape".

Each term has a `level`: the lowest `safety_tolerance` (0..6) at which it is allowed, so it blocks when
tolerance < level. Level 7 blocks at every tolerance, as does every term of an `always_blocked` category.
A term is either a `pattern` (one or more words) or `requires_all`: groups of words, one from each group
appearing anywhere in the same text (e.g. a word for a minor and a sexual word). Edit the JSON to tune it.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TERMS_FILE = Path(__file__).resolve().parents[1] / "data" / "moderation_terms.json"

MIN_TOLERANCE = 0
MAX_TOLERANCE = 6
BLOCKED_AT_EVERY_TOLERANCE = MAX_TOLERANCE + 1

_LEETSPEAK = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
# \W covers punctuation and symbols; "_" is a word character to `re`, so it is named explicitly.
_SEPARATORS = re.compile(r"[\W_]+")
_CATEGORY_KEYS = {"description", "always_blocked", "terms"}
_TERM_KEYS = {"pattern", "requires_all", "level"}


@dataclass(frozen=True)
class ModerationVerdict:
    allowed: bool
    category: str | None = None  # the category that blocked
    field: str | None = None  # "prompt" or "negative_prompt"


def normalize_text(text: str) -> str:
    """The form both the prompt and the terms are matched in: lowercase ASCII-ish words and single spaces."""
    # NFKC first so full-width and ligature look-alikes become ordinary letters before case folding.
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    # Leetspeak before the separators pass: "@" and "$" are punctuation and would otherwise become spaces.
    text = text.translate(_LEETSPEAK)
    return _SEPARATORS.sub(" ", text).strip()


def _words_regex(phrases: list[str], where: str) -> re.Pattern[str]:
    """One regex matching any of `phrases` as whole words, the last word optionally plural (s/es)."""
    alternatives = []
    for phrase in phrases:
        words = normalize_text(phrase).split()
        if not words:
            raise ValueError(f"{where}: {phrase!r} has no letters or digits to match")
        alternatives.append(r"\s+".join(re.escape(word) for word in words))
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")(?:e?s)?\b")


@dataclass(frozen=True)
class _Rule:
    level: int
    required: tuple[re.Pattern[str], ...]  # every one must match somewhere in the text

    def matches(self, text: str) -> bool:
        return all(pattern.search(text) for pattern in self.required)


@dataclass(frozen=True)
class _Category:
    name: str
    always_blocked: bool
    rules: tuple[_Rule, ...]

    def blocks(self, text: str, tolerance: int) -> bool:
        return any(
            (self.always_blocked or tolerance < rule.level) and rule.matches(text) for rule in self.rules
        )


def _check_word_list(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(w, str) and w for w in value):
        raise ValueError(f"{where}: expected a non-empty list of non-empty strings, got {value!r}")
    return value


def _parse_term(term: object, where: str) -> _Rule:
    if not isinstance(term, dict):
        raise ValueError(f"{where}: expected an object, got {type(term).__name__}")
    if unknown := set(term) - _TERM_KEYS:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(_TERM_KEYS)}")
    level = term.get("level")
    # bool is an int subclass; `true` as a level is a typo, not level 1.
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= BLOCKED_AT_EVERY_TOLERANCE:
        raise ValueError(
            f"{where}: 'level' must be an integer 1..{BLOCKED_AT_EVERY_TOLERANCE}, got {level!r}"
        )
    if ("pattern" in term) == ("requires_all" in term):
        raise ValueError(f"{where}: give exactly one of 'pattern' or 'requires_all'")
    if "pattern" in term:
        pattern = term["pattern"]
        if not isinstance(pattern, str) or not pattern:
            raise ValueError(f"{where}: 'pattern' must be a non-empty string, got {pattern!r}")
        return _Rule(level, (_words_regex([pattern], where),))
    groups = term["requires_all"]
    if not isinstance(groups, list) or len(groups) < 2:
        raise ValueError(f"{where}: 'requires_all' must be a list of at least two word lists")
    return _Rule(
        level,
        tuple(
            _words_regex(_check_word_list(group, f"{where}.requires_all[{i}]"), where)
            for i, group in enumerate(groups)
        ),
    )


def _parse_category(name: str, fields: object) -> _Category:
    where = f"moderation category {name!r}"
    if not isinstance(fields, dict):
        raise ValueError(f"{where}: expected an object, got {type(fields).__name__}")
    if missing := _CATEGORY_KEYS - set(fields):
        raise ValueError(f"{where}: missing keys {sorted(missing)}")
    if unknown := set(fields) - _CATEGORY_KEYS:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(_CATEGORY_KEYS)}")
    if not isinstance(fields["description"], str):
        raise ValueError(f"{where}: 'description' must be a string")
    if not isinstance(fields["always_blocked"], bool):
        raise ValueError(f"{where}: 'always_blocked' must be true or false")
    terms = fields["terms"]
    if not isinstance(terms, list) or not terms:
        raise ValueError(f"{where}: 'terms' must be a non-empty list")
    rules = tuple(_parse_term(term, f"{where} terms[{i}]") for i, term in enumerate(terms))
    return _Category(name, fields["always_blocked"], rules)


class PromptModerator:
    """Checks a prompt and negative prompt against the term lists at a request's safety tolerance."""

    def __init__(self, terms: dict) -> None:
        if not isinstance(terms, dict) or not terms:
            raise ValueError("moderation terms: expected a non-empty object of categories")
        categories = [_parse_category(name, fields) for name, fields in terms.items()]
        # Always-blocked categories are checked first, so a prompt that is both illegal and merely mature
        # is reported as illegal.
        self._always_blocked = tuple(c for c in categories if c.always_blocked)
        self._by_tolerance = tuple(c for c in categories if not c.always_blocked)

    @classmethod
    def from_file(cls, path: Path = DEFAULT_TERMS_FILE) -> PromptModerator:
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def check(self, prompt: str, negative_prompt: str, tolerance: int) -> ModerationVerdict:
        """Allowed, or the category and field that blocked.

        Never the matched term: echoing it would let a caller probe the list word by word.
        """
        if isinstance(tolerance, bool) or not isinstance(tolerance, int):
            raise ValueError(f"safety_tolerance must be an integer {MIN_TOLERANCE}..{MAX_TOLERANCE}")
        if not MIN_TOLERANCE <= tolerance <= MAX_TOLERANCE:
            raise ValueError(
                f"safety_tolerance must be between {MIN_TOLERANCE} and {MAX_TOLERANCE}, got {tolerance}"
            )
        prompt_text = normalize_text(prompt)
        # The negative prompt is checked only against always-blocked categories: people legitimately write
        # "nudity, gore, blood" there to steer the image away from those things.
        negative_text = normalize_text(negative_prompt or "")
        for field, text in (("prompt", prompt_text), ("negative_prompt", negative_text)):
            for category in self._always_blocked:
                if category.blocks(text, tolerance):
                    return ModerationVerdict(allowed=False, category=category.name, field=field)
        for category in self._by_tolerance:
            if category.blocks(prompt_text, tolerance):
                return ModerationVerdict(allowed=False, category=category.name, field="prompt")
        return ModerationVerdict(allowed=True)
