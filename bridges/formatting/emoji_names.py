"""Discourse emoji shortcodes (``:slight_smile:``, ``:+1:t3:``) to Unicode characters."""

from __future__ import annotations

import re

import emoji

#: Names Discourse uses that the ``emoji`` package does not know as aliases.
_DISCOURSE_NAMES = {
    "slight_smile": "\U0001f642",
    "slight_frown": "\U0001f641",
    "upside_down": "\U0001f643",
    "hugging": "\U0001f917",
    "nerd": "\U0001f913",
    "rolling_eyes": "\U0001f644",
    "zipper_mouth": "\U0001f910",
    "money_mouth": "\U0001f911",
    "head_bandage": "\U0001f915",
}

#: Discourse skin tones t2..t6 are the Fitzpatrick modifiers; t1 is the default yellow.
_TONES = {
    "2": "\U0001f3fb",
    "3": "\U0001f3fc",
    "4": "\U0001f3fd",
    "5": "\U0001f3fe",
    "6": "\U0001f3ff",
}
_SHORTCODE = re.compile(r":([A-Za-z0-9_+\-]{1,60}):(?:t([1-6]):)?")


def emoji_for(shortcode: str) -> str | None:
    """The Unicode emoji for a Discourse shortcode, or ``None`` when the name is not known."""
    match = _SHORTCODE.fullmatch(shortcode.strip())
    if match is None:
        return None
    name, tone = match.group(1), match.group(2)
    char = _DISCOURSE_NAMES.get(name)
    if char is None:
        char = emoji.emojize(f":{name}:", language="alias")
        if char == f":{name}:":
            return None
    if tone in _TONES:
        base = char.replace("\ufe0f", "")
        if len(base) == 1 and emoji.is_emoji(base + _TONES[tone]):
            return base + _TONES[tone]
    return char
