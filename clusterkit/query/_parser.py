"""Text to expression trees: a lexer and a recursive-descent parser (grammar in ``clusterkit.query``)."""

from __future__ import annotations

from typing import NamedTuple

from clusterkit.errors import QuerySyntaxError, ValidationError
from clusterkit.model import MAX_EXPRESSION_LENGTH
from clusterkit.query._expression import (
    _ALIASES,
    _ALLOWED,
    _OPERATOR_SYMBOLS,
    _OPERATOR_WORDS,
    _SPECIAL_CHARS,
    MAX_NESTING,
    And,
    Comparison,
    Expression,
    Not,
    Operator,
    Or,
    _Invalid,
    _operators_for,
    _subject_kind,
)

__all__ = ["parse_expression"]


# -- the lexer -----------------------------------------------------------------------------


class _Token(NamedTuple):
    kind: str  # ( ) [ ] , op && || ! word string unclosed error end
    text: str  # the word, the string's content or the operator symbol
    start: int
    end: int


class _Lexer:
    """Tokens on demand; ``pattern`` reads a regular expression argument in its own mode."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self._peeked: _Token | None = None

    def peek(self) -> _Token:
        if self._peeked is None:
            self._peeked = self._scan()
        return self._peeked

    def next(self) -> _Token:
        token = self.peek()
        self._peeked = None
        return token

    def _skip_space(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos].isspace():
            pos += 1
        self.pos = pos

    def _scan(self) -> _Token:
        self._skip_space()
        text, start = self.text, self.pos
        if start >= len(text):
            return _Token("end", "", start, start)
        char = text[start]
        following = text[start + 1 : start + 2]
        if char in "()[],":
            return self._take(char, char, 1)
        if char in "'\"":
            return self._string()
        if char in "<>":
            symbol = char + "=" if following == "=" else char
            return self._take("op", symbol, len(symbol))
        if char == "=":
            if following in ("=", "~"):
                return self._take("op", char + following, 2)
            return self._take("error", char, 1)
        if char in "&|":
            if following == char:
                return self._take(char * 2, char * 2, 2)
            return self._take("error", char, 1)
        if char == "!":
            if following in ("=", "~"):
                return self._take("op", char + following, 2)
            word_end = self._word_end(start + 1)
            if text[start + 1 : word_end] in ("in", "exists"):
                return self._take("op", text[start:word_end], word_end - start)
            return self._take("!", "!", 1)
        end = self._word_end(start)
        return self._take("word", text[start:end], end - start)

    def _take(self, kind: str, value: str, length: int) -> _Token:
        start = self.pos
        self.pos = start + length
        return _Token(kind, value, start, self.pos)

    def _word_end(self, pos: int) -> int:
        text = self.text
        while pos < len(text) and not text[pos].isspace() and text[pos] not in _SPECIAL_CHARS:
            pos += 1
        return pos

    def _string(self) -> _Token:
        text, start = self.text, self.pos
        quote = text[start]
        pieces: list[str] = []
        pos = start + 1
        while True:
            close = text.find(quote, pos)
            if close < 0:
                self.pos = len(text)
                return _Token("unclosed", quote, start, len(text))
            pieces.append(text[pos:close])
            if text.startswith(quote, close + 1):
                pieces.append(quote)
                pos = close + 2
                continue
            self.pos = close + 1
            return _Token("string", "".join(pieces), start, self.pos)

    def pattern(self) -> _Token:
        """A quoted string, or a bare regular expression (kind ``word``; empty when there is none)."""
        if self._peeked is not None:
            self.pos = self._peeked.start
            self._peeked = None
        self._skip_space()
        text, start = self.text, self.pos
        if start < len(text) and text[start] in "'\"":
            return self._string()
        depth, in_class, pos = 0, False, start
        while pos < len(text):
            char = text[pos]
            if char.isspace():
                break
            if char == "\\":
                pos += 2
                continue
            if in_class:
                in_class = char != "]"
            elif char == "[":
                in_class = True
            elif char == "(":
                depth += 1
            elif char == ")":
                if depth == 0:
                    break
                depth -= 1
            elif char in "&|" and depth == 0 and text.startswith(char * 2, pos):
                break
            pos += 1
        pos = min(pos, len(text))
        self.pos = pos
        return _Token("word", text[start:pos], start, pos)


# -- the parser ----------------------------------------------------------------------------


class _Parser:
    """Recursive descent over ``_Lexer`` tokens, one method per grammar rule."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lexer = _Lexer(text)
        self.depth = 0

    def fail(self, position: int, expected: str) -> QuerySyntaxError:
        return QuerySyntaxError(self.text, position, expected)

    def parse(self) -> Expression:
        expression = self.disjunction()
        token = self.lexer.peek()
        if token.kind != "end":
            raise self.fail(token.start, "end of expression")
        return expression

    def _is(self, token: _Token, symbol: str, word: str) -> bool:
        return token.kind == symbol or (token.kind == "word" and token.text == word)

    def disjunction(self) -> Expression:
        left = self.conjunction()
        while self._is(self.lexer.peek(), "||", "or"):
            self.lexer.next()
            left = Or(left, self.conjunction())
        return left

    def conjunction(self) -> Expression:
        left = self.unary()
        while self._is(self.lexer.peek(), "&&", "and"):
            self.lexer.next()
            left = And(left, self.unary())
        return left

    def _enter(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.fail(token.start, f"at most {MAX_NESTING} levels of 'not' and parentheses")

    def unary(self) -> Expression:
        negations = 0
        saved = self.depth
        token = self.lexer.peek()
        while self._is(token, "!", "not"):
            self._enter(token)
            self.lexer.next()
            negations += 1
            token = self.lexer.peek()
        if token.kind == "(":
            self._enter(token)
            self.lexer.next()
            expression = self.disjunction()
            close = self.lexer.peek()
            if close.kind != ")":
                raise self.fail(close.start, "')'")
            self.lexer.next()
        elif token.kind == "word":
            expression = self.comparison()
        else:
            raise self.fail(token.start, "an expression")
        self.depth = saved
        for _ in range(negations):
            expression = Not(expression)
        return expression

    def comparison(self) -> Expression:
        subject_token = self.lexer.next()
        subject = _ALIASES.get(subject_token.text, subject_token.text)
        try:
            _subject_kind(subject)
        except _Invalid as error:
            raise self.fail(subject_token.start + error.index, error.expected) from None
        operator_token = self.lexer.next()
        operator = self._operator(operator_token)
        if operator is None:
            raise self.fail(operator_token.start, "an operator")
        if operator not in _ALLOWED[_subject_kind(subject)]:
            raise self.fail(operator_token.start, _operators_for(subject))
        argument, positions = self.argument(operator)
        try:
            return Comparison(subject, operator, argument)
        except _Invalid as error:
            position = positions[error.index] if error.part == "argument" else subject_token.start
            raise self.fail(position, error.expected) from None

    @staticmethod
    def _operator(token: _Token) -> Operator | None:
        if token.kind == "op":
            return _OPERATOR_SYMBOLS.get(token.text)
        if token.kind == "word":
            return _OPERATOR_WORDS.get(token.text)
        return None

    def value(self, token: _Token) -> str:
        if token.kind in ("word", "string"):
            return token.text
        if token.kind == "unclosed":
            raise self.fail(len(self.text), f"a closing quote ({token.text})")
        raise self.fail(token.start, "a value")

    def argument(self, operator: Operator) -> tuple[str | tuple[str, ...] | None, list[int]]:
        """The argument ``operator`` takes, with the position of each of its values."""
        kind = operator.argument_kind
        if kind == "none":
            return None, [0]
        if kind == "pattern":
            token = self.lexer.pattern()
            if token.kind == "word" and not token.text:
                raise self.fail(token.start, "a regular expression")
            return self.value(token), [token.start]
        if kind == "value":
            token = self.lexer.next()
            return self.value(token), [token.start]
        opening = self.lexer.next()
        if opening.kind != "[":
            raise self.fail(opening.start, "'['")
        values: list[str] = []
        positions: list[int] = []
        while True:
            token = self.lexer.next()
            values.append(self.value(token))
            positions.append(token.start)
            separator = self.lexer.next()
            if separator.kind == "]":
                return tuple(values), positions
            if separator.kind != ",":
                raise self.fail(separator.start, "',' or ']'")


def parse_expression(text: str, *, max_length: int | None = MAX_EXPRESSION_LENGTH) -> Expression:
    """Parse a cluster query expression (grammar in the module docstring).

    Raises ValidationError (field ``expression``) when ``text`` is not a string or is longer
    than ``max_length`` (ECS's 2000 characters; None for no limit), and QuerySyntaxError,
    with the 0-based position and what was expected there, when it does not parse or an
    argument does not suit its subject.

    The canonical ``str()`` of a parsed expression may be longer than the text it came from
    (``instanceId`` becomes ``ec2InstanceId``, patterns are quoted): read such text back with
    ``max_length=None``.
    """
    if not isinstance(text, str):
        raise ValidationError("expression", text, "must be a string")
    if max_length is not None and len(text) > max_length:
        raise ValidationError("expression", text, f"must be at most {max_length} characters")
    return _Parser(text).parse()
