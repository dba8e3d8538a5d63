"""Pattern benchmark: every pattern porch runs over user text, on 64 KiB of hostile input.

A backtracking engine takes seconds on inputs such as a long run of ``[`` against a markdown
link pattern, holding the GIL all the while. Porch's patterns over user text are RE2 patterns
(``policies.linear``), linear in the text. This run times each one on many adversarial shapes
(runs of ``!``, ``[``, ``[](``, ``a@``, ``.``, spaces, non-ASCII letters, and mixes) and prints
the slowest shape per pattern, plus the watched-word list and the rewrites that use them.

Usage (from the repository root, after ``pip install -e '.[test]'``)::

    python bench/patterns.py               # 64 KiB inputs
    python bench/patterns.py --smoke       # 4 KiB inputs: checks that everything runs

Exit status 0 when every pattern took under the budget (50 ms) on every shape, 1 otherwise
(``--smoke`` judges no time and exits 0 once everything ran).
Patterns still on Python's ``re`` (listed as ``re``) are timed on 8 KiB first and skipped at
full size when that already exceeds the budget.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from policies.linear import Linear

#: The policy modules whose module-level patterns see what members write (all RE2).
MODULES = (
    "policies.watched_words",
    "policies.boundary",
    "policies.pii",
    "policies.protections",
    "policies.watching",
    "policies.membership",
    "policies.metadata",
    "policies.names",
    "bridges.formatting.titles",
)
#: Modules of the other packages with patterns over text from outside, timed for the audit.
AUDITED = (
    "bridges.formatting.sanitize",
    "bridges.formatting.emoji_names",
    "bridges.formatting.to_matrix",
    "bridges.formatting.layout",
    "bridges.formatting.to_forum",
    "bridges.relay.chat_to_forum.chat_media",
    "bridges.matrix.bot_sync",
    "bridges.matrix.events",
    "bridges.matrix.ghosts",
    "bridges.relay.readable_topics",
    "bridges.relay.chat_to_forum.chat_merging",
    "bridges.review.review_config",
    "webhooks.cli",
    "webhooks.config",
    "webhooks.discourse",
    "webhooks.link_pages",
    "webhooks.dashboard",
    "webhooks.audit_cmd",
)

BUDGET = 0.050
SIZE = 64 * 1024
SMOKE_SIZE = 4 * 1024

#: Hostile units, repeated to the input size.
SHAPES = (
    "!",
    "[",
    "[](",
    "![](",
    "a@",
    "a@a.",
    ".",
    " ",
    "a",
    "1",
    "1 ",
    "@",
    "*",
    "_",
    "`",
    "<",
    "é",
    "日本",
    "/t/",
    "[quote=",
    "http://",
    "<mx-reply",
    "a.",
    "+1",
    "\n",
    "!a[b](c@d.e f*g_h`i<j/t/1 é",
)


def shapes(size: int) -> Iterator[tuple[str, str]]:
    """Each adversarial shape as ``(name, text)``, ``size`` characters long."""
    for unit in SHAPES:
        yield repr(unit), (unit * (size // len(unit) + 1))[:size]
        # the same with a closing character at the very end, where a match would finish
        yield repr(unit) + "+end", (unit * (size // len(unit) + 1))[: size - 2] + "x)"


def module_patterns(
    modules: tuple[str, ...] = MODULES + AUDITED,
) -> Iterator[tuple[str, Linear | re.Pattern[str]]]:
    """Every module-level pattern of ``modules``, by its dotted name."""
    for name in modules:
        module = importlib.import_module(name)
        for attr, value in sorted(vars(module).items()):
            if isinstance(value, Linear | re.Pattern):
                yield f"{name}.{attr}", value
            elif isinstance(value, tuple) and value and all(isinstance(v, Linear) for v in value):
                # a family of patterns searched together (``policies.linear.leftmost``)
                for i, each in enumerate(value):
                    yield f"{name}.{attr}[{i}]", each


def function_runs() -> Iterator[tuple[str, Callable[[str], object]]]:
    """Patterns built at run time: the watched words (plain and regular-expression mode) and
    the rewrites using them, names, titles, policy-list globs."""
    from policies.names import pattern
    from policies.watched_words import (
        WatchedWord,
        WordAction,
        WordList,
        rewrite_markdown,
    )

    plain = WordList(
        tuple(
            WatchedWord(word, action)
            for word, action in (
                ("*x", WordAction.BLOCK),
                ("a*b", WordAction.BLOCK),
                ("*!*", WordAction.BLOCK),
                ("bad", WordAction.CENSOR),
                ("*é*", WordAction.CENSOR),
                ("link*", WordAction.LINK),
                ("swap", WordAction.REPLACE),
            )
        )
    )
    regex = WordList(
        (
            WatchedWord(r"(a+)+b", WordAction.BLOCK),
            WatchedWord(r"\[[^\]]*\]", WordAction.BLOCK),
            WatchedWord(r"(.*)*x", WordAction.CENSOR),
        ),
        regular_expressions=True,
    )
    yield "watched words: block (plain)", lambda t: plain.matches(WordAction.BLOCK, t)
    yield "watched words: censor (plain)", lambda t: plain.censor(t)
    yield "watched words: block (regex)", lambda t: regex.matches(WordAction.BLOCK, t)
    yield "watched words: rewrite_markdown", lambda t: rewrite_markdown(plain, t, "https://f")
    names = pattern(["Alice Smith", "Alice", "Smith", "a*b"])
    assert names is not None
    yield "names: a name list", lambda t: names.subn("someone", t)
    from bridges.formatting.titles import title_from_text
    from bridges.moderation.policy_lists import glob_pattern

    yield "titles: title_from_text", title_from_text
    glob = glob_pattern("*a*a*a*a*a*a*a*a*b")
    yield "policy lists: a glob of eight stars", glob.match


def engine(pattern: Linear | re.Pattern[str]) -> str:
    return "re2" if isinstance(pattern, Linear) else "re"


def scan(pattern: Linear | re.Pattern[str]) -> Callable[[str], object]:
    return lambda text: sum(1 for _ in pattern.finditer(text))


def bounded(pattern: Linear | re.Pattern[str], size: int) -> int:
    """The size to time ``pattern`` at: ``size``, or the most it accepts when smaller."""
    if isinstance(pattern, Linear) and pattern.at_most is not None:
        return min(size, pattern.at_most)
    return size


#: Runs per shape; the fastest counts. The machine may be shared: a run can lose the CPU
#: midway, and the fastest of a few is the cost of the pattern itself.
REPEATS = 3


def slowest(run: Callable[[str], object], size: int) -> tuple[float, str]:
    worst, worst_shape = 0.0, ""
    for shape, text in shapes(size):
        took = float("inf")
        for _ in range(REPEATS):
            start = time.perf_counter()
            run(text)
            took = min(took, time.perf_counter() - start)
        if took > worst:
            worst, worst_shape = took, shape
    return worst, worst_shape


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--smoke", action="store_true", help="4 KiB inputs (a quick check)")
    args = parser.parse_args(argv)
    size = SMOKE_SIZE if args.smoke else SIZE
    # A pattern that refuses text past a bound (``at_most``: its callers cut what they give it)
    # is timed at that bound when it is smaller.
    runs: list[tuple[str, str, Callable[[str], object], int]] = [
        (name, engine(p), scan(p), bounded(p, size)) for name, p in module_patterns()
    ]
    runs += [(name, "re2", run, size) for name, run in function_runs()]
    # compile everything first: the first use of a pattern compiles it
    for _, _, run, _ in runs:
        run("x")
    quarter = size // 4
    print(
        f"{'pattern':<52} {'engine':<6} {'ms':>8} {'x growth':>8}  slowest shape "
        f"({size // 1024} KiB; growth: time at {size // 1024} KiB / at {quarter // 1024} KiB, "
        "linear ~4, quadratic ~16)"
    )
    over = []
    for name, kind, run, run_size in runs:
        if kind == "re":
            took, shape = slowest(run, 8 * 1024)
            if took > BUDGET:
                print(f"{name:<52} {kind:<6} {took * 1000:>8.1f} {'':>8}  {shape} (at 8 KiB)")
                over.append(name)
                continue
        small, _ = slowest(run, run_size // 4)
        took, shape = slowest(run, run_size)
        growth = f"{took / small:.1f}" if small > 0.001 else "-"
        at = "" if run_size == size else f" (at {run_size // 1024} KiB, its bound)"
        print(f"{name:<52} {kind:<6} {took * 1000:>8.1f} {growth:>8}  {shape}{at}")
        if took > BUDGET:
            over.append(name)
    print(f"{len(runs)} patterns, budget {BUDGET * 1000:.0f} ms each, over budget: {len(over)}")
    for name in over:
        print(f"over budget: {name}")
    if args.smoke:
        # a quick check that everything runs; timings on tiny inputs judge nothing
        return 0
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
