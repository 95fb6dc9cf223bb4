from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from frontend.security.moderation import (
    DEFAULT_TERMS_FILE,
    ModerationVerdict,
    PromptModerator,
    normalize_text,
)

ALLOWED = ModerationVerdict(allowed=True)


@pytest.fixture(scope="module")
def moderator() -> PromptModerator:
    return PromptModerator.from_file()


@pytest.fixture(scope="module")
def shipped_terms() -> dict:
    return json.loads(DEFAULT_TERMS_FILE.read_text(encoding="utf-8"))


@pytest.mark.parametrize("prompt", ["a red circle on a blue background", "a cat sitting on a windowsill"])
def test_benign_prompts_pass_at_the_strictest_tolerance(moderator: PromptModerator, prompt: str) -> None:
    assert moderator.check(prompt, "", 0) == ALLOWED


@pytest.mark.parametrize("prompt", ["two knights fight on a bridge", "a gun on a table", "a drop of blood"])
def test_level_one_terms_block_only_at_tolerance_zero(moderator: PromptModerator, prompt: str) -> None:
    assert not moderator.check(prompt, "", 0).allowed
    assert moderator.check(prompt, "", 1).allowed
    assert moderator.check(prompt, "", 2).allowed


def test_mature_term_is_blocked_at_default_and_allowed_at_most_permissive(moderator: PromptModerator) -> None:
    prompt = "a nude figure study in charcoal"
    assert moderator.check(prompt, "", 2) == ModerationVerdict(False, "sexual", "prompt")
    assert not moderator.check(prompt, "", 4).allowed
    assert moderator.check(prompt, "", 5).allowed
    assert moderator.check(prompt, "", 6).allowed


def test_level_seven_terms_block_at_every_tolerance(moderator: PromptModerator) -> None:
    for tolerance in range(7):
        assert moderator.check("hardcore porn", "", tolerance) == ModerationVerdict(False, "sexual", "prompt")


@pytest.mark.parametrize("tolerance", [0, 2, 6])
@pytest.mark.parametrize("prompt", ["nude child", "a naked teenager", "sexy schoolgirl, NSFW", "csam"])
def test_illegal_content_is_blocked_at_every_tolerance(
    moderator: PromptModerator, prompt: str, tolerance: int
) -> None:
    assert moderator.check(prompt, "", tolerance) == ModerationVerdict(False, "illegal", "prompt")


def test_minor_words_alone_and_sexual_words_alone_are_not_illegal(moderator: PromptModerator) -> None:
    assert moderator.check("children playing in a park", "", 0).allowed
    assert moderator.check("a nude marble statue", "", 6).allowed


@pytest.mark.parametrize("prompt", ["NÜDE portrait", "nud3 portrait", "Ｎｕｄｅ portrait", "two NüD3S"])
def test_case_diacritics_fullwidth_and_leetspeak_are_caught(moderator: PromptModerator, prompt: str) -> None:
    assert moderator.check(prompt, "", 2) == ModerationVerdict(False, "sexual", "prompt")


def test_spaced_out_letters_are_a_documented_evasion(moderator: PromptModerator) -> None:
    assert moderator.check("n-u-d-e portrait", "", 2).allowed


def test_normalisation() -> None:
    assert normalize_text("  Crème-Brûlée__RECIPE!! ") == "creme brulee recipe"
    assert normalize_text("n@k3d $3x") == "naked sex"


def test_leetspeak_combination_is_still_illegal(moderator: PromptModerator) -> None:
    assert moderator.check("n4k3d k1d", "", 6) == ModerationVerdict(False, "illegal", "prompt")


@pytest.mark.parametrize(
    "prompt",
    [
        "a bunch of grapes on a vine",  # "rape"
        "assassin's creed poster",  # "ass"
        "a class photo on the grass",  # "ass"
        "a cottage in Essex and Sussex",  # "sex"
        "a shotgun wedding cake",  # "gun" inside a word
        "method acting, a kidney bean",  # "meth", "kid"
        "a swordfish",  # "sword"
    ],
)
def test_terms_match_whole_words_only(moderator: PromptModerator, prompt: str) -> None:
    assert moderator.check(prompt, "", 0) == ALLOWED


def test_plurals_and_multi_word_terms_match(moderator: PromptModerator) -> None:
    assert not moderator.check("three guns", "", 0).allowed
    assert not moderator.check("boxes of bombs", "", 0).allowed
    assert moderator.check("a white\n\tpower flag", "", 6) == ModerationVerdict(False, "hate", "prompt")
    assert moderator.check("a white flag, power lines", "", 6).allowed


def test_negative_prompt_may_name_what_to_avoid(moderator: PromptModerator) -> None:
    assert moderator.check("a portrait", "nudity, gore, blood", 0) == ALLOWED


def test_illegal_negative_prompt_is_blocked(moderator: PromptModerator) -> None:
    verdict = moderator.check("a portrait", "nude child", 6)
    assert verdict == ModerationVerdict(False, "illegal", "negative_prompt")


def test_illegal_is_reported_before_a_merely_mature_match(moderator: PromptModerator) -> None:
    assert moderator.check("nude woman", "child porn", 0) == ModerationVerdict(
        False, "illegal", "negative_prompt"
    )


@pytest.mark.parametrize("tolerance", [-1, 7, True, 2.0])
def test_tolerance_outside_zero_to_six_is_rejected(moderator: PromptModerator, tolerance: object) -> None:
    with pytest.raises(ValueError, match="safety_tolerance"):
        moderator.check("a cat", "", tolerance)  # type: ignore[arg-type]


def test_verdict_does_not_reveal_the_matched_term(moderator: PromptModerator) -> None:
    verdict = moderator.check("a topless sunbather", "", 2)
    assert not verdict.allowed
    assert "topless" not in repr(verdict)
    assert set(vars(verdict)) == {"allowed", "category", "field"}


def _with(terms: dict, path: list, value: object) -> dict:
    broken = copy.deepcopy(terms)
    target = broken
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return broken


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["violence", "terms", 0, "level"], 9, "'level' must be an integer 1..7"),
        (["violence", "terms", 0, "level"], True, "'level' must be an integer"),
        (["violence", "terms", 0, "levle"], 1, "unknown keys"),
        (["violence", "terms", 0, "pattern"], "", "'pattern' must be a non-empty string"),
        (["violence", "terms", 0, "pattern"], "!!!", "no letters or digits"),
        (["violence", "terms", 0, "requires_all"], [["a"], ["b"]], "exactly one of"),
        (["illegal", "terms", 8, "requires_all"], [["child"]], "at least two word lists"),
        (["illegal", "terms", 8, "requires_all"], [["child"], []], "non-empty list"),
        (["violence", "always_blocked"], "no", "'always_blocked' must be true or false"),
        (["violence", "terms"], [], "'terms' must be a non-empty list"),
        (["violence"], ["fight"], "expected an object"),
    ],
)
def test_malformed_terms_are_rejected_with_a_clear_message(
    shipped_terms: dict, path: list, value: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        PromptModerator(_with(shipped_terms, path, value))


def test_missing_category_key_and_empty_document_are_rejected(shipped_terms: dict) -> None:
    broken = copy.deepcopy(shipped_terms)
    del broken["gore"]["always_blocked"]
    with pytest.raises(ValueError, match="'gore'.*missing keys \\['always_blocked'\\]"):
        PromptModerator(broken)
    with pytest.raises(ValueError, match="non-empty object"):
        PromptModerator({})


def test_custom_terms_can_be_loaded(tmp_path: Path) -> None:
    terms = {
        "food": {"description": "", "always_blocked": False, "terms": [{"pattern": "ice cream", "level": 4}]}
    }
    path = tmp_path / "terms.json"
    path.write_text(json.dumps(terms), encoding="utf-8")
    moderator = PromptModerator.from_file(path)
    assert moderator.check("two ice creams", "", 3) == ModerationVerdict(False, "food", "prompt")
    assert moderator.check("two ice creams", "", 4).allowed
