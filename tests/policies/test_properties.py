"""Properties of the boundary over random posts, policies and tiers (issue 4, "Done when")."""

from __future__ import annotations

import html
import re
from typing import Any

import phonenumbers
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from policies.anonymise import Alias, anonymise
from policies.crossing import Crossing
from policies.decision import Outcome
from policies.engine import apply, decide
from policies.facts import BodyFormat, Content, Facts
from policies.pii import PersonalDataOptions, remove_personal_data
from policies.tiers import Tier
from tests.policies.policyfiles import policy

TAGS = ["publish", "news", "internal"]
GROUPS = ["staff", "members", "policy-team"]
TOPICS = [20, 30, 40]
OWN_TOPIC = 10

tiers = st.sampled_from([*Tier, None])
actions = st.sampled_from(["allow", "deny", "hold"])


@st.composite
def conditions(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if draw(st.booleans()):
        out["tags"] = draw(st.lists(st.sampled_from(TAGS), min_size=1, unique=True))
    if draw(st.booleans()):
        out["groups"] = draw(st.lists(st.sampled_from(GROUPS), min_size=1, unique=True))
    if draw(st.booleans()):
        out["trust_level"] = draw(st.integers(0, 4))
    if draw(st.booleans()):
        out["category"] = draw(st.lists(st.sampled_from(["council", "town"]), min_size=1))
    if draw(st.booleans()):
        out["staff"] = draw(st.booleans())
    return out


@st.composite
def transforms(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("remove_personal_data", "hide_metadata", "drop_restricted_quotes"):
        if draw(st.booleans()):
            out[name] = True
    if draw(st.booleans()):
        out["anonymise"] = [{"groups": ["staff"], "as": "Policy team"}]
    return out


@st.composite
def direction_rules(draw: st.DrawFn) -> dict[str, Any] | None:
    if draw(st.booleans()):
        return None
    rule: dict[str, Any] = {"action": draw(actions), "otherwise": draw(actions)}
    rule["when"] = draw(conditions())
    if "allow" in (rule["action"], rule["otherwise"]):
        rule["transforms"] = draw(transforms())
    return rule


@st.composite
def policy_data(draw: st.DrawFn) -> dict[str, Any]:
    out = {}
    for direction in ("forum-to-chat", "chat-to-forum"):
        rule = draw(direction_rules())
        if rule is not None:
            out[direction] = rule
    return out


@st.composite
def facts(draw: st.DrawFn) -> Facts:
    return Facts(
        draw(tiers),
        draw(tiers),
        category_slug=draw(st.sampled_from(["council", "town"])),
        category_name="SECRETCATEGORY",
        tags=frozenset(draw(st.lists(st.sampled_from(TAGS), unique=True))),
        title="SECRETTITLE",
        topic_id=OWN_TOPIC,
        author_username="alice",
        author_groups=draw(st.none() | st.frozensets(st.sampled_from(GROUPS))),
        trust_level=draw(st.none() | st.integers(0, 4)),
        staff=draw(st.none() | st.booleans()),
        unlisted=draw(st.booleans()),
        forum_url="https://forum.example.org",
        readable_topic_ids=frozenset(draw(st.lists(st.sampled_from(TOPICS), unique=True))),
    )


def oracle_allows(rule: dict[str, Any] | None, f: Facts) -> bool:
    """Whether an allow rule of ``rule`` matches ``f``, worked out independently of the engine."""
    if rule is None:
        return False
    results = []
    for name, wanted in rule["when"].items():
        if name == "tags":
            results.append(bool(f.tags & set(wanted)))
        elif name == "groups":
            results.append(
                None if f.author_groups is None else bool(f.author_groups & set(wanted))
            )
        elif name == "trust_level":
            results.append(None if f.trust_level is None else f.trust_level >= wanted)
        elif name == "category":
            results.append(f.category_slug in wanted)
        elif name == "staff":
            results.append(None if f.staff is None else f.staff is wanted)
    if False in results:
        return bool(rule["otherwise"] == "allow")
    if None in results:
        return False
    return bool(rule["action"] == "allow")


def restricted_body(topics: list[int]) -> str:
    parts = ["<p>SECRETBODY</p>"]
    for topic in topics:
        parts.append(
            f'<aside class="quote" data-topic="{topic}" data-post="1">'
            f"<blockquote>QUOTE{topic}</blockquote></aside>"
            f'<p><a href="https://forum.example.org/t/slug/{topic}">LINK{topic}</a> '
            f"https://forum.example.org/t/{topic}/2</p>"
        )
    return "".join(parts)


@settings(max_examples=400)
@given(
    data=policy_data(),
    f=facts(),
    source=st.sampled_from(["discourse", "matrix"]),
    quoted=st.lists(st.sampled_from(TOPICS), unique=True),
)
def test_restricted_content_reaches_a_more_open_space_only_through_an_allow_rule(
    data: dict[str, Any], f: Facts, source: str, quoted: list[int]
) -> None:
    crossing = Crossing(source, "both", "l", post_type=1, archetype="regular")
    parsed = policy(data) if data else None
    decision = decide(crossing, f, parsed, name="random")
    direction = "forum-to-chat" if source == "discourse" else "chat-to-forum"
    source_tier, target = f.effective_source_tier, f.target_tier
    if source_tier is None or target is None:
        assert decision.outcome is Outcome.WAITING
        return
    if not target.more_open_than(source_tier):
        return
    # Outward: nothing at all crosses unless an allow rule matched.
    if decision.crosses:
        assert oracle_allows(data.get(direction), f), decision
    else:
        assert decision.outcome in (Outcome.REFUSED, Outcome.HELD, Outcome.WAITING)
        return
    content = Content(
        restricted_body(quoted),
        title="SECRETTITLE",
        author_display_name="Alice",
        author_username="alice",
        tags=tuple(sorted(f.tags)),
        category_name="SECRETCATEGORY",
    )
    out = apply(decision, content).content.body
    for topic in quoted:
        if topic not in f.readable_topic_ids:
            # Quotes of, links to and previews of topics the target may not read never go.
            assert f"QUOTE{topic}" not in out
            assert f"LINK{topic}" not in out
            assert not re.search(rf"/t/(slug/)?{topic}\b", out)
        else:
            assert f"QUOTE{topic}" in out


# --- personal data ---------------------------------------------------------------------------

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
FORMATS = [phonenumbers.PhoneNumberFormat.INTERNATIONAL, phonenumbers.PhoneNumberFormat.E164]


@st.composite
def phone_numbers(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(REGIONS))
    kind = draw(
        st.sampled_from(
            [phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]
        )
    )
    example = phonenumbers.example_number_for_type(region, kind)
    assume(example is not None)
    # Numbers written the way people in the configured region write them, too.
    if region == "GB" and draw(st.booleans()):
        return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(example, draw(st.sampled_from(FORMATS)))


words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ,;:!?", min_size=0, max_size=20)


@settings(max_examples=300)
@given(
    pieces=st.lists(st.tuples(words, st.emails() | phone_numbers()), min_size=1, max_size=5),
    as_html=st.booleans(),
)
def test_every_email_and_phone_number_is_removed(
    pieces: list[tuple[str, str]], as_html: bool
) -> None:
    text = " ".join(f"{filler} {secret}" for filler, secret in pieces)
    body = f"<p>{html.escape(text)}</p>" if as_html else text
    content = Content(body, BodyFormat.HTML if as_html else BodyFormat.TEXT)
    out = remove_personal_data(PersonalDataOptions(region="GB"), Facts(None, None), content)
    seen = html.unescape(out.content.body)
    digits_left = re.sub(r"\D", "", seen)
    for _, secret in pieces:
        assert secret not in seen
        if "@" not in secret:
            assert re.sub(r"\D", "", secret) not in digits_left or not digits_left
    removed = sum(c.count for c in out.changes)
    assert removed >= 1


# --- anonymisation ---------------------------------------------------------------------------

name_words = st.text(alphabet="abcdefghijklmnopqrstuvwxyzéø", min_size=2, max_size=10)
ALIAS = "Policy team"


@settings(max_examples=300)
@given(
    first=name_words,
    last=name_words,
    username=st.from_regex(r"[a-z][a-z0-9_]{2,12}", fullmatch=True),
    filler=st.lists(name_words, max_size=6),
    as_html=st.booleans(),
)
def test_an_anonymised_authors_name_never_reaches_the_other_side(
    first: str, last: str, username: str, filler: list[str], as_html: bool
) -> None:
    display = f"{first.capitalize()} {last.capitalize()}"
    real = {first, last, username}
    assume(not real & {w.lower() for w in ALIAS.split()})
    mentions = [first, display, f"@{username}", username.upper(), last.upper(), *filler]
    text = " ".join(mentions)
    if as_html:
        body = (
            f'<p>{html.escape(text)} <a class="mention" href="/u/{username}">@{username}</a></p>'
            f'<aside class="quote" data-username="{username}"><blockquote>{last}</blockquote>'
            "</aside>"
        )
    else:
        body = text
    content = Content(
        body,
        BodyFormat.HTML if as_html else BodyFormat.MARKDOWN,
        title=f"{display} asks",
        author_display_name=display,
        author_username=username,
    )
    f = Facts(
        Tier.RESTRICTED, Tier.OPEN, author_username=username, author_groups=frozenset({"staff"})
    )
    options = (Alias(groups=("staff",), **{"as": ALIAS}),)
    out = anonymise(options, f, content).content
    shown = " ".join([html.unescape(out.body), out.title or "", out.author_display_name or ""])
    assert out.author_username is None
    assert out.author_display_name == ALIAS
    for name in real:
        assert not re.search(rf"(?<!\w){re.escape(name)}(?!\w)", shown, re.IGNORECASE), name
