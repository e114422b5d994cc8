"""The ECS cluster query language: parse, print and evaluate ``memberOf`` expressions.

An expression selects container instances, as in ECS placement constraints and
``ListContainerInstances`` filters:

    attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d
    not(task:group == database)

``parse_expression`` turns text into an immutable tree of ``Comparison``,
``Not``, ``And`` and ``Or`` nodes; ``str()`` of a tree is canonical text that
parses back to an equal tree; ``Expression.evaluate`` tests one instance.

**Grammar.**
Whitespace between tokens is free; keywords are case-sensitive:

    expression := or
    or         := and (("||" | "or") and)*
    and        := unary (("&&" | "and") unary)*
    unary      := ("!" | "not") unary | "(" expression ")" | comparison
    comparison := subject operator [argument]
    subject    := "agentConnected" | "agentVersion" | "attribute:" NAME | "ec2InstanceId"
                | "instanceId" | "registeredAt" | "runningTasksCount" | "task:group"
    operator   := "==" | "equals"  | "!=" | "not_equals"                       argument: value
                | ">" | "greater_than" | ">=" | "greater_than_equal"          argument: value
                | "<" | "less_than" | "<=" | "less_than_equal"                argument: value
                | "exists" | "!exists" | "not_exists"                         no argument
                | "in" | "!in" | "not_in"                                     argument: list
                | "=~" | "matches" | "!~" | "not_matches"                     argument: pattern
    list       := "[" value ("," value)* "]"
    value      := WORD | STRING
    pattern    := STRING | a bare run of characters up to whitespace, an unbalanced ")",
                  or "&&" / "||" outside brackets and parentheses
    NAME       := 1..128 of the letters, digits and . - _ / :
    WORD       := characters other than whitespace and ( ) [ ] , ' " ! = < > & |
    STRING     := '...' or "..."; write the quote character twice to include it

Precedence is ``not`` > ``and`` > ``or``; ``and`` and ``or`` group to the left. An
expression is at most 2000 characters and nests at most 100 levels of ``not`` and
parentheses.

**Semantics.**
Which operators a subject takes follows the ECS documentation: agentConnected and
ec2InstanceId take ``== != in !in =~ !~``; agentVersion, registeredAt and
runningTasksCount take ``== != > >= < <=``; attributes and task:group take every operator.
Arguments are checked and converted once, when the expression is parsed:

* agentConnected compares booleans (``true`` / ``false``, any case).
* agentVersion compares versions numerically, part by part (1.10.0 > 1.9.0, 1.2 == 1.2.0).
* registeredAt compares dates: ISO-8601 ``2018-06-18``, ``2018-06-18T22:28:28``, with ``Z`` or
  an offset (no offset means UTC). A date without a time stands for that whole UTC day, so
  ``== 2018-06-18`` selects instances registered that day and ``> 2018-06-18`` those
  registered from the next day on.
* runningTasksCount compares numbers.
* attribute:NAME and task:group compare as numbers when both sides are numbers, otherwise as
  strings (ordering operators then compare lexicographically).
* ``=~`` fully matches a regular expression (Python :mod:`re` syntax, close to the Java
  syntax ECS documents) against the value.
* task:group looks at the groups of the tasks on the instance (from the
  ``QueryContext``): a positive operator holds when *some* task's group satisfies it
  (``task:group == service:web`` selects instances running a task of that group;
  ``exists`` holds when the instance runs any task).
* Every negated operator (``!=``, ``!exists``, ``!in``, ``!~``) is exactly ``not`` of its
  positive form. So a missing attribute satisfies ``!=`` and ``!in`` but no ordering
  operator, and ``task:group != database`` selects instances running no task of that group.
"""

from clusterkit.model import MAX_EXPRESSION_LENGTH
from clusterkit.query._context import QueryContext, SnapshotContext, StaticContext
from clusterkit.query._expression import MAX_NESTING, SUBJECTS, And, Comparison, Expression, Not, Operator, Or
from clusterkit.query._parser import parse_expression

__all__ = [
    "And",
    "Comparison",
    "Expression",
    "MAX_EXPRESSION_LENGTH",
    "MAX_NESTING",
    "Not",
    "Operator",
    "Or",
    "QueryContext",
    "SUBJECTS",
    "SnapshotContext",
    "StaticContext",
    "parse_expression",
]
