"""Expression trees of the cluster query language: nodes, operators, and how each one tests an instance.

Arguments are checked and compiled to a test function once, when a node is built.
"""

from __future__ import annotations

import enum
import functools
import math
import operator as _op
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Final

import attrs

from clusterkit.errors import ValidationError
from clusterkit.model import ContainerInstance
from clusterkit.query._context import QueryContext, SnapshotContext

if TYPE_CHECKING:
    from clusterkit.state import Snapshot

__all__ = ["MAX_NESTING", "SUBJECTS", "And", "Comparison", "Expression", "Not", "Operator", "Or"]

MAX_NESTING: Final = 100
"""How deeply ``not`` and parentheses may nest in one expression."""
SUBJECTS: Final = (
    "agentConnected",
    "agentVersion",
    "attribute:NAME",
    "ec2InstanceId",
    "registeredAt",
    "runningTasksCount",
    "task:group",
)
"""The subjects an expression may test (``instanceId`` is accepted as ``ec2InstanceId``)."""
_ATTRIBUTE_PREFIX: Final = "attribute:"
_MAX_ATTRIBUTE_NAME: Final = 128
_ATTRIBUTE_NAME_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_/:")
_SPECIAL_CHARS: Final = frozenset("()[],'\"!=<>&|")
_NUMBER_CHARS: Final = frozenset("0123456789+-.eE")
_SECONDS_PER_DAY: Final = 86400.0


_Test = Callable[[ContainerInstance, QueryContext], bool]


class Operator(enum.Enum):
    """A comparison operator; the value is its canonical symbol, ``word`` its word form."""

    EQ = "=="
    NE = "!="
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    EXISTS = "exists"
    NOT_EXISTS = "!exists"
    IN = "in"
    NOT_IN = "!in"
    MATCHES = "=~"
    NOT_MATCHES = "!~"

    @property
    def word(self) -> str:
        """The word form, such as ``not_equals``."""
        return _WORDS_BY_OPERATOR[self]

    @property
    def is_negated(self) -> bool:
        """True for ``!=``, ``!exists``, ``!in`` and ``!~``: ``not`` of their positive form."""
        return self in _POSITIVE

    @property
    def positive(self) -> Operator:
        """The positive form (``==`` for ``!=``); the operator itself when it is positive."""
        return _POSITIVE.get(self, self)

    @property
    def argument_kind(self) -> str:
        """``"none"``, ``"list"``, ``"pattern"`` or ``"value"``: what follows the operator."""
        positive = self.positive
        if positive is Operator.EXISTS:
            return "none"
        if positive is Operator.IN:
            return "list"
        if positive is Operator.MATCHES:
            return "pattern"
        return "value"


_POSITIVE: Final = {
    Operator.NE: Operator.EQ,
    Operator.NOT_EXISTS: Operator.EXISTS,
    Operator.NOT_IN: Operator.IN,
    Operator.NOT_MATCHES: Operator.MATCHES,
}
_WORDS_BY_OPERATOR: Final = {
    Operator.EQ: "equals",
    Operator.NE: "not_equals",
    Operator.GT: "greater_than",
    Operator.GE: "greater_than_equal",
    Operator.LT: "less_than",
    Operator.LE: "less_than_equal",
    Operator.EXISTS: "exists",
    Operator.NOT_EXISTS: "not_exists",
    Operator.IN: "in",
    Operator.NOT_IN: "not_in",
    Operator.MATCHES: "matches",
    Operator.NOT_MATCHES: "not_matches",
}
_OPERATOR_WORDS: Final = {word: operator for operator, word in _WORDS_BY_OPERATOR.items()}
_OPERATOR_SYMBOLS: Final = {operator.value: operator for operator in Operator}
_ORDERING: Final[dict[Operator, Callable[[Any, Any], bool]]] = {
    Operator.GT: _op.gt,
    Operator.GE: _op.ge,
    Operator.LT: _op.lt,
    Operator.LE: _op.le,
}
_EQUALITY_FAMILY: Final = frozenset({Operator.EQ, Operator.NE, Operator.IN, Operator.NOT_IN})
_MATCH_FAMILY: Final = frozenset({Operator.MATCHES, Operator.NOT_MATCHES})
_ORDER_FAMILY: Final = frozenset({Operator.EQ, Operator.NE, *_ORDERING})
_ALLOWED: Final[dict[str, frozenset[Operator]]] = {
    "agentConnected": _EQUALITY_FAMILY | _MATCH_FAMILY,
    "agentVersion": _ORDER_FAMILY,
    "ec2InstanceId": _EQUALITY_FAMILY | _MATCH_FAMILY,
    "registeredAt": _ORDER_FAMILY,
    "runningTasksCount": _ORDER_FAMILY,
    "task:group": frozenset(Operator),
    _ATTRIBUTE_PREFIX: frozenset(Operator),
}
"""The operators each subject takes, from the ECS documentation (attributes and task:group: all)."""
_ALIASES: Final = {"instanceId": "ec2InstanceId"}


class _Invalid(ValidationError):
    """A node that cannot be built; ``part`` and ``index`` let the parser point at the culprit."""

    def __init__(self, part: str, index: int, expected: str, value: object) -> None:
        self.part = part
        self.index = index
        self.expected = expected
        super().__init__(f"expression.{part}", value, f"expected {expected}")


class Expression:
    """A parsed cluster query: a ``Comparison``, ``Not``, ``And`` or ``Or``.

    Nodes are immutable, hashable and compare by structure. ``str()`` gives canonical text
    that ``parse_expression`` turns back into an equal expression.
    """

    __slots__ = ()
    _test: _Test

    def evaluate(self, instance: ContainerInstance, context: QueryContext) -> bool:
        """True when ``instance`` is selected; ``context`` answers task:group questions."""
        return self._test(instance, context)

    def matcher(self, snapshot: Snapshot) -> Callable[[ContainerInstance], bool]:
        """A test of the instances of ``snapshot`` (an ``InstanceFilter`` for list calls)."""
        test, context = self._test, SnapshotContext(snapshot)
        return lambda instance: test(instance, context)

    @property
    def uses_task_groups(self) -> bool:
        """True when evaluation asks ``context`` for task groups (a task:group comparison)."""
        raise NotImplementedError

    @property
    def _precedence(self) -> int:
        raise NotImplementedError


def _node(value: object) -> Expression:
    if not isinstance(value, Expression):
        raise ValidationError("expression", value, "an operand must be an Expression")
    return value


def _canonical_subject(subject: object) -> str:
    if not isinstance(subject, str):
        raise _Invalid("subject", 0, "a subject", subject)
    return _ALIASES.get(subject, subject)


def _argument_tuple(argument: object) -> object:
    return tuple(argument) if isinstance(argument, list) else argument


def _to_operator(value: object) -> Operator:
    """An Operator from itself, its symbol or its word form."""
    if isinstance(value, Operator):
        return value
    if isinstance(value, str):
        found = _OPERATOR_SYMBOLS.get(value) or _OPERATOR_WORDS.get(value)
        if found is not None:
            return found
    raise _Invalid("operator", 0, "an operator", value)


@attrs.frozen(slots=True)
class Comparison(Expression):
    """``subject operator [argument]``.

    ``subject`` is one of ``SUBJECTS`` with a real name after ``attribute:``
    (``instanceId`` becomes ``ec2InstanceId``); ``operator`` may also be given as its
    symbol or word. ``argument`` is None for ``exists`` and
    ``!exists``, a non-empty tuple of strings for ``in`` and ``!in``, and a string
    otherwise (the regular expression for ``=~`` and ``!~``). Arguments are kept as
    written and checked and converted when the node is built; a bad one raises
    ValidationError.
    """

    subject: str = attrs.field(converter=_canonical_subject)
    operator: Operator = attrs.field(converter=_to_operator)
    argument: str | tuple[str, ...] | None = attrs.field(default=None, converter=_argument_tuple)
    _test: _Test = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        kind = _subject_kind(self.subject)
        if self.operator not in _ALLOWED[kind]:
            raise _Invalid("operator", 0, _operators_for(self.subject), self.operator)
        object.__setattr__(self, "_test", _compile(kind, self.subject, self.operator, self.argument))

    @property
    def uses_task_groups(self) -> bool:
        """True for a task:group comparison."""
        return self.subject == "task:group"

    @property
    def _precedence(self) -> int:
        return 4

    def __str__(self) -> str:
        head = f"{self.subject} {self.operator.value}"
        argument = self.argument
        if argument is None:
            return head
        if isinstance(argument, tuple):
            return f"{head} [{', '.join(_show_value(value) for value in argument)}]"
        if self.operator.argument_kind == "pattern":
            return f"{head} {_quote(argument)}"
        return f"{head} {_show_value(argument)}"


@attrs.frozen(slots=True)
class Not(Expression):
    """``not operand``: selects the instances ``operand`` does not."""

    operand: Expression = attrs.field(converter=_node)
    _test: _Test = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        inner = self.operand._test

        def test(instance: ContainerInstance, context: QueryContext) -> bool:
            return not inner(instance, context)

        object.__setattr__(self, "_test", test)

    @property
    def uses_task_groups(self) -> bool:
        """True when the operand uses task groups."""
        return self.operand.uses_task_groups

    @property
    def _precedence(self) -> int:
        return 3

    def __str__(self) -> str:
        operand = self.operand
        return f"not {operand}" if isinstance(operand, Not) else f"not ({operand})"


@attrs.frozen(slots=True)
class _Binary(Expression):
    """``left WORD right`` for ``and`` / ``or``: the right side runs only when it can matter."""

    left: Expression = attrs.field(converter=_node)
    right: Expression = attrs.field(converter=_node)
    _test: _Test = attrs.field(init=False, repr=False, eq=False)
    _word: ClassVar[str]
    _level: ClassVar[int]

    def __attrs_post_init__(self) -> None:
        left, right = self.left._test, self.right._test
        if self._word == "and":

            def test(instance: ContainerInstance, context: QueryContext) -> bool:
                return left(instance, context) and right(instance, context)

        else:

            def test(instance: ContainerInstance, context: QueryContext) -> bool:
                return left(instance, context) or right(instance, context)

        object.__setattr__(self, "_test", test)

    @property
    def uses_task_groups(self) -> bool:
        """True when either side uses task groups."""
        return self.left.uses_task_groups or self.right.uses_task_groups

    @property
    def _precedence(self) -> int:
        return self._level

    def __str__(self) -> str:
        return f"{_wrap(self.left, self._level)} {self._word} {_wrap(self.right, self._level + 1)}"


@attrs.frozen(slots=True)
class And(_Binary):
    """``left and right``: selects the instances both select (``right`` is skipped when ``left`` fails)."""

    _word: ClassVar[str] = "and"
    _level: ClassVar[int] = 2


@attrs.frozen(slots=True)
class Or(_Binary):
    """``left or right``: selects the instances either selects (``right`` is skipped when ``left`` holds)."""

    _word: ClassVar[str] = "or"
    _level: ClassVar[int] = 1


def _wrap(node: Expression, minimum: int) -> str:
    """``node`` as text, parenthesised when it binds less tightly than ``minimum``."""
    text = str(node)
    return text if node._precedence >= minimum else f"({text})"


def _is_bare(value: str) -> bool:
    return bool(value) and not any(char.isspace() or char in _SPECIAL_CHARS for char in value)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _show_value(value: str) -> str:
    return value if _is_bare(value) else _quote(value)


def _operators_for(subject: str) -> str:
    allowed = _ALLOWED[_subject_kind(subject)]
    symbols = ", ".join(operator.value for operator in Operator if operator in allowed)
    return f"an operator {subject} takes ({symbols})"


# -- subjects ------------------------------------------------------------------------------


def _subject_kind(subject: str) -> str:
    """The key of ``subject`` in ``_ALLOWED``; raises _Invalid (index: offending character)."""
    if subject in _ALLOWED and subject != _ATTRIBUTE_PREFIX:
        return subject
    if not subject.startswith(_ATTRIBUTE_PREFIX):
        raise _Invalid("subject", 0, "a subject", subject)
    name = subject[len(_ATTRIBUTE_PREFIX) :]
    offset = len(_ATTRIBUTE_PREFIX)
    if not name:
        raise _Invalid("subject", offset, "an attribute name", subject)
    for index, char in enumerate(name):
        if index == _MAX_ATTRIBUTE_NAME:
            raise _Invalid("subject", offset + index, f"at most {_MAX_ATTRIBUTE_NAME} characters of name", subject)
        if char not in _ATTRIBUTE_NAME_CHARS:
            raise _Invalid(
                "subject", offset + index, "an attribute name character (letter, digit, . - _ / or :)", subject
            )
    return _ATTRIBUTE_PREFIX


# -- typed values --------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _number(text: str) -> float | None:
    """``text`` as a finite number, or None (plain decimal notation only: no ``inf``, ``1_0``)."""
    if not text or any(char not in _NUMBER_CHARS for char in text) or not any(char.isdigit() for char in text):
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _strip_zeros(parts: list[int]) -> tuple[int, ...]:
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def _version_argument(text: str) -> tuple[int, ...] | None:
    """A version argument: dot-separated decimal numbers such as ``1.14.5``."""
    parts = text.split(".")
    if not all(part.isascii() and part.isdigit() for part in parts):
        return None
    return _strip_zeros([int(part) for part in parts])


@functools.lru_cache(maxsize=1024)
def _instance_version(text: str) -> tuple[int, ...] | None:
    """An agent's version: the leading dotted numbers (``1.20.0-beta`` → (1, 20)), or None."""
    parts: list[int] = []
    for part in text.split("."):
        digits = 0
        while digits < len(part) and part[digits].isascii() and part[digits].isdigit():
            digits += 1
        if digits == 0:
            break
        parts.append(int(part[:digits]))
        if digits < len(part):
            break
    return _strip_zeros(parts) if parts else None


def _date_argument(text: str) -> tuple[float, float] | None:
    """``[start, end)`` in epoch seconds: a whole UTC day for a date, ``start == end`` for a time."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
        return start, start + _SECONDS_PER_DAY
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        stamp = moment.timestamp()
    except (ValueError, OverflowError, OSError):
        return None
    return stamp, stamp


def _boolean_argument(text: str) -> bool | None:
    lowered = text.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    return None


def _compile_pattern(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except Exception:  # re.error, and RecursionError/OverflowError on pathological patterns
        return None


# -- compiling comparisons -----------------------------------------------------------------


def _check_argument(operator: Operator, argument: object) -> tuple[str, ...]:
    """The argument's values as a tuple (empty for ``exists``); raises _Invalid on a bad shape."""
    kind = operator.argument_kind
    if kind == "none":
        if argument is not None:
            raise _Invalid("argument", 0, f"no argument after {operator.value}", argument)
        return ()
    if kind == "list":
        if not isinstance(argument, tuple) or not argument:
            raise _Invalid("argument", 0, "a non-empty list of values", argument)
        for index, value in enumerate(argument):
            if not isinstance(value, str):
                raise _Invalid("argument", index, "a string value", value)
        return argument
    if not isinstance(argument, str):
        raise _Invalid("argument", 0, "a string value", argument)
    return (argument,)


def _compile(kind: str, subject: str, operator: Operator, argument: object) -> _Test:
    """The test for one comparison; a negated operator is ``not`` of its positive test."""
    values = _check_argument(operator, argument)
    positive = operator.positive
    pattern: re.Pattern[str] | None = None
    if positive is Operator.MATCHES:
        pattern = _compile_pattern(values[0])
        if pattern is None:
            raise _Invalid("argument", 0, "a valid regular expression", values[0])
    if kind == "agentConnected":
        test = _compile_boolean(positive, values, pattern)
    elif kind == "agentVersion":
        test = _compile_version(positive, values[0])
    elif kind == "registeredAt":
        test = _compile_date(positive, values[0])
    elif kind == "runningTasksCount":
        test = _compile_count(positive, values[0])
    elif kind == "ec2InstanceId":
        test = _compile_instance_id(positive, values, pattern)
    elif kind == "task:group":
        test = _compile_groups(positive, values, pattern)
    else:
        test = _compile_attribute(subject[len(_ATTRIBUTE_PREFIX) :], positive, values, pattern)
    if operator.is_negated:
        inner = test

        def negated(instance: ContainerInstance, context: QueryContext) -> bool:
            return not inner(instance, context)

        return negated
    return test


def _compile_boolean(positive: Operator, values: tuple[str, ...], pattern: re.Pattern[str] | None) -> _Test:
    if pattern is not None:
        when_true = pattern.fullmatch("true") is not None
        when_false = pattern.fullmatch("false") is not None
        return lambda instance, context: when_true if instance.agent_connected else when_false
    wanted: set[bool] = set()
    for index, value in enumerate(values):
        flag = _boolean_argument(value)
        if flag is None:
            raise _Invalid("argument", index, "true or false", value)
        wanted.add(flag)
    chosen = frozenset(wanted)
    return lambda instance, context: instance.agent_connected in chosen


def _compile_version(positive: Operator, value: str) -> _Test:
    version = _version_argument(value)
    if version is None:
        raise _Invalid("argument", 0, "a version such as 1.14.5", value)
    if positive is Operator.EQ:
        return lambda instance, context: _instance_version(instance.agent_version) == version
    compare = _ORDERING[positive]

    def test(instance: ContainerInstance, context: QueryContext) -> bool:
        found = _instance_version(instance.agent_version)
        return found is not None and compare(found, version)

    return test


def _compile_date(positive: Operator, value: str) -> _Test:
    span = _date_argument(value)
    if span is None:
        raise _Invalid("argument", 0, "a date such as 2018-06-18 or 2018-06-18T22:28:28Z", value)
    start, end = span
    if start == end:
        if positive is Operator.EQ:
            return lambda instance, context: instance.registered_at == start
        compare = _ORDERING[positive]
        return lambda instance, context: compare(instance.registered_at, start)
    # A whole day [start, end): "on", "before", "on or before", "after", "on or after" that day.
    if positive is Operator.EQ:
        return lambda instance, context: start <= instance.registered_at < end
    if positive is Operator.LT:
        return lambda instance, context: instance.registered_at < start
    if positive is Operator.LE:
        return lambda instance, context: instance.registered_at < end
    if positive is Operator.GT:
        return lambda instance, context: instance.registered_at >= end
    return lambda instance, context: instance.registered_at >= start


def _compile_count(positive: Operator, value: str) -> _Test:
    number = _number(value)
    if number is None:
        raise _Invalid("argument", 0, "a number", value)
    if positive is Operator.EQ:
        return lambda instance, context: instance.running_tasks_count == number
    compare = _ORDERING[positive]
    return lambda instance, context: compare(instance.running_tasks_count, number)


def _compile_instance_id(positive: Operator, values: tuple[str, ...], pattern: re.Pattern[str] | None) -> _Test:
    if pattern is not None:
        search = pattern.fullmatch

        def matches(instance: ContainerInstance, context: QueryContext) -> bool:
            found = instance.ec2_instance_id
            return found is not None and search(found) is not None

        return matches
    wanted = frozenset(values)
    return lambda instance, context: instance.ec2_instance_id in wanted


def _value_test(positive: Operator, values: tuple[str, ...], pattern: re.Pattern[str] | None) -> Callable[[str], bool]:
    """A test of one attribute value or task group: numeric when both sides are numbers."""
    if pattern is not None:
        search = pattern.fullmatch
        return lambda found: search(found) is not None
    if positive in _ORDERING:
        compare = _ORDERING[positive]
        text = values[0]
        number = _number(text)
        if number is None:
            return lambda found: compare(found, text)

        def ordered(found: str) -> bool:
            other = _number(found)
            return compare(found, text) if other is None else compare(other, number)

        return ordered
    texts = frozenset(values)
    numbers = frozenset(number for number in map(_number, values) if number is not None)
    if not numbers:
        return texts.__contains__

    def equal(found: str) -> bool:
        return found in texts or _number(found) in numbers

    return equal


def _compile_attribute(
    name: str, positive: Operator, values: tuple[str, ...], pattern: re.Pattern[str] | None
) -> _Test:
    if positive is Operator.EXISTS:
        return lambda instance, context: instance.has_attribute(name)
    check = _value_test(positive, values, pattern)

    def test(instance: ContainerInstance, context: QueryContext) -> bool:
        found = instance.attribute(name)
        return found is not None and check(found)

    return test


def _compile_groups(positive: Operator, values: tuple[str, ...], pattern: re.Pattern[str] | None) -> _Test:
    if positive is Operator.EXISTS:
        return lambda instance, context: len(context.groups_on(instance.id)) > 0
    if pattern is None and positive in (Operator.EQ, Operator.IN) and all(_number(v) is None for v in values):
        if len(values) == 1:
            group = values[0]
            return lambda instance, context: group in context.groups_on(instance.id)

        def any_of(instance: ContainerInstance, context: QueryContext) -> bool:
            groups = context.groups_on(instance.id)
            return any(group in groups for group in values)

        return any_of
    check = _value_test(positive, values, pattern)
    return lambda instance, context: any(map(check, context.groups_on(instance.id)))
