"""A persistent sorted set: a B+tree with path copying and transient (owned) nodes.

Snapshots of the ClusterState share these trees. A writer passes an *owner* token; nodes
created under the same token may be changed in place (no snapshot can see them yet),
every other node is copied before it changes. Sealing a snapshot means the writer takes a
new token, so nothing a snapshot can reach is ever changed again — the transient idea of
Clojure's collections, on a B+tree whose leaves are Python lists searched with bisect.

Costs: ``add``/``discard`` O(B · log_B n) worst case with copying (B = 64), O(log n)
when the path is already owned; ``iter_from`` O(log n + k) for k keys read.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from typing import Any, Final

__all__ = ["Owner", "PSortedSet"]

_MAX: Final = 64


class Owner:
    """A token naming one writer generation; nodes it created may be changed in place."""

    __slots__ = ()


class _Node:
    __slots__ = ("children", "keys", "owner")

    def __init__(self, keys: list[Any], children: list[_Node] | None, owner: Owner | None) -> None:
        self.keys = keys  # a leaf's keys; a branch's keys[i] is the largest key under children[i]
        self.children = children
        self.owner = owner

    def owned(self, owner: Owner) -> _Node:
        if self.owner is owner:
            return self
        children = None if self.children is None else self.children.copy()
        return _Node(self.keys.copy(), children, owner)

    def split(self, owner: Owner) -> _Node:
        half = len(self.keys) // 2
        right_children = None if self.children is None else self.children[half:]
        right = _Node(self.keys[half:], right_children, owner)
        del self.keys[half:]
        if self.children is not None:
            del self.children[half:]
        return right


_EMPTY_LEAF: Final = _Node([], None, None)


def _add(node: _Node, key: Any, owner: Owner) -> tuple[_Node, _Node | None] | None:
    keys = node.keys
    index = bisect_left(keys, key)
    if node.children is None:
        if index < len(keys) and keys[index] == key:
            return None
        node = node.owned(owner)
        node.keys.insert(index, key)
    else:
        if index == len(keys):
            index -= 1
        result = _add(node.children[index], key, owner)
        if result is None:
            return None
        child, extra = result
        node = node.owned(owner)
        assert node.children is not None
        node.children[index] = child
        node.keys[index] = child.keys[-1]
        if extra is not None:
            node.children.insert(index + 1, extra)
            node.keys.insert(index + 1, extra.keys[-1])
    if len(node.keys) > _MAX:
        return node, node.split(owner)
    return node, None


def _discard(node: _Node, key: Any, owner: Owner) -> _Node | None:
    keys = node.keys
    index = bisect_left(keys, key)
    if index == len(keys):
        return None
    if node.children is None:
        if keys[index] != key:
            return None
        node = node.owned(owner)
        del node.keys[index]
        return node
    child = _discard(node.children[index], key, owner)
    if child is None:
        return None
    node = node.owned(owner)
    assert node.children is not None
    if child.keys:
        node.children[index] = child
        node.keys[index] = child.keys[-1]
    else:
        del node.children[index]
        del node.keys[index]
    return node


def _iter(node: _Node, start: Any, inclusive: bool, bounded: bool) -> Iterator[Any]:
    keys = node.keys
    if not bounded:
        index = 0
    elif inclusive or node.children is not None:
        index = bisect_left(keys, start)
    else:
        index = bisect_right(keys, start)
    if node.children is None:
        yield from keys[index:] if index else keys
        return
    children = node.children
    for position in range(index, len(children)):
        yield from _iter(children[position], start, inclusive, bounded and position == index)


class PSortedSet:
    """An immutable-to-readers sorted set of mutually comparable keys.

    ``add`` and ``discard`` return the new set; they change nodes in place only when they
    carry the ``owner`` that created them, so a set handed to a reader never changes.
    """

    __slots__ = ("_len", "_owner", "_root")

    def __init__(self) -> None:
        self._root = _EMPTY_LEAF
        self._len = 0
        self._owner: Owner | None = None

    def _with(self, root: _Node, length: int, owner: Owner) -> PSortedSet:
        target = self if self._owner is owner else PSortedSet()
        target._root = root
        target._len = length
        target._owner = owner
        return target

    def add(self, key: Any, owner: Owner) -> PSortedSet:
        """The set with ``key`` in it. O(log n)."""
        result = _add(self._root, key, owner)
        if result is None:
            return self
        root, extra = result
        if extra is not None:
            root = _Node([root.keys[-1], extra.keys[-1]], [root, extra], owner)
        return self._with(root, self._len + 1, owner)

    def discard(self, key: Any, owner: Owner) -> PSortedSet:
        """The set without ``key``. O(log n)."""
        root = _discard(self._root, key, owner)
        if root is None:
            return self
        while root.children is not None and len(root.children) == 1:
            root = root.children[0]
        if root.children is not None and not root.children:
            root = _EMPTY_LEAF
        return self._with(root, self._len - 1, owner)

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[Any]:
        return _iter(self._root, None, True, False)

    def __contains__(self, key: object) -> bool:
        node = self._root
        while node.children is not None:
            index = bisect_left(node.keys, key)
            if index == len(node.keys):
                return False
            node = node.children[index]
        index = bisect_left(node.keys, key)
        return index < len(node.keys) and node.keys[index] == key

    def iter_from(self, start: Any, *, inclusive: bool = False) -> Iterator[Any]:
        """Keys after ``start`` (or from it, when ``inclusive``) in order. O(log n) to begin."""
        return _iter(self._root, start, inclusive, True)

    def _check(self) -> None:
        """Verify the tree's invariants (for tests): order, branch keys, length."""
        keys = list(_iter(self._root, None, True, False))
        assert keys == sorted(keys) and len(set(keys)) == len(keys), "keys out of order"
        assert len(keys) == self._len, f"length {self._len} != {len(keys)}"

        def walk(node: _Node) -> None:
            if node.children is not None:
                assert node.children and len(node.children) == len(node.keys)
                for key, child in zip(node.keys, node.children, strict=False):
                    assert child.keys and child.keys[-1] == key, "branch key is not its child's largest"
                    walk(child)

        if self._root.children is not None:
            walk(self._root)
