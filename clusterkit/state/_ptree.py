"""A persistent sorted set: a B+tree with path copying and transient (owned) nodes.

Snapshots of the ClusterState share these trees. A writer passes an *owner* token; nodes
created under the same token may be changed in place (no snapshot can see them yet),
every other node is copied before it changes. Sealing a snapshot means the writer takes a
new token, so nothing a snapshot can reach is ever changed again — the transient idea of
Clojure's collections, on a B+tree whose leaves are Python lists searched with bisect.

A branch keys each child by the *smallest* key under it, so appending past the largest
key never touches a branch: while the rightmost leaf is owned and has room, an append
(the common case, since ids grow with time) is O(1).

Costs: ``add``/``discard`` O(B · log_B n) worst case with copying (B = 64), O(log n)
when the path is already owned, O(1) for an owned append; ``iter_from`` O(log n + k)
for k keys read; ``from_sorted`` O(n) for n keys.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from typing import Any, Final

__all__ = ["Owner", "PSortedSet"]

_MAX: Final = 64
_FILL: Final = _MAX * 3 // 4  # keys per node of a bulk-built tree: room to grow before a split


class Owner:
    """A token naming one writer generation; nodes it created may be changed in place."""

    __slots__ = ()


class _Node:
    __slots__ = ("children", "keys", "owner")

    def __init__(self, keys: list[Any], children: list[_Node] | None, owner: Owner | None) -> None:
        self.keys = keys  # a leaf's keys; a branch's keys[i] is the smallest key under children[i]
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


def _child_index(keys: list[Any], key: Any) -> int:
    """The child of a branch whose range holds ``key`` (the first child for smaller keys)."""
    index = bisect_right(keys, key) - 1
    return index if index > 0 else 0


def _add(root: _Node, key: Any, owner: Owner) -> _Node | None:
    """The new root with ``key`` added (path-copying unowned nodes), or None if present."""
    path: list[tuple[_Node, int]] = []
    node = root
    while node.children is not None:
        index = _child_index(node.keys, key)
        path.append((node, index))
        node = node.children[index]
    keys = node.keys
    index = bisect_left(keys, key)
    if index < len(keys) and keys[index] == key:
        return None
    node = node.owned(owner)
    node.keys.insert(index, key)
    extra = node.split(owner) if len(node.keys) > _MAX else None
    for parent, index in reversed(path):
        parent = parent.owned(owner)
        children = parent.children
        assert children is not None
        children[index] = node
        parent.keys[index] = node.keys[0]
        if extra is not None:
            children.insert(index + 1, extra)
            parent.keys.insert(index + 1, extra.keys[0])
            extra = parent.split(owner) if len(parent.keys) > _MAX else None
        node = parent
    if extra is not None:
        node = _Node([node.keys[0], extra.keys[0]], [node, extra], owner)
    return node


def _discard(node: _Node, key: Any, owner: Owner) -> _Node | None:
    keys = node.keys
    if node.children is None:
        index = bisect_left(keys, key)
        if index == len(keys) or keys[index] != key:
            return None
        node = node.owned(owner)
        del node.keys[index]
        return node
    if not keys or key < keys[0]:
        return None
    index = _child_index(keys, key)
    child = _discard(node.children[index], key, owner)
    if child is None:
        return None
    node = node.owned(owner)
    assert node.children is not None
    if child.keys:
        node.children[index] = child
        node.keys[index] = child.keys[0]
    else:
        del node.children[index]
        del node.keys[index]
    return node


def _iter(node: _Node, start: Any, inclusive: bool, bounded: bool) -> Iterator[Any]:
    keys = node.keys
    if node.children is None:
        if not bounded:
            yield from keys
        else:
            yield from keys[bisect_left(keys, start) if inclusive else bisect_right(keys, start) :]
        return
    children = node.children
    index = _child_index(keys, start) if bounded else 0
    for position in range(index, len(children)):
        yield from _iter(children[position], start, inclusive, bounded and position == index)


def _owned_last_leaf(root: _Node, owner: Owner) -> _Node | None:
    """The rightmost leaf when it and every node above it are owned by ``owner``."""
    node = root
    while node.owner is owner:
        if node.children is None:
            return node if node.keys else None
        node = node.children[-1]
    return None


def _bulk_level(nodes: list[_Node], owner: Owner) -> list[_Node]:
    """The branches one level above ``nodes``, each holding up to ``_FILL`` of them in order."""
    return [
        _Node([child.keys[0] for child in group], group, owner)
        for group in (nodes[start : start + _FILL] for start in range(0, len(nodes), _FILL))
    ]


class PSortedSet:
    """An immutable-to-readers sorted set of mutually comparable keys.

    ``add`` and ``discard`` return the new set; they change nodes in place only when they
    carry the ``owner`` that created them, so a set handed to a reader never changes.
    """

    __slots__ = ("_last_leaf", "_len", "_owner", "_root")

    def __init__(self) -> None:
        self._root = _EMPTY_LEAF
        self._len = 0
        self._owner: Owner | None = None
        self._last_leaf: _Node | None = None

    @classmethod
    def from_sorted(cls, keys: list[Any], owner: Owner) -> PSortedSet:
        """A set of ``keys``, which must be sorted and distinct, built bottom-up. O(n).

        Its nodes belong to ``owner``, so later changes under that owner happen in place.
        """
        result = cls()
        if not keys:
            return result
        level = [_Node(keys[start : start + _FILL], None, owner) for start in range(0, len(keys), _FILL)]
        while len(level) > 1:
            level = _bulk_level(level, owner)
        result._root = level[0]
        result._len = len(keys)
        result._owner = owner
        result._last_leaf = _owned_last_leaf(level[0], owner)
        return result

    def _with(self, root: _Node, length: int, owner: Owner) -> PSortedSet:
        target = self if self._owner is owner else PSortedSet()
        target._root = root
        target._len = length
        target._owner = owner
        target._last_leaf = None
        return target

    def add(self, key: Any, owner: Owner) -> PSortedSet:
        """The set with ``key`` in it. O(log n); O(1) to append to an owned set."""
        if self._owner is owner:
            leaf = self._last_leaf
            if leaf is not None and len(leaf.keys) < _MAX and key > leaf.keys[-1]:
                leaf.keys.append(key)
                self._len += 1
                return self
        root = _add(self._root, key, owner)
        if root is None:
            return self
        result = self._with(root, self._len + 1, owner)
        result._last_leaf = _owned_last_leaf(root, owner)
        return result

    def update(self, keys: list[Any], owner: Owner) -> PSortedSet:
        """The set with every one of ``keys`` (sorted) in it. O(k log n); O(k) to append to
        an owned set, filling its last leaf in one step.
        """
        result = self
        position, count = 0, len(keys)
        while position < count:
            leaf = result._last_leaf if result._owner is owner else None
            if leaf is not None and keys[position] > leaf.keys[-1]:
                room = _MAX - len(leaf.keys)
                if room:
                    taken = keys[position : position + room]  # sorted: all of them go past the end
                    leaf.keys.extend(taken)
                    result._len += len(taken)
                    position += len(taken)
                    continue
            result = result.add(keys[position], owner)
            position += 1
        return result

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

    def replace(self, old: Any, new: Any, owner: Owner) -> PSortedSet:
        """The set with ``old`` taken out and ``new`` put in. O(log n).

        When both fall strictly inside one leaf this set owns, that leaf changes in place
        and no branch is touched (an instance's capacity key moving a little, say).
        """
        if self._owner is owner:
            node = self._root
            owned = node.owner is owner
            while node.children is not None and owned:
                node = node.children[_child_index(node.keys, old)]
                owned = node.owner is owner
            keys = node.keys
            if owned and node.children is None and keys and keys[0] < old and keys[0] < new < keys[-1]:
                index = bisect_left(keys, old)
                spot = bisect_left(keys, new)
                if index < len(keys) and keys[index] == old and (spot == len(keys) or keys[spot] != new):
                    del keys[index]
                    keys.insert(bisect_left(keys, new), new)
                    return self
        return self.discard(old, owner).add(new, owner)

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[Any]:
        return _iter(self._root, None, True, False)

    def __contains__(self, key: object) -> bool:
        node = self._root
        while node.children is not None:
            node = node.children[_child_index(node.keys, key)]
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
                for key, child in zip(node.keys, node.children, strict=True):
                    assert child.keys and child.keys[0] == key, "branch key is not its child's smallest"
                    walk(child)

        walk(self._root)
