"""``remove_personal_data``: email addresses and phone numbers out of what crosses.

Phone numbers are found by ``phonenumbers`` (libphonenumber's rules) and, since a missed number
is worse than a removed figure, also by any run of 9 to 15 digits written like a phone number.
It runs before ``anonymise`` and ``hide_metadata``, whose replacements could split an address.
The audit records how many of each were removed, never the values.
"""

from __future__ import annotations

from dataclasses import replace

import phonenumbers
from pydantic import Field

from policies.facts import Content, Facts
from policies.linear import Linear
from policies.markup import rewrite_text
from policies.rules import Change, Rewrite, RuleOptions, Transform

NAME = "remove_personal_data"

# The dot-atom form of RFC 5322 addr-spec, with a dotted domain (what people write in posts).
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# Both are RE2 patterns (linear time: a backtracking engine takes seconds on a long ``a@a@...``).
EMAIL = Linear(rf"[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~.-]+@{_LABEL}(?:\.{_LABEL})+")
# 9..15 digits, optionally led by +, with at most two of space . ( ) - between digits; not
# inside a word or after a +.
_PHONE_LIKE = Linear(r"\+?\(?\d(?:[ .()\-]{0,2}\d){8,14}", not_after=r"\w+", not_before=r"\w")


class PersonalDataOptions(RuleOptions):
    """What ``remove_personal_data`` removes and what it leaves in its place."""

    emails: bool = True
    phones: bool = True
    #: Region for numbers written without a country code (ISO 3166 code, e.g. ``GB``).
    region: str = Field(default="ZZ", min_length=2, max_length=2)
    email_placeholder: str = "[email removed]"
    phone_placeholder: str = "[phone removed]"


def _phone_spans(text: str, region: str) -> list[tuple[int, int]]:
    spans = [
        (m.start, m.end)
        for m in phonenumbers.PhoneNumberMatcher(
            text, region.upper(), leniency=phonenumbers.Leniency.VALID
        )
    ]
    spans += [m.span() for m in _PHONE_LIKE.finditer(text)]
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def scrub(text: str, options: PersonalDataOptions) -> tuple[str, int, int]:
    """``text`` without emails and phone numbers, and how many of each were removed."""
    emails = phones = 0
    if options.emails:
        text, emails = EMAIL.subn(options.email_placeholder, text)
    if options.phones:
        spans = _phone_spans(text, options.region)
        for start, end in reversed(spans):
            text = text[:start] + options.phone_placeholder + text[end:]
        phones = len(spans)
    return text, emails, phones


def remove_personal_data(options: PersonalDataOptions, facts: Facts, content: Content) -> Rewrite:
    """Remove emails and phone numbers from the body and the title."""
    counts = [0, 0]

    def edit(text: str) -> str:
        new, emails, phones = scrub(text, options)
        counts[0] += emails
        counts[1] += phones
        return new

    body = rewrite_text(content, edit)
    title = None if content.title is None else edit(content.title)
    changes = tuple(
        Change(NAME, what, n)
        for what, n in (("email address", counts[0]), ("phone number", counts[1]))
        if n
    )
    return Rewrite(replace(content, body=body, title=title), changes)


TRANSFORM: Transform[PersonalDataOptions] = Transform(
    NAME,
    PersonalDataOptions,
    remove_personal_data,
    order=25,
    doc="remove email addresses and phone numbers, recording how many",
)
