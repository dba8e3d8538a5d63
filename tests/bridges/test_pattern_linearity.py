"""Patterns of the bridges over text from outside run on RE2 and stay right on hostile input.

``bench/patterns.py`` times them; here: what they give on 64 KiB adversarial inputs, and that
a pattern RE2 cannot run is refused where it comes from the config.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bridges.formatting.titles import title_from_text
from bridges.matrix.events import _MX_REPLY_TAG, _strip_mx_reply
from bridges.moderation.policy_lists import glob_pattern
from bridges.watching.watching_config import TermsConfig
from policies.linear import Linear

SIZE = 64 * 1024


@pytest.mark.parametrize("unit", ["`", "*", "_", "[", "![](", "~~", "# ", "**a", "_a_b"])
def test_a_title_from_a_hostile_line(unit: str) -> None:
    text = unit * (SIZE // len(unit))
    title = title_from_text(text + "\nSecond line")
    assert 15 <= len(title) <= 255


def test_a_title_keeps_its_words_after_a_run_of_backticks() -> None:
    # (as before: unpaired markers stay, the title is cut at 255 characters)
    assert "Budget talk" in title_from_text("`" * 200 + " **Budget** talk")
    assert "Budget talk" in title_from_text("`" * 4000 + " **Budget** talk", max_length=5000)
    assert title_from_text("**Budget** and _rent_ and `code`") == "Budget and rent and code"


def test_a_policy_list_glob_of_many_stars_on_a_long_id() -> None:
    # A backtracking engine needs minutes for this (eight stars on a 60-character id).
    glob = glob_pattern("*a*a*a*a*a*a*a*a*b")
    assert isinstance(glob, Linear)
    assert glob.match("@" + "a" * 250 + ":x") is None
    assert glob.match("@" + "a" * 250 + ":b") is not None
    assert glob_pattern("@bad?:example.org").match("@bad1:example.org") is not None
    assert glob_pattern("@bad?:example.org").match("@bad1:example.org\n") is None


def test_a_watch_pattern_re2_cannot_run_is_a_config_error() -> None:
    assert TermsConfig(patterns=(r"rent\s+caps?",)).patterns == (r"rent\s+caps?",)
    with pytest.raises(ValidationError, match="RE2"):
        TermsConfig(patterns=(r"rent(?! free)",))


def test_an_unclosed_reply_fallback_of_many_tags() -> None:
    # Every "<mx-reply" without a ">" made the old pattern scan to the end of the text.
    assert isinstance(_MX_REPLY_TAG, Linear)
    assert _strip_mx_reply("<mx-reply" * (SIZE // 9)) == ""
    body = "<mx-reply><blockquote>quoted</blockquote></mx-reply>reply"
    assert _strip_mx_reply(body) == "reply"
    assert _strip_mx_reply("<mx-reply>" * 3 + "q" + "</mx-reply>" * 3 + "reply") == "reply"


def test_a_file_name_made_safe_by_a_table_as_by_the_pattern() -> None:
    import random
    import re

    from bridges.relay.chat_to_forum.chat_media import safe_name

    pattern = re.compile(r"[\[\]|\\<>`*_~\n\r]")
    alphabet = [*"[]|\\<>`*_~\n\r \tabé.", "日本"]
    rng = random.Random(3)
    for _ in range(20_000):
        name = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10)))
        expected = " ".join(pattern.sub(" ", name).strip().split()) or "file"
        assert safe_name(name) == expected, name
    assert safe_name("[a]`b`" * (SIZE // 6)) == " ".join(["a b"] * (SIZE // 6))
