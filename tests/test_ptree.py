"""PSortedSet: the persistent B+tree behind the list indexes, checked against a sorted-list oracle."""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from clusterkit.state._ptree import Owner, PSortedSet

KEY_SPACE = 20_000


def depth(tree: PSortedSet) -> int:
    node, levels = tree._root, 1
    while node.children is not None:
        node, levels = node.children[0], levels + 1
    return levels


def build(keys: Sequence[Any], owner: Owner) -> PSortedSet:
    tree = PSortedSet()
    for key in keys:
        tree = tree.add(key, owner)
    return tree


def oracle_from(keys: list[int], start: int, inclusive: bool) -> list[int]:
    return keys[(bisect_left if inclusive else bisect_right)(keys, start) :]


# -- plain properties -----------------------------------------------------------------------


def test_empty_set() -> None:
    tree = PSortedSet()
    assert len(tree) == 0
    assert list(tree) == []
    assert list(tree.iter_from(5)) == []
    assert list(tree.iter_from(5, inclusive=True)) == []
    assert 5 not in tree
    assert tree.discard(5, Owner()) is tree
    tree._check()


def test_add_existing_and_discard_missing_return_same_set() -> None:
    owner = Owner()
    tree = build(list(range(0, 500, 2)), owner)
    assert tree.add(10, Owner()) is tree
    assert tree.discard(11, Owner()) is tree
    assert len(tree) == 250


@pytest.mark.parametrize("count", [1, 63, 64, 65, 4096, 4160, 20_000])
def test_sequential_and_shuffled_inserts_build_valid_multi_level_trees(count: int) -> None:
    keys = list(range(count))
    rng = random.Random(count)
    shuffled = keys[:]
    rng.shuffle(shuffled)
    for order in (keys, keys[::-1], shuffled):
        tree = build(order, Owner())
        tree._check()
        assert list(tree) == keys
        assert len(tree) == count
        if count > 64 * 64:
            assert depth(tree) >= 3, "thousands of keys must make a tree of at least three levels"
        elif count > 64:
            assert depth(tree) >= 2


def test_discard_everything_in_random_order_empties_the_tree() -> None:
    rng = random.Random(7)
    keys = rng.sample(range(KEY_SPACE), 6000)
    owner = Owner()
    tree = build(keys, owner)
    expected = sorted(keys)
    rng.shuffle(keys)
    for index, key in enumerate(keys):
        tree = tree.discard(key, owner)
        expected.remove(key)
        if index % 500 == 0:
            tree._check()
            assert list(tree) == expected
    assert len(tree) == 0
    assert list(tree) == []
    tree._check()
    # and it is usable again afterwards
    tree = tree.add(3, owner).add(1, owner)
    assert list(tree) == [1, 3]
    tree._check()


#: One operation: add or discard the keys start, start+step, … (count of them).
RANGE_OPS = st.tuples(
    st.sampled_from(["add", "discard"]), st.integers(0, 6000), st.integers(1, 1500), st.integers(1, 5)
)


@settings(max_examples=60)
@given(
    st.lists(RANGE_OPS, min_size=1, max_size=25),
    st.lists(st.tuples(st.booleans(), st.integers(0, 13_000)), max_size=200),
    st.lists(st.integers(-1, 13_001), min_size=1, max_size=20),
)
def test_random_add_discard_matches_sorted_list(
    ranges: list[tuple[str, int, int, int]], singles: list[tuple[bool, int]], starts: list[int]
) -> None:
    owner = Owner()
    tree = PSortedSet()
    oracle: set[int] = set()
    ops = [
        (kind == "add", key) for kind, start, count, step in ranges for key in range(start, start + count * step, step)
    ]
    for add, key in ops + singles:
        if add:
            tree = tree.add(key, owner)
            oracle.add(key)
        else:
            tree = tree.discard(key, owner)
            oracle.discard(key)
    expected = sorted(oracle)
    tree._check()
    assert list(tree) == expected
    assert len(tree) == len(expected)
    event(f"depth {depth(tree)}")
    for start in starts:
        assert list(tree.iter_from(start)) == oracle_from(expected, start, False)
        assert list(tree.iter_from(start, inclusive=True)) == oracle_from(expected, start, True)
        assert (start in tree) == (start in oracle)


@settings(max_examples=60)
@given(
    st.sets(st.integers(0, 13_000), max_size=6_000),
    st.lists(st.tuples(st.booleans(), st.integers(0, 13_000)), max_size=100),
    st.booleans(),
)
def test_bulk_built_set_matches_sorted_list_and_takes_changes(
    keys: set[int], changes: list[tuple[bool, int]], same_owner: bool
) -> None:
    owner = Owner()
    tree = PSortedSet.from_sorted(sorted(keys), owner)
    tree._check()
    assert list(tree) == sorted(keys) and len(tree) == len(keys)
    built = list(tree)
    writer = owner if same_owner else Owner()
    oracle = set(keys)
    changed = tree
    for add, key in changes:
        changed = changed.add(key, writer) if add else changed.discard(key, writer)
        (oracle.add if add else oracle.discard)(key)
    changed._check()
    assert list(changed) == sorted(oracle)
    if not same_owner:
        assert list(tree) == built  # another owner's changes copy: the built set stays as it was


@settings(max_examples=60)
@given(
    st.sets(st.integers(0, 13_000), max_size=3_000),
    st.sets(st.integers(0, 20_000), max_size=3_000),
    st.booleans(),
    st.booleans(),
)
def test_update_adds_sorted_keys_in_place_or_by_copying(
    keys: set[int], more: set[int], same_owner: bool, bulk_built: bool
) -> None:
    owner = Owner()
    tree = PSortedSet.from_sorted(sorted(keys), owner) if bulk_built else build(sorted(keys), owner)
    before = list(tree)
    updated = tree.update(sorted(more), owner if same_owner else Owner())
    updated._check()
    assert list(updated) == sorted(keys | more)
    if not same_owner:
        assert list(tree) == before


def test_update_past_the_end_fills_leaves_in_one_step() -> None:
    owner = Owner()
    tree = build(list(range(0, 1000, 2)), owner)
    tree = tree.update(list(range(1000, 5000)), owner)
    tree._check()
    assert list(tree) == list(range(0, 1000, 2)) + list(range(1000, 5000))


def test_iter_from_at_every_boundary_of_a_deep_tree() -> None:
    keys = list(range(0, 3 * 5000, 3))  # 5000 keys, gaps between them
    tree = build(keys, Owner())
    assert depth(tree) >= 3
    probes = [-1, 0, 1, 2, 3, keys[-1], keys[-1] + 1, *range(0, keys[-1] + 2, 97)]
    # the first and last key of every node: where the walk moves from one child to the next
    edges: list[int] = []

    def collect(node: object) -> None:
        edges.extend((node.keys[0], node.keys[-1]))  # type: ignore[attr-defined]
        for child in node.children or ():  # type: ignore[attr-defined]
            collect(child)

    collect(tree._root)
    for start in sorted({*probes, *edges, *(e + 1 for e in edges), *(e - 1 for e in edges)}):
        for inclusive in (False, True):
            expected = oracle_from(keys, start, inclusive)
            got = tree.iter_from(start, inclusive=inclusive)
            head = [next(got, None) for _ in range(3)]
            assert [k for k in head if k is not None] == expected[:3], (start, inclusive)
            assert 3 + sum(1 for _ in got) == len(expected) + head.count(None), (start, inclusive)


def test_tuple_keys_as_the_indexes_use_them() -> None:
    owner = Owner()
    keys = [(f"fam{f:03d}", r) for f in range(80) for r in range(1, 60)]
    rng = random.Random(3)
    rng.shuffle(keys)
    tree = build(keys, owner)
    tree._check()
    ordered = sorted(keys)
    assert list(tree) == ordered
    assert list(tree.iter_from(("fam010", 0), inclusive=True))[:59] == [("fam010", r) for r in range(1, 60)]
    assert next(iter(tree.iter_from(("fam010", 1 << 62)))) == ("fam011", 1)


# -- persistence ----------------------------------------------------------------------------


def test_set_captured_before_mutation_under_new_owner_never_changes() -> None:
    rng = random.Random(11)
    first = Owner()
    base_keys = rng.sample(range(KEY_SPACE), 5000)
    base = build(base_keys, first)
    frozen = sorted(base_keys)
    base_root = base._root
    # every later change is made under a new owner: the captured set must not move
    tree = base
    for _ in range(3):
        owner = Owner()
        for _ in range(3000):
            key = rng.randrange(KEY_SPACE)
            tree = tree.add(key, owner) if rng.random() < 0.5 else tree.discard(key, owner)
        tree._check()
    assert tree is not base
    assert base._root is base_root
    assert list(base) == frozen
    assert len(base) == len(frozen)
    base._check()


def test_same_owner_may_change_in_place_new_owner_copies() -> None:
    owner = Owner()
    tree = build(list(range(100)), owner)
    same = tree.add(1000, owner)
    assert same is tree  # allowed: nothing outside this owner can see it yet
    assert 1000 in tree
    copied = tree.add(2000, Owner())
    assert copied is not tree
    assert 2000 not in tree
    assert 2000 in copied
    removed = tree.discard(50, Owner())
    assert 50 in tree and 50 not in removed


def test_appends_past_the_end_under_one_owner_then_sealed() -> None:
    """Ids grow with time, so most adds append past the largest key: check that path too."""
    owner = Owner()
    tree = PSortedSet()
    captured: list[tuple[PSortedSet, list[int]]] = []
    expected: list[int] = []
    for key in range(0, 3 * 9000, 3):
        tree = tree.add(key, owner)
        expected.append(key)
        if key % 1500 == 0:
            captured.append((tree, expected[:]))
            owner = Owner()  # seal: the captured version must never change again
    tree._check()
    assert depth(tree) >= 3
    assert list(tree) == expected
    # fill the gaps and remove some, under yet more owners
    for round_number in range(3):
        owner = Owner()
        for key in range(round_number + 1, 3 * 9000, 7):
            tree = tree.add(key, owner) if round_number < 2 else tree.discard(key - 1, owner)
        tree._check()
    for version, keys in captured:
        version._check()
        assert list(version) == keys
        assert len(version) == len(keys)


def test_append_after_discarding_the_largest_key() -> None:
    owner = Owner()
    tree = build(list(range(200)), owner)
    sealed = tree
    owner = Owner()
    tree = tree.discard(199, owner).discard(198, owner)
    tree = tree.add(500, owner).add(198, owner).add(501, owner)
    tree._check()
    assert list(tree) == [*range(199), 500, 501]
    assert list(sealed) == list(range(200))
    same = tree.discard(501, owner)
    same = same.add(502, owner).add(503, owner)
    same._check()
    assert list(same)[-3:] == [500, 502, 503]


class PersistentSetMachine(RuleBasedStateMachine):
    """Random adds/discards in batches; ``seal`` captures a version and switches owner.

    Every captured version must keep exactly the keys it had, whatever happens later.
    """

    def __init__(self) -> None:
        super().__init__()
        self.owner = Owner()
        self.tree = PSortedSet()
        self.oracle: set[int] = set()
        self.captured: list[tuple[PSortedSet, list[int]]] = []

    @initialize(count=st.integers(0, 9000), seed=st.integers(0, 2**32 - 1))
    def seed(self, count: int, seed: int) -> None:
        keys = random.Random(seed).sample(range(KEY_SPACE + 1), count)
        for key in keys:
            self.tree = self.tree.add(key, self.owner)
        self.oracle.update(keys)

    @rule(key=st.integers(0, KEY_SPACE))
    def add(self, key: int) -> None:
        self.tree = self.tree.add(key, self.owner)
        self.oracle.add(key)

    @rule(key=st.integers(0, KEY_SPACE))
    def discard(self, key: int) -> None:
        self.tree = self.tree.discard(key, self.owner)
        self.oracle.discard(key)

    @rule(count=st.integers(1, 2000), step=st.integers(1, 3))
    def append_run(self, count: int, step: int) -> None:
        start = max(self.oracle, default=0) + 1
        for key in range(start, start + count * step, step):
            self.tree = self.tree.add(key, self.owner)
            self.oracle.add(key)

    @rule(start=st.integers(0, KEY_SPACE), count=st.integers(1, 2000), step=st.integers(1, 7))
    def add_run(self, start: int, count: int, step: int) -> None:
        for key in range(start, start + count * step, step):
            self.tree = self.tree.add(key, self.owner)
            self.oracle.add(key)

    @precondition(lambda self: self.oracle)
    @rule(data=st.data(), fraction=st.floats(0.1, 1.0))
    def discard_many(self, data: st.DataObject, fraction: float) -> None:
        keys = sorted(self.oracle)
        seed = data.draw(st.integers(0, 2**32 - 1))
        chosen = random.Random(seed).sample(keys, max(1, int(len(keys) * fraction)))
        for key in chosen:
            self.tree = self.tree.discard(key, self.owner)
            self.oracle.discard(key)

    @rule()
    def seal(self) -> None:
        self.captured.append((self.tree, sorted(self.oracle)))
        self.owner = Owner()

    @rule(start=st.integers(-1, KEY_SPACE + 1), inclusive=st.booleans())
    def iterate_from(self, start: int, inclusive: bool) -> None:
        assert list(self.tree.iter_from(start, inclusive=inclusive)) == oracle_from(
            sorted(self.oracle), start, inclusive
        )

    @invariant()
    def matches_oracle(self) -> None:
        event(f"depth {depth(self.tree)}")
        self.tree._check()
        assert len(self.tree) == len(self.oracle)
        assert list(self.tree) == sorted(self.oracle)

    @invariant()
    def captured_versions_never_change(self) -> None:
        for tree, keys in self.captured:
            assert len(tree) == len(keys)
            assert list(tree) == keys


TestPersistentSet = PersistentSetMachine.TestCase
TestPersistentSet.settings = settings(max_examples=40, stateful_step_count=25)
