"""The cluster query language: parsing, printing, evaluation and syntax errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clusterkit import ClusterState, ContainerInstance, QuerySyntaxError, Resources, ValidationError
from clusterkit.query import (
    MAX_EXPRESSION_LENGTH,
    MAX_NESTING,
    And,
    Comparison,
    Expression,
    Not,
    Operator,
    Or,
    SnapshotContext,
    StaticContext,
    parse_expression,
)
from clusterkit.testing import BadInput, expressions, invalid_expressions

NO_TASKS = StaticContext()


def epoch(text: str) -> float:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def instance(
    instance_id: str = "i-1",
    *,
    attributes: Mapping[str, str | None] | None = None,
    agent_version: str = "1.2.3",
    registered_at: str = "2018-06-18T12:00:00Z",
    **fields: Any,
) -> ContainerInstance:
    return ContainerInstance(
        id=instance_id,
        registered=Resources(cpu=1024, memory=2048),
        remaining=Resources(cpu=1024, memory=2048),
        attributes={"ecs.instance-type": "t2.small"} if attributes is None else attributes,
        agent_version=agent_version,
        registered_at=epoch(registered_at),
        **fields,
    )


def selects(expression: str, target: ContainerInstance, context: Any = NO_TASKS) -> bool:
    return parse_expression(expression).evaluate(target, context)


def syntax_error(expression: str) -> QuerySyntaxError:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_expression(expression)
    return caught.value


# -- every example of the ECS documentation ------------------------------------------------


def test_doc_string_equality() -> None:
    expression = "attribute:ecs.instance-type == t2.small"
    assert selects(expression, instance(attributes={"ecs.instance-type": "t2.small"}))
    assert not selects(expression, instance(attributes={"ecs.instance-type": "t2.medium"}))
    assert not selects(expression, instance(attributes={}))


def test_doc_argument_list() -> None:
    expression = "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]"
    for zone, expected in [("us-east-1a", True), ("us-east-1b", True), ("us-east-1c", False)]:
        assert selects(expression, instance(attributes={"ecs.availability-zone": zone})) is expected
    assert not selects(expression, instance(attributes={}))


def test_doc_compound_expression() -> None:
    expression = "attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d"
    cases = [
        ("g2.2xlarge", "us-east-1a", True),
        ("g2.8xlarge", "us-east-1d", False),
        ("t2.small", "us-east-1a", False),
    ]
    for kind, zone, expected in cases:
        target = instance(attributes={"ecs.instance-type": kind, "ecs.availability-zone": zone})
        assert selects(expression, target) is expected


def test_doc_task_affinity() -> None:
    context = StaticContext({"i-1": {"service:production", "family:batch"}, "i-2": {"service:staging"}})
    expression = "task:group == service:production"
    assert selects(expression, instance("i-1"), context)
    assert not selects(expression, instance("i-2"), context)
    assert not selects(expression, instance("i-3"), context)


def test_doc_task_anti_affinity() -> None:
    context = StaticContext({"i-1": {"database", "web"}, "i-2": {"web"}})
    expression = "not(task:group == database)"
    assert not selects(expression, instance("i-1"), context)
    assert selects(expression, instance("i-2"), context)
    assert selects(expression, instance("i-3"), context)


def test_doc_running_task_count() -> None:
    assert selects("runningTasksCount == 1", instance(running_tasks_count=1))
    assert not selects("runningTasksCount == 1", instance(running_tasks_count=0))
    assert not selects("runningTasksCount == 1", instance(running_tasks_count=2))


def test_doc_agent_version() -> None:
    assert selects("agentVersion < 1.14.5", instance(agent_version="1.14.4"))
    assert selects("agentVersion < 1.14.5", instance(agent_version="1.9.0"))
    assert not selects("agentVersion < 1.14.5", instance(agent_version="1.14.5"))
    assert not selects("agentVersion < 1.14.5", instance(agent_version="1.100.0"))


def test_doc_registration_time() -> None:
    assert selects("registeredAt < 2018-02-13", instance(registered_at="2018-02-12T23:59:59Z"))
    assert not selects("registeredAt < 2018-02-13", instance(registered_at="2018-02-13T00:00:00Z"))


def test_doc_ec2_instance_id() -> None:
    expression = "ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']"
    assert selects(expression, instance(ec2_instance_id="i-abcd1234"))
    assert selects(expression, instance(ec2_instance_id="i-wxyx7890"))
    assert not selects(expression, instance(ec2_instance_id="i-00000000"))
    assert not selects(expression, instance())


# -- operators, in symbol and word form ----------------------------------------------------

OPERATOR_FORMS = [
    ("==", "equals", "b", {"a": False, "b": True, "c": False, None: False}),
    ("!=", "not_equals", "b", {"a": True, "b": False, "c": True, None: True}),
    (">", "greater_than", "b", {"a": False, "b": False, "c": True, None: False}),
    (">=", "greater_than_equal", "b", {"a": False, "b": True, "c": True, None: False}),
    ("<", "less_than", "b", {"a": True, "b": False, "c": False, None: False}),
    ("<=", "less_than_equal", "b", {"a": True, "b": True, "c": False, None: False}),
    ("exists", "exists", "", {"a": True, "b": True, "c": True, None: False}),
    ("!exists", "not_exists", "", {"a": False, "b": False, "c": False, None: True}),
    ("in", "in", "[a, c]", {"a": True, "b": False, "c": True, None: False}),
    ("!in", "not_in", "[a, c]", {"a": False, "b": True, "c": False, None: True}),
    ("=~", "matches", "[ab]", {"a": True, "b": True, "c": False, None: False}),
    ("!~", "not_matches", "[ab]", {"a": False, "b": False, "c": True, None: True}),
]


@pytest.mark.parametrize(("symbol", "word", "argument", "truth"), OPERATOR_FORMS, ids=[f[1] for f in OPERATOR_FORMS])
def test_operator_symbol_and_word_forms(symbol: str, word: str, argument: str, truth: dict[Any, bool]) -> None:
    by_symbol = parse_expression(f"attribute:letter {symbol} {argument}".strip())
    by_word = parse_expression(f"attribute:letter {word} {argument}".strip())
    assert by_symbol == by_word
    assert isinstance(by_symbol, Comparison)
    assert by_symbol.operator.value == symbol
    assert by_symbol.operator.word == word
    for value, expected in truth.items():
        target = instance(attributes={} if value is None else {"letter": value})
        assert by_symbol.evaluate(target, NO_TASKS) is expected, (symbol, value)
        assert by_word.evaluate(target, NO_TASKS) is expected, (word, value)


def test_operators_without_spaces() -> None:
    target = instance(attributes={"n": "5"})
    assert selects("attribute:n==5", target)
    assert selects("attribute:n>=5&&attribute:n<=5", target)
    assert selects("attribute:n!=4||attribute:n<4", target)
    assert selects("attribute:n!in[1,2]", target)
    assert selects("!attribute:m exists", target)
    assert selects("(attribute:n=~'5')", target)


def test_exists_on_an_attribute_without_value() -> None:
    target = instance(attributes={"flag": None})
    assert selects("attribute:flag exists", target)
    assert not selects("attribute:flag !exists", target)
    assert not selects("attribute:flag == x", target)
    assert selects("attribute:flag != x", target)
    assert not selects("attribute:flag =~ .*", target)


def test_regex_is_a_full_match_and_may_be_quoted() -> None:
    target = instance(attributes={"ecs.instance-type": "g2.2xlarge"})
    assert selects("attribute:ecs.instance-type =~ g2.*", target)
    assert selects("attribute:ecs.instance-type =~ 'g2\\.\\d?xlarge'", target)
    assert selects('attribute:ecs.instance-type matches "g2.(2|8)xlarge"', target)
    assert not selects("attribute:ecs.instance-type =~ g2", target)
    assert not selects("attribute:ecs.instance-type =~ xlarge", target)
    assert selects("attribute:ecs.instance-type =~ (g2|p3).+", target)
    assert selects("(attribute:ecs.instance-type =~ g(2).*)", target)
    assert selects("attribute:ecs.instance-type =~ [a-z]2[.].*&&agentConnected == true", target)
    assert selects("attribute:ecs.instance-type =~ 'it''s|g2.*'", target)


def test_quoted_values() -> None:
    target = instance(attributes={"note": "it's a (test), ok", "empty.like": "x"})
    assert selects("attribute:note == 'it''s a (test), ok'", target)
    assert selects('attribute:note == "it\'s a (test), ok"', target)
    assert selects("attribute:note in ['a', \"it's a (test), ok\"]", target)
    assert not selects("attribute:note == ''", target)


def test_keywords_are_plain_values_after_an_operator() -> None:
    target = instance(attributes={"mode": "and"})
    assert selects("attribute:mode == and and attribute:mode in [or, and, not]", target)


# -- typed comparisons ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "version", "expected"),
    [
        ("agentVersion > 1.9.0", "1.10.0", True),
        ("agentVersion < 1.9.0", "1.10.0", False),
        ("agentVersion == 1.2", "1.2.0", True),
        ("agentVersion >= 1.2.0", "1.2", True),
        ("agentVersion != 1.2.0", "1.2.1", True),
        ("agentVersion <= 1.20.0", "1.20.0-beta", True),
        ("agentVersion > 2", "10.0.0", True),
        ("agentVersion greater_than 1.14.5", "1.14.10", True),
    ],
)
def test_versions_compare_as_versions(expression: str, version: str, expected: bool) -> None:
    assert selects(expression, instance(agent_version=version)) is expected


def test_unparseable_agent_version_is_selected_by_no_ordering() -> None:
    target = instance(agent_version="unknown")
    assert not selects("agentVersion < 99", target)
    assert not selects("agentVersion > 0", target)
    assert selects("agentVersion != 1.0.0", target)


@pytest.mark.parametrize(
    ("expression", "registered", "expected"),
    [
        ("registeredAt == 2018-06-18", "2018-06-18T00:00:00Z", True),
        ("registeredAt == 2018-06-18", "2018-06-18T23:59:59Z", True),
        ("registeredAt == 2018-06-18", "2018-06-19T00:00:00Z", False),
        ("registeredAt < 2018-06-18", "2018-06-17T23:59:59Z", True),
        ("registeredAt < 2018-06-18", "2018-06-18T08:00:00Z", False),
        ("registeredAt <= 2018-06-18", "2018-06-18T23:00:00Z", True),
        ("registeredAt > 2018-06-18", "2018-06-18T23:00:00Z", False),
        ("registeredAt > 2018-06-18", "2018-06-19T00:00:00Z", True),
        ("registeredAt >= 2018-06-18", "2018-06-18T00:00:00Z", True),
        ("registeredAt >= 2018-06-18", "2018-06-17T23:59:59Z", False),
        ("registeredAt > 2018-06-18T22:28:28Z", "2018-06-18T22:28:29Z", True),
        ("registeredAt > 2018-06-18T22:28:28+00:00", "2018-06-18T22:28:28Z", False),
        ("registeredAt >= 2018-06-18T22:28:28", "2018-06-18T22:28:28Z", True),
        ("registeredAt == 2018-06-18T22:28:28Z", "2018-06-18T22:28:28Z", True),
        ("registeredAt < 2018-06-18T22:28:28+02:00", "2018-06-18T20:28:27Z", True),
        ("registeredAt < 2018-06-18T22:28:28+02:00", "2018-06-18T20:28:28Z", False),
        ("registeredAt != 2018-06-18", "2018-06-17T12:00:00Z", True),
        ("registeredAt less_than '2018-06-18 10:00:00'", "2018-06-18T09:00:00Z", True),
    ],
)
def test_dates_compare_as_dates(expression: str, registered: str, expected: bool) -> None:
    assert selects(expression, instance(registered_at=registered)) is expected


@pytest.mark.parametrize(
    ("expression", "count", "expected"),
    [
        ("runningTasksCount > 9", 10, True),
        ("runningTasksCount < 10", 9, True),
        ("runningTasksCount <= 0", 0, True),
        ("runningTasksCount >= 2", 1, False),
        ("runningTasksCount != 0", 0, False),
        ("runningTasksCount == 1.0", 1, True),
        ("runningTasksCount > -1", 0, True),
    ],
)
def test_running_tasks_compare_as_numbers(expression: str, count: int, expected: bool) -> None:
    assert selects(expression, instance(running_tasks_count=count)) is expected


@pytest.mark.parametrize(
    ("expression", "value", "expected"),
    [
        ("attribute:size > 9", "10", True),  # numbers, not "10" < "9"
        ("attribute:size == 10", "10.0", True),
        ("attribute:size in [1, 10]", "1e1", True),
        ("attribute:size < 2.5", "-3", True),
        ("attribute:size > b", "c", True),  # strings compare lexicographically
        ("attribute:size > 9", "9a", True),  # "9a" is no number: "9a" > "9"
        ("attribute:size < apple", "Zebra", True),
        ("attribute:size == 1", "one", False),
        ("attribute:size >= 10", "9", False),
    ],
)
def test_attributes_compare_numerically_when_both_are_numbers(expression: str, value: str, expected: bool) -> None:
    assert selects(expression, instance(attributes={"size": value})) is expected


def test_agent_connected_compares_booleans() -> None:
    up, down = instance(agent_connected=True), instance(agent_connected=False)
    for expression, on_up, on_down in [
        ("agentConnected == true", True, False),
        ("agentConnected == FALSE", False, True),
        ("agentConnected != true", False, True),
        ("agentConnected in [true, false]", True, True),
        ("agentConnected not_in [false]", True, False),
        ("agentConnected =~ t.*", True, False),
        ("agentConnected !~ t.*", False, True),
    ]:
        assert selects(expression, up) is on_up, expression
        assert selects(expression, down) is on_down, expression


def test_instance_id_alias_and_missing_ec2_id() -> None:
    assert parse_expression("instanceId == i-1") == parse_expression("ec2InstanceId == i-1")
    assert str(parse_expression("instanceId == i-1")) == "ec2InstanceId == i-1"
    with_id, without = instance(ec2_instance_id="i-0abc"), instance()
    assert selects("instanceId =~ i-0.*", with_id)
    assert not selects("instanceId =~ .*", without)
    assert selects("instanceId != i-0abc", without)
    assert selects("ec2InstanceId !in [i-1, i-2]", with_id)


def test_task_group_semantics() -> None:
    context = StaticContext({"busy": {"service:web", "family:batch"}, "idle": set()})
    busy, idle = instance("busy"), instance("idle")
    table = [
        ("task:group == service:web", True, False),
        ("task:group != service:web", False, True),
        ("task:group != service:api", True, True),
        ("task:group in [service:api, family:batch]", True, False),
        ("task:group not_in [service:api, family:batch]", False, True),
        ("task:group exists", True, False),
        ("task:group !exists", False, True),
        ("task:group =~ service:.*", True, False),
        ("task:group !~ service:.*", False, True),
        ("task:group > service:a", True, False),
    ]
    for expression, on_busy, on_idle in table:
        assert selects(expression, busy, context) is on_busy, expression
        assert selects(expression, idle, context) is on_idle, expression


def test_snapshot_context_reads_groups_of_running_tasks() -> None:
    state = ClusterState("query")
    state.register_task_definition(
        {"family": "web", "containerDefinitions": [{"name": "app", "image": "img", "cpu": 64, "memory": 64}]}
    )
    state.register_container_instance("i1", cpu=1024, memory=1024)
    state.register_container_instance("i2", cpu=1024, memory=1024)
    state.start_task("web", ["i1"], group="service:production")
    stopped = state.start_task("web", ["i2"], group="service:production").tasks[0]
    stopping = state.stop_task(stopped.id)
    state.submit_task_state_change(stopped.id, version=stopping.version, status="STOPPED")
    snapshot = state.snapshot()
    context = SnapshotContext(snapshot)
    assert context.groups_on("i1") == {"service:production"}
    assert context.groups_on("i2") == frozenset()
    assert context.groups_on("i1") is context.groups_on("i1")  # cached
    affinity = parse_expression("task:group == service:production")
    assert affinity.uses_task_groups
    assert affinity.evaluate(snapshot.instance("i1"), context)
    assert not affinity.evaluate(snapshot.instance("i2"), context)


# -- precedence and parentheses ------------------------------------------------------------

A = Comparison("attribute:a", Operator.EXISTS)
B = Comparison("attribute:b", Operator.EXISTS)
C = Comparison("attribute:c", Operator.EXISTS)


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("attribute:a exists or attribute:b exists and attribute:c exists", Or(A, And(B, C))),
        ("attribute:a exists and attribute:b exists or attribute:c exists", Or(And(A, B), C)),
        ("(attribute:a exists or attribute:b exists) and attribute:c exists", And(Or(A, B), C)),
        ("not attribute:a exists and attribute:b exists", And(Not(A), B)),
        ("!attribute:a exists || attribute:b exists", Or(Not(A), B)),
        ("not (attribute:a exists and attribute:b exists)", Not(And(A, B))),
        ("! ! attribute:a exists", Not(Not(A))),
        ("attribute:a exists and attribute:b exists and attribute:c exists", And(And(A, B), C)),
        ("attribute:a exists and (attribute:b exists and attribute:c exists)", And(A, And(B, C))),
        ("attribute:a exists || attribute:b exists || attribute:c exists", Or(Or(A, B), C)),
        ("((attribute:a exists))", A),
        ("not(attribute:a exists)&&(attribute:b exists)", And(Not(A), B)),
    ],
)
def test_precedence_and_parentheses(text: str, tree: Expression) -> None:
    assert parse_expression(text) == tree
    assert parse_expression(str(tree)) == tree


BOOL_WORDS = {"&&": " and ", "||": " or ", "and": " and ", "or": " or ", "!": " not ", "not": " not "}


@st.composite
def boolean_texts(draw: st.DrawFn, depth: int = 0) -> tuple[str, str]:
    """A compound query over attributes a, b, c and the same formula in Python syntax."""
    choice = draw(st.integers(0, 4 if depth < 4 else 0))
    if choice == 0:
        name = draw(st.sampled_from("abc"))
        return f"attribute:{name} exists", name
    if choice == 1:
        text, python = draw(boolean_texts(depth + 1))
        return f"({text})", f"({python})"
    if choice == 2:
        word = draw(st.sampled_from(["!", "not"]))
        text, python = draw(boolean_texts(depth + 1))
        return f"{word} {text}", f"not {python}"
    word = draw(st.sampled_from(["&&", "and"] if choice == 3 else ["||", "or"]))
    left, left_python = draw(boolean_texts(depth + 1))
    right, right_python = draw(boolean_texts(depth + 1))
    return f"{left} {word} {right}", f"{left_python}{BOOL_WORDS[word]}{right_python}"


@given(boolean_texts(), st.booleans(), st.booleans(), st.booleans())
def test_precedence_agrees_with_python(formula: tuple[str, str], a: bool, b: bool, c: bool) -> None:
    # Python's not > and > or is the precedence the query language documents.
    text, python = formula
    attributes = {name: "1" for name, present in zip("abc", (a, b, c), strict=True) if present}
    expected = eval(python, {}, {"a": a, "b": b, "c": c})  # the oracle; the parser itself never evals
    assert parse_expression(text).evaluate(instance(attributes=attributes), NO_TASKS) is expected


# -- round trip (the expressions are drawn by clusterkit.testing) ---------------------------


@given(expressions())
def test_round_trip(expression: Expression) -> None:
    text = str(expression)
    parsed = parse_expression(text)
    assert parsed == expression
    assert hash(parsed) == hash(expression)
    assert str(parsed) == text


@settings(max_examples=50)
@given(expressions(), st.dictionaries(st.sampled_from(["a", "b", "ecs.x"]), st.sampled_from(["1", "b", "g2.x"])))
def test_round_trip_evaluates_the_same(expression: Expression, attributes: dict[str, str]) -> None:
    target = instance(attributes=attributes, ec2_instance_id="i-9", running_tasks_count=3)
    context = StaticContext({"i-1": {"service:web", "and"}})
    assert parse_expression(str(expression)).evaluate(target, context) is expression.evaluate(target, context)


@given(invalid_expressions())
def test_the_kits_invalid_expressions_are_refused(bad: BadInput) -> None:
    with pytest.raises(bad.error) as caught:
        parse_expression(bad.value)
    assert caught.value.field in bad.fields  # type: ignore[attr-defined]


def test_canonical_text() -> None:
    tree = parse_expression("attribute:zone in [ 'us-east-1a' , \"b c\" ] && ! ( agentVersion less_than 1.2 )")
    assert str(tree) == "attribute:zone in [us-east-1a, 'b c'] and not (agentVersion < 1.2)"
    assert str(parse_expression("attribute:x =~ g2.*")) == "attribute:x =~ 'g2.*'"


# -- syntax errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position", "expected"),
    [
        ("", 0, "an expression"),
        ("   ", 3, "an expression"),
        ("attribute:x", 11, "an operator"),
        ("attribute:x = 1", 12, "an operator"),
        ("attribute:x ==", 14, "a value"),
        ("attribute:x == )", 15, "a value"),
        ("(attribute:x exists", 19, "')'"),
        ("(attribute:x exists attribute:y exists)", 20, "')'"),
        ("attribute:x exists)", 18, "end of expression"),
        ("attribute:x == a b", 17, "end of expression"),
        ("attribute:x exists and", 22, "an expression"),
        ("attribute:x exists or or attribute:y exists", 22, "a subject"),
        ("attribute:x exists or && attribute:y exists", 22, "an expression"),
        ("attribute:x in a", 15, "'['"),
        ("attribute:x in [a b]", 18, "',' or ']'"),
        ("attribute:x in [a,]", 18, "a value"),
        ("attribute:x in []", 16, "a value"),
        ("attribute:x in [a", 17, "',' or ']'"),
        ("attribute:x == 'abc", 19, "a closing quote (')"),
        ("attribute:x =~", 14, "a regular expression"),
        ("frobnicate == 1", 0, "a subject"),
        ("  attribute: exists", 12, "an attribute name"),
        ("attribute:ab*c exists", 12, "an attribute name character (letter, digit, . - _ / or :)"),
        ("agentVersion > one", 15, "a version such as 1.14.5"),
        ("runningTasksCount < many", 20, "a number"),
        ("agentConnected == yes", 18, "true or false"),
        ("agentConnected in [true, maybe]", 25, "true or false"),
        ("registeredAt > yesterday", 15, "a date such as 2018-06-18 or 2018-06-18T22:28:28Z"),
        ("attribute:a exists and attribute:x =~ 'a(b'", 38, "a valid regular expression"),
        ("attribute:x =~ a(b", 15, "a valid regular expression"),
    ],
)
def test_syntax_error_positions(text: str, position: int, expected: str) -> None:
    error = syntax_error(text)
    assert (error.position, error.expected) == (position, expected)
    assert error.field == "expression"
    assert isinstance(error, ValidationError)


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("agentVersion in [1.0]", 13),
        ("runningTasksCount exists", 18),
        ("registeredAt =~ 2018.*", 13),
        ("agentConnected > true", 15),
        ("ec2InstanceId >= i-1", 14),
    ],
)
def test_operator_a_subject_does_not_take(text: str, position: int) -> None:
    error = syntax_error(text)
    assert error.position == position
    assert error.expected.startswith("an operator ")


def test_nesting_is_bounded() -> None:
    deep = "(" * MAX_NESTING + "attribute:x exists" + ")" * MAX_NESTING
    assert parse_expression(deep) == Comparison("attribute:x", "exists")
    error = syntax_error("(" * (MAX_NESTING + 1) + "attribute:x exists" + ")" * (MAX_NESTING + 1))
    assert error.position == MAX_NESTING
    error = syntax_error("!" * 500 + "attribute:x exists")
    assert error.position == MAX_NESTING


def test_length_limit() -> None:
    text = "attribute:x exists"
    assert parse_expression(text.ljust(MAX_EXPRESSION_LENGTH)) == parse_expression(text)
    with pytest.raises(ValidationError) as caught:
        parse_expression(text.ljust(MAX_EXPRESSION_LENGTH + 1))
    assert caught.value.field == "expression"
    assert not isinstance(caught.value, QuerySyntaxError)
    with pytest.raises(ValidationError):
        parse_expression(None)  # type: ignore[arg-type]
    long = " or ".join(["instanceId == i-1"] * 200)
    assert len(long) > MAX_EXPRESSION_LENGTH
    assert str(parse_expression(long, max_length=None)).count("ec2InstanceId") == 200
    compact = "&&".join(["instanceId==a"] * 130)  # fits, but its canonical text does not
    assert len(str(parse_expression(compact))) > MAX_EXPRESSION_LENGTH


def test_nodes_validate_when_built_directly() -> None:
    assert Comparison("attribute:x", "not_in", ["a"]) == Comparison("attribute:x", Operator.NOT_IN, ("a",))
    bad: list[Callable[[], object]] = [
        lambda: Comparison("agentVersion", Operator.IN, ("1",)),
        lambda: Comparison("agentVersion", Operator.LT, "x"),
        lambda: Comparison("attribute:x", Operator.EXISTS, "a"),
        lambda: Comparison("attribute:x", Operator.IN, ()),
        lambda: Comparison("attribute:x", Operator.EQ, None),
        lambda: Comparison("attribute:x", "~~", "a"),
        lambda: Comparison("attribute:x", Operator.MATCHES, "("),
        lambda: Comparison("nope", Operator.EQ, "a"),
        lambda: And(A, "attribute:b exists"),
        lambda: Not(None),
    ]
    for build in bad:
        with pytest.raises(ValidationError):
            build()


def test_uses_task_groups() -> None:
    assert not parse_expression("attribute:a exists and not agentConnected == true").uses_task_groups
    assert parse_expression("attribute:a exists or not task:group == x").uses_task_groups


# -- fuzzing -------------------------------------------------------------------------------


def parses_or_rejects(text: str) -> None:
    try:
        expression = parse_expression(text)
    except QuerySyntaxError as error:
        assert 0 <= error.position <= len(text)
        assert error.expected
    except ValidationError:
        assert len(text) > MAX_EXPRESSION_LENGTH
    else:
        # The canonical text may outgrow the input (instanceId → ec2InstanceId, quoted patterns).
        assert parse_expression(str(expression), max_length=None) == expression
        expression.evaluate(instance(attributes={"a": "1"}, ec2_instance_id="i-1"), StaticContext({"i-1": {"g"}}))


@given(st.text(max_size=80))
def test_fuzz_random_text(text: str) -> None:
    parses_or_rejects(text)


TOKENS = [
    "(", ")", "[", "]", ",", "'", '"', "!", "=", "&", "|", "==", "!=", ">", ">=", "<", "<=", "=~", "!~",
    "!in", "!exists", "&&", "||", "and", "or", "not", "in", "exists", "not_in", "not_exists", "equals",
    "matches", "not_matches", "greater_than", "less_than_equal", "agentConnected", "agentVersion",
    "attribute:a", "attribute:ecs.availability-zone", "attribute:", "ec2InstanceId", "instanceId",
    "registeredAt", "runningTasksCount", "task:group", "true", "1.2.3", "2018-06-18", "2018-06-18T22:28:28Z",
    "42", "-1", "us-east-1a", "g2.*", "'quoted value'", '"q"', "'it''s'", "\\", "(a|b", "[)]", "\u00e9", "\x00",
]  # fmt: skip


@given(st.lists(st.tuples(st.sampled_from(TOKENS), st.sampled_from(["", " ", "  ", "\n"])), max_size=25))
def test_fuzz_token_soup(parts: list[tuple[str, str]]) -> None:
    parses_or_rejects("".join(token + space for token, space in parts))


@settings(max_examples=30)
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=5), st.integers(1, 1200))
def test_fuzz_long_repetitions(parts: list[str], repeat: int) -> None:
    parses_or_rejects(" ".join(parts) * repeat)


@pytest.mark.parametrize(
    "text",
    [
        "attribute:x =~ " + "(" * 900 + ")" * 900,
        "attribute:x =~ '" + "(" * 990 + "'",
        "(" * 1000 + ")" * 1000,
        "not " * 499,
        "&&".join(["instanceId==a"] * 130),
        "||".join(["(instanceId==a&&!task:group exists)"] * 50),
        "registeredAt > 9999-12-31T23:59:59-23:59",
        "registeredAt > 0001-01-01T00:00:00+23:59",
        "agentVersion > " + "9" * 1980,
    ],
)
def test_pathological_inputs(text: str) -> None:
    parses_or_rejects(text)


def test_a_snapshot_lists_with_a_parsed_expression_and_refuses_text() -> None:
    state = ClusterState("layers")
    for name, zone in (("i-1", "zone-a"), ("i-2", "zone-b"), ("i-3", "zone-a")):
        state.register_container_instance(name, cpu=1024, memory=1024, attributes={"zone": zone})
    snapshot = state.snapshot()
    expression = parse_expression("attribute:zone == zone-a")
    from_snapshot = snapshot.list_container_instances(filter=expression)
    assert [arn.rsplit("/", 1)[1] for arn in from_snapshot.items] == ["i-1", "i-3"]
    assert state.list_container_instances(filter="attribute:zone == zone-a").items == from_snapshot.items
    # a token continues only the listing it came from: the filter's text is part of it
    first = snapshot.list_container_instances(filter=expression, max_results=1)
    with pytest.raises(ValidationError) as caught:
        snapshot.list_container_instances(
            filter=parse_expression("attribute:zone == zone-b"), next_token=first.next_token
        )
    assert caught.value.field == "nextToken"
    with pytest.raises(ValidationError) as refused:
        snapshot.list_container_instances(filter="attribute:zone == zone-a")  # type: ignore[arg-type]
    assert refused.value.field == "filter"
    assert "parse_expression" in str(refused.value)
