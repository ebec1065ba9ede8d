"""Glob model aliases, for the dated and self-named models agents ask for (issue 10 §5)."""

from __future__ import annotations

from pathlib import Path

from proxy.config.aliases import resolve_alias
from tests.test_config import run_cli

ALIASES = {
    "sonnet": "gpt-4o",
    "claude-*haiku*": "gpt-4o-mini",
    "claude-*": "gpt-4o",
    "claude-haiku-4-5": "exact-wins",
}


def test_exact_names_win_over_globs() -> None:
    assert resolve_alias(ALIASES, "claude-haiku-4-5") == "exact-wins"
    assert resolve_alias(ALIASES, "sonnet") == "gpt-4o"


def test_globs_match_dated_and_self_named_models_first_pattern_first() -> None:
    assert resolve_alias(ALIASES, "claude-haiku-4-5-20251001") == "gpt-4o-mini"
    assert resolve_alias(ALIASES, "claude-3-5-haiku-latest") == "gpt-4o-mini"
    assert resolve_alias(ALIASES, "claude-sonnet-4-5-20250929") == "gpt-4o"
    assert resolve_alias(ALIASES, "claude-opus-5-5") == "gpt-4o"


def test_names_no_alias_matches_stay_as_they_are() -> None:
    assert resolve_alias(ALIASES, "gpt-4o-mini") == "gpt-4o-mini"
    assert resolve_alias({}, "Claude-opus") == "Claude-opus"
    assert resolve_alias(ALIASES, "xclaude-opus") == "xclaude-opus"


def test_check_lists_glob_aliases_as_globs(tmp_path: Path) -> None:
    path = tmp_path / "accounts.yaml"
    path.write_text(
        "model_aliases: {'claude-haiku-*': gpt-4o-mini, gpt4: gpt-4o}\n"
        "accounts:\n  - {id: main, provider: openai, api_key: sk-supersecretvalue, models: [gpt-4o]}\n"
    )
    result = run_cli("check", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "alias claude-haiku-* -> gpt-4o-mini  (glob)" in result.stdout
    assert "alias gpt4 -> gpt-4o\n" in result.stdout
