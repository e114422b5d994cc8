"""Hypothesis strategies for the cluster query language: valid expressions and broken texts.

``expressions()`` draws expression trees that ``parse_expression`` reads back from their
canonical text; ``expression_texts()`` draws that text. ``invalid_expressions()`` draws
texts that must raise ``QuerySyntaxError`` (or ``ValidationError``, for a text too long),
and ``BAD_EXPRESSIONS`` is a fixed corpus of them.
"""

from __future__ import annotations

import re
import string
from datetime import UTC
from typing import Final

from hypothesis import strategies as st

from clusterkit.errors import QuerySyntaxError, ValidationError
from clusterkit.query import (
    MAX_EXPRESSION_LENGTH,
    MAX_NESTING,
    And,
    Comparison,
    Expression,
    Not,
    Operator,
    Or,
)
from clusterkit.testing._invalid import BadInput

__all__ = [
    "BAD_EXPRESSIONS",
    "comparisons",
    "expression_texts",
    "expressions",
    "invalid_expressions",
]

names = st.text(alphabet=string.ascii_letters + string.digits + ".-_/:", min_size=1, max_size=12)
any_values = st.text(max_size=12)
bare_values = st.text(alphabet=string.ascii_letters + string.digits + ".-_:*", min_size=1, max_size=12)
values = st.one_of(any_values, bare_values, st.sampled_from(["and", "or", "not", "in", "exists", "==", "'", '"']))


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


patterns = st.one_of(
    st.sampled_from(["g2.*", "(a|b)+", "[)]x", "it's", 'say "hi"', "a\\.b", "\\d{2,3}", "", "x||y"]),
    st.text(alphabet=string.ascii_letters + ".*+?|()[] '\"\\", max_size=10),
).filter(_compiles)
versions = st.lists(st.integers(0, 300), min_size=1, max_size=4).map(lambda parts: ".".join(map(str, parts)))
dates = st.one_of(
    st.dates().map(lambda day: day.isoformat()),
    st.datetimes(timezones=st.sampled_from([None, UTC])).map(lambda moment: moment.isoformat()),
    st.datetimes().map(lambda moment: moment.replace(microsecond=0).isoformat() + "Z"),
)
numbers = st.one_of(st.integers(-5, 10**6).map(str), st.sampled_from(["1.5", "-0.25", "1e3", "007"]))
booleans = st.sampled_from(["true", "false", "True", "FALSE"])

SUBJECT_VALUES: Final[dict[str, st.SearchStrategy[str]]] = {
    "agentConnected": booleans,
    "agentVersion": versions,
    "ec2InstanceId": values,
    "registeredAt": dates,
    "runningTasksCount": numbers,
    "task:group": values,
    "attribute": values,
}
"""Per kind of subject, the values it compares with."""

ALLOWED: Final[dict[str, list[str]]] = {
    "agentConnected": ["==", "!=", "in", "!in", "=~", "!~"],
    "agentVersion": ["==", "!=", ">", ">=", "<", "<="],
    "ec2InstanceId": ["==", "!=", "in", "!in", "=~", "!~"],
    "registeredAt": ["==", "!=", ">", ">=", "<", "<="],
    "runningTasksCount": ["==", "!=", ">", ">=", "<", "<="],
    "task:group": [operator.value for operator in Operator],
    "attribute": [operator.value for operator in Operator],
}
"""Per kind of subject, the operators it takes."""


@st.composite
def comparisons(draw: st.DrawFn) -> Comparison:
    """One comparison: any subject, an operator it takes, and a value that suits both."""
    kind = draw(st.sampled_from(sorted(SUBJECT_VALUES)))
    subject = f"attribute:{draw(names)}" if kind == "attribute" else kind
    operator = Operator(draw(st.sampled_from(ALLOWED[kind])))
    argument: str | tuple[str, ...] | None
    if operator in (Operator.EXISTS, Operator.NOT_EXISTS):
        argument = None
    elif operator in (Operator.IN, Operator.NOT_IN):
        argument = tuple(draw(st.lists(SUBJECT_VALUES[kind], min_size=1, max_size=3)))
    elif operator in (Operator.MATCHES, Operator.NOT_MATCHES):
        argument = draw(patterns)
    else:
        argument = draw(SUBJECT_VALUES[kind])
    return Comparison(subject, operator, argument)


def expressions(max_leaves: int = 8) -> st.SearchStrategy[Expression]:
    """Expression trees of comparisons joined by not, and, or (up to ``max_leaves`` comparisons)."""
    return st.recursive(
        comparisons(),
        lambda children: st.one_of(
            children.map(Not),
            st.tuples(children, children).map(lambda pair: And(*pair)),
            st.tuples(children, children).map(lambda pair: Or(*pair)),
        ),
        max_leaves=max_leaves,
    )


def expression_texts(max_leaves: int = 4) -> st.SearchStrategy[str]:
    """Canonical texts of ``expressions`` that fit ECS's 2000-character limit."""
    return expressions(max_leaves).map(str).filter(lambda text: len(text) <= MAX_EXPRESSION_LENGTH)


def _bad(name: str, text: str) -> BadInput:
    return BadInput(name, text, QuerySyntaxError, ("expression",))


BAD_EXPRESSIONS: Final[tuple[BadInput, ...]] = (
    BadInput("empty", "", ValidationError, ("expression", "placementConstraints[0].expression")),
    _bad("blank", "   "),
    _bad("no-operator", "attribute:x"),
    _bad("single-equals", "attribute:x = 1"),
    _bad("no-value", "attribute:x =="),
    _bad("unclosed-paren", "(attribute:x exists"),
    _bad("extra-paren", "attribute:x exists)"),
    _bad("two-values", "attribute:x == a b"),
    _bad("dangling-and", "attribute:x exists and"),
    _bad("or-or", "attribute:x exists or or attribute:y exists"),
    _bad("in-without-list", "attribute:x in a"),
    _bad("in-empty-list", "attribute:x in []"),
    _bad("unclosed-quote", "attribute:x == 'abc"),
    _bad("unknown-subject", "frobnicate == 1"),
    _bad("attribute-without-name", "attribute: exists"),
    _bad("version-not-a-version", "agentVersion > one"),
    _bad("count-not-a-number", "runningTasksCount < many"),
    _bad("connected-not-a-bool", "agentConnected == yes"),
    _bad("date-not-a-date", "registeredAt > yesterday"),
    _bad("bad-regex", "attribute:x =~ a(b"),
    _bad("version-in-list", "agentVersion in [1.0]"),
    _bad("too-deep", "(" * (MAX_NESTING + 1) + "attribute:x exists" + ")" * (MAX_NESTING + 1)),
)
"""Texts ``parse_expression`` must refuse with QuerySyntaxError naming the field ``expression``
(the empty text: a ValidationError, which a memberOf constraint raises before parsing)."""


@st.composite
def invalid_expressions(draw: st.DrawFn) -> BadInput:
    """A text that must not parse: a corpus entry, or a valid text broken in one place."""
    choice = draw(st.integers(0, 4))
    if choice == 0:
        return draw(st.sampled_from(BAD_EXPRESSIONS))
    text = draw(expression_texts(max_leaves=3).filter(lambda text: len(text) < MAX_EXPRESSION_LENGTH - 40))
    broken = {
        1: ("trailing-and", f"{text} and"),
        2: ("unclosed", f"({text}"),
        3: ("leading-operator", f"== {text}"),
        4: ("unknown-subject", f"{text} or nosuchthing == 1"),
    }[choice]
    return _bad(*broken)
