"""The Wing-Gong-Lowe linearizability search over one independent sub-history.

Following Lowe ("Testing for linearizability", 2017) and Porcupine: the history is a
doubly linked list of call and return entries in real-time order. Scanning from the head,
a *call* whose operation is legal in the current model state is *lifted* (its call and
return entries unlinked, the operation pushed on a stack) and the scan restarts at the
head; a *return* entry means its operation had to be linearized by now and was not, so
the search backtracks (pops, unlifts, tries the next entry). A cache of configurations
(set of linearized operations, model state) prunes configurations already explored.

Operations open until the end of the history (``info`` or never completed) have no
return entry: nothing forces them to be linearized, and reaching the end of the list
means every remaining operation is open, so the history is linearizable.

Candidates are tried in this order: a legal read-only operation if there is one (alone,
see below); else first the *blocker*, the operation whose return entry comes first (it
must be linearized soonest), then the others in list order. Four reductions, each losing
no linearization (the arguments are in docs/checker.md):

- *Forced reads.* If a read-only operation (``Model.read_only``) is a candidate and legal
  now, it is linearized now with no alternative tried: moving it to the front of any
  linearization from here keeps that linearization valid.
- *Equivalent operations.* Operations with the same ``f``, input and output are
  interchangeable for the model; among equivalent candidates only the one that returns
  first is tried (it is the most constrained), and equivalent open operations are used
  in call order.
- *Small cache keys.* The linearized set is kept as a *frontier* (the lowest
  unlinearized finite operation) plus a bitset *window* above it, and a separate bitset
  of open operations, so keys stay small however long the history is.
- *Lazy open operations* (models that set ``lazy_open_ops``, see :func:`lazy_open_ops`).
  An open operation that leaves the state unchanged is never linearized; and right after
  an open operation is linearized from state ``s``, a candidate that would be legal in
  ``s`` with the same resulting state is not tried next: the open operation was useless
  for it, and the search tries that candidate without it from the configuration before.
  Those excluded candidates are part of the configuration (and of its cache key).

Hot loop details: the list is Python ``int`` arrays (entry ``2i+1`` is operation ``i``'s
call, ``2i+2`` its return, ``0`` the head: no per-entry objects); lifting and unlifting
are dancing-links pointer swaps. The time and memory budgets are checked every
``_BUDGET_EVERY`` lifts and backtracks.
"""

from __future__ import annotations

import bisect
import itertools
import time
from collections.abc import Callable, Generator, Sequence

import attrs

from ..history.ops import Operation
from ..models.base import Model, Partition, State
from .result import Counterexample, KeyResult, Verdict

MAX_CACHE_ENTRIES = 5_000_000
"""Default memory budget: configurations cached per partition (roughly 150 bytes each)."""

TIME_LIMIT_REASON = "time limit reached"
NOT_CHECKED_REASON = "not checked: another key is not linearizable"
"""The reason of an UNKNOWN partition left unchecked (or stopped) once another failed."""

_BUDGET_EVERY = 2048
_BACKTRACK = -1  # a pseudo entry: this configuration has no candidate left
_DEAD_END = -2  # a pseudo entry: a pending read cannot be reached any more
_LOOKAHEAD = 2  # reads called after the first return entry also tested for a dead end
# How the current configuration's candidates are being tried (kept in each stack frame):
_FORCED = 0  # a legal read-only operation, which needs no alternative
_BLOCKER = 1  # first the operation whose return comes first: it must go soonest
_SCAN = 2  # then the other candidates, in list (call) order


@attrs.frozen
class _Outcome:
    verdict: Verdict
    explored: int
    best_depth: int
    reason: str | None = None
    capture: tuple[tuple[int, ...], State, int] | None = None  # (op indexes, state, failing)


def check_partition(
    model: Model,
    partition: Partition,
    deadline: float | None = None,
    max_cache_entries: int = MAX_CACHE_ENTRIES,
    stop: Callable[[], bool] | None = None,
) -> KeyResult:
    """Search one partition. ``deadline`` is a :func:`time.monotonic` instant after which
    the answer is UNKNOWN; so is exhausting ``max_cache_entries``, and ``stop()`` turning
    true (polled with the budgets: another partition already failed; reason
    :data:`NOT_CHECKED_REASON`). On NOT_LINEARIZABLE the :class:`Counterexample` is the
    partial linearization at the search's first backtrack at the greatest depth it
    reached, recorded during the one search."""
    result = PartitionSearch(model, partition, deadline, max_cache_entries, stop).run(None)
    assert result is not None, "a search without an allowance finishes"
    return result


class PartitionSearch:
    """A resumable search of one partition, for checking several partitions in rounds.

    :meth:`run` searches until the answer is known (returning the :class:`KeyResult`) or
    until more than ``allowance`` configurations are cached (returning ``None``); a later
    :meth:`run` with a larger allowance continues where it stopped, losing no work. The
    budgets are those of :func:`check_partition`; :attr:`budgets` ``.deadline`` may be
    changed between runs.
    """

    def __init__(
        self,
        model: Model,
        partition: Partition,
        deadline: float | None = None,
        max_cache_entries: int = MAX_CACHE_ENTRIES,
        stop: Callable[[], bool] | None = None,
    ) -> None:
        self.model = model
        self.partition = partition
        self.budgets = _Budgets(deadline, max_cache_entries, stop)
        self.time_s = 0.0
        started = time.perf_counter()
        self._unreachable = _unreachable(model, partition)
        self.time_s += time.perf_counter() - started
        self._steps = _search(model, partition.ops, model.init(partition.key), self.budgets)
        next(self._steps)  # to the priming yield: nothing is searched yet

    @property
    def unreachable(self) -> KeyResult | None:
        """The NOT_LINEARIZABLE result when the model proves a read unreachable (found
        at construction, with no search), else ``None``."""
        return self._unreachable

    def run(self, allowance: int | None) -> KeyResult | None:
        """Search on (see the class docstring); ``None``: no allowance, run to the end.
        A read the model proves unreachable answers at once, with no search."""
        if self._unreachable is not None:
            return self._unreachable
        started = time.perf_counter()
        try:
            self._steps.send(_NO_ALLOWANCE if allowance is None else allowance)
        except StopIteration as finished:
            self.time_s += time.perf_counter() - started
            return self._result(finished.value)
        self.time_s += time.perf_counter() - started
        return None

    def close(self) -> None:
        """Abandon the search (frees its memory)."""
        self._steps.close()

    def _result(self, outcome: _Outcome) -> KeyResult:
        ops = self.partition.ops
        counterexample = None
        if outcome.verdict is Verdict.NOT_LINEARIZABLE and outcome.capture is not None:
            order, state, failing = outcome.capture
            counterexample = Counterexample(
                key=self.partition.key,
                failing_op=ops[failing],
                linearization=tuple(ops[i] for i in order),
                state=state,
                state_text=self.model.describe_state(state),
            )
        return KeyResult(
            key=self.partition.key,
            verdict=outcome.verdict,
            operations=len(ops),
            time_s=self.time_s,
            explored=outcome.explored,
            counterexample=counterexample,
            reason=outcome.reason,
        )


_NO_ALLOWANCE = 1 << 62


def _unreachable(model: Model, partition: Partition) -> KeyResult | None:
    """NOT_LINEARIZABLE at once when the model's optional ``unreachable(key, ops)`` names
    a read no order of the writes before it explains (see ``models.base``)."""
    find = getattr(model, "unreachable", None)
    found = find(partition.key, partition.ops) if find is not None else None
    if found is None:
        return None
    index, why = found
    initial = model.init(partition.key)
    return KeyResult(
        key=partition.key,
        verdict=Verdict.NOT_LINEARIZABLE,
        operations=len(partition.ops),
        time_s=0.0,
        counterexample=Counterexample(
            key=partition.key,
            failing_op=partition.ops[index],
            linearization=(),
            state=initial,
            state_text=model.describe_state(initial),
            note=why,
        ),
    )


def _search(
    model: Model,
    ops: Sequence[Operation],
    init: State,
    budgets: _Budgets,
) -> Generator[int, int, _Outcome]:
    """Run the search, as a generator: it first yields at once (priming) and then
    whenever more configurations are cached than the allowance last sent in; the next
    ``send(allowance)`` resumes it. It returns the outcome. The partial linearization at
    the first backtrack at each new greatest depth is recorded (``O(depth)`` each time, at
    most ``len(ops)`` times), so a failure needs no second search to explain itself."""
    allowance = yield 0
    lay = _Layout.build(model, ops)
    nxt = lay.nxt
    prv = lay.prv
    finite = lay.finite
    open_bit = lay.open_bit
    read_only = lay.read_only
    call = lay.call
    ret = lay.ret
    cls = lay.cls
    sooner = lay.sooner
    open_members = lay.open_members
    open_used = [0] * len(open_members)  # per class: how many open members are linearized
    lifted = [False] * len(ops)
    step = model.step
    need = _read_states(model, ops, read_only)
    grow, bases, reset_rank = _growth(model, ops, need, init)
    lookahead = _LOOKAHEAD if any(b is not None for b in bases) else 0
    pending_resets = (1 << max(reset_rank, default=-1) + 1) - 1  # unlifted resets, by rank
    lazy = lazy_open_ops(model)
    excluded: tuple[int, ...] = ()  # candidates not to try next (lazy open operations)
    cache: set[tuple[int, int, int, State, tuple[int, ...]]] = set()
    stack: list[tuple[int, State, int, int, int, int, int, int, tuple[int, ...]]] = []
    state = init
    window = base = opened = 0  # linearized: ops below base, window bits above, opened bits
    best = 0
    capture: tuple[tuple[int, ...], State, int] | None = None
    budget = _BUDGET_EVERY
    fresh = True  # arrived at a new configuration
    mode = _SCAN
    first_ret = blocker = e = 0  # event index of the first return entry; its op's call
    resume = nxt[0]  # where the search for a read to force starts
    while True:
        if fresh:  # force a legal read-only operation if there is one, else try the blocker
            fresh = False
            e = resume
            if need is None:
                while e & 1:  # the candidates: calls before the first return entry
                    i = e >> 1
                    if read_only[i] and step(state, ops[i])[0]:
                        break
                    e = nxt[e]
            else:  # the same, with the states the reads are legal in known beforehand
                while e & 1:
                    i = e >> 1
                    n = need[i]
                    if n is not _NOT_READ:
                        if n is _ANYWHERE or n == state:
                            break
                        # dead end: no reset left that could be the read's base, and the
                        # state cannot grow into its value (see _growth)
                        b = bases[i]
                        if b is not None and not b & pending_resets and not grow(state, n):
                            e = _DEAD_END
                            break
                    e = nxt[e]
                # the same test on the next reads called after the first return entry:
                # they must be linearized too
                if e > 0 and not e & 1 and lookahead:
                    f = nxt[e]
                    left = lookahead
                    while f and left:
                        if f & 1:
                            b = bases[f >> 1]
                            if b is not None:
                                left -= 1
                                if not b & pending_resets and not grow(state, need[f >> 1]):
                                    e = _DEAD_END
                                    break
                        f = nxt[f]
            if e == _DEAD_END:  # a pending read can no longer be reached: this fails
                mode = _FORCED
                e = _BACKTRACK
            elif e & 1:
                mode = _FORCED
            elif not e:  # no return entry left: every remaining operation is open
                return _Outcome(Verdict.LINEARIZABLE, len(cache), best)
            else:
                first_ret = ret[(e >> 1) - 1]
                blocker = e - 1
                # not legal here (it would have been forced), or excluded
                if read_only[blocker >> 1] or (excluded and blocker >> 1 in excluded):
                    mode = _SCAN
                    e = nxt[0]
                else:
                    mode = _BLOCKER
                    e = blocker
        i = e >> 1
        if mode == _SCAN:  # choose the next candidate to try, in list order
            if not e & 1:  # the first return entry: nothing fits here; backtrack
                e = _BACKTRACK
            elif read_only[i] or e == blocker or (excluded and i in excluded):
                e = nxt[e]  # illegal (or it would have been forced); tried; or excluded
                continue
            elif finite[i] < 0:  # open: equivalent open operations are used in call order
                if open_members[cls[i]][open_used[cls[i]]] != i:
                    e = nxt[e]
                    continue
            else:  # an equivalent candidate that returns sooner is tried instead
                k = sooner[i]
                while k >= 0 and ret[k] >= first_ret:
                    if not lifted[k] and call[k] < first_ret:
                        break
                    k = sooner[k]
                else:
                    k = -1
                if k >= 0:
                    e = nxt[e]
                    continue
        if e != _BACKTRACK:
            if mode == _FORCED:
                legal, after = True, state
            else:
                legal, after = step(state, ops[i])
                if lazy and legal and finite[i] < 0 and after == state:
                    legal = False  # an open operation that changes nothing: never needed
            if legal:
                j = finite[i]
                if j >= 0:
                    j -= base
                    new_window = window | (1 << j)
                    new_base = base
                    if j == 0:  # the frontier moves past the run of linearized ops
                        shift = (new_window ^ (new_window + 1)).bit_length() - 1
                        new_window >>= shift
                        new_base += shift
                    new_opened = opened
                else:
                    new_window = window
                    new_base = base
                    new_opened = opened | open_bit[i]
                new_excluded = (
                    _useless_after(step, ops, nxt, read_only, i, state, after)
                    if lazy and j < 0
                    else ()
                )
                cached = len(cache)
                cache.add((new_window, new_base, new_opened, after, new_excluded))
                if len(cache) > cached:  # a new configuration (the key hashed once)
                    stack.append(
                        (e, state, window, base, opened, mode, first_ret, blocker, excluded)
                    )
                    excluded = new_excluded
                    state = after
                    window = new_window
                    base = new_base
                    opened = new_opened
                    lifted[i] = True
                    if reset_rank[i] >= 0:
                        pending_resets &= ~(1 << reset_rank[i])
                    p = prv[e]  # lift: unlink the call ...
                    q = nxt[e]
                    nxt[p] = q
                    prv[q] = p
                    if j >= 0:  # ... and the return
                        r = e + 1
                        p = prv[r]
                        q = nxt[r]
                        nxt[p] = q
                        prv[q] = p
                    else:
                        open_used[cls[i]] += 1
                    fresh = True
                    # after a forced read the state is unchanged and the calls before it
                    # are known not to be legal reads: resume the scan there
                    resume = nxt[prv[e]] if mode == _FORCED else nxt[0]
                    budget -= 1
                    if not budget:
                        budget = _BUDGET_EVERY
                        reason = budgets.over(len(cache))
                        if reason is not None:
                            return _Outcome(Verdict.UNKNOWN, len(cache), best, reason)
                        if len(cache) > allowance:
                            allowance = yield len(cache)
                    continue
            if mode == _BLOCKER:  # now the other candidates, in list order
                mode = _SCAN
                e = nxt[0]
                continue
            if mode == _SCAN:
                e = nxt[e]
                continue
            # a forced read whose configuration already failed: so does this one
        # this configuration fails: some operation should have been linearized by now
        depth = len(stack)
        if depth > best or capture is None:
            best = depth
            capture = (tuple(frame[0] >> 1 for frame in stack), state, _blocker(nxt))
        while True:  # forced frames are popped too: they had no alternative
            if not stack:
                return _Outcome(Verdict.NOT_LINEARIZABLE, len(cache), best, None, capture)
            e, state, window, base, opened, mode, first_ret, blocker, excluded = stack.pop()
            i = e >> 1
            lifted[i] = False
            if reset_rank[i] >= 0:
                pending_resets |= 1 << reset_rank[i]
            if finite[i] >= 0:  # unlift, in the reverse order of lifting
                r = e + 1
                nxt[prv[r]] = r
                prv[nxt[r]] = r
            else:
                open_used[cls[i]] -= 1
            nxt[prv[e]] = e
            prv[nxt[e]] = e
            if mode != _FORCED:
                break
        if mode == _BLOCKER:  # the blocker failed: now the others, in list order
            mode = _SCAN
            e = nxt[0]
        else:
            e = nxt[e]
        budget -= 1
        if not budget:
            budget = _BUDGET_EVERY
            reason = budgets.over(len(cache))
            if reason is not None:
                return _Outcome(Verdict.UNKNOWN, len(cache), best, reason)
            if len(cache) > allowance:
                allowance = yield len(cache)


@attrs.define
class _Layout:
    """The search's arrays, built once per partition (operation ``i`` is local index).

    ``nxt``/``prv``: the doubly linked entry list (see module docstring). ``finite[i]``:
    bit of a finite operation (-1 if open); ``open_bit[i]``: bit of an open one.
    ``cls[i]``: equivalence class (same ``f``, input and output: interchangeable for the
    model). ``sooner[i]``: the finite member of ``i``'s class returning just before it
    (-1: none). ``open_members``: per class, its open members in call order, then -1.
    """

    nxt: list[int]
    prv: list[int]
    finite: list[int]
    open_bit: list[int]
    read_only: list[bool]
    call: list[int]
    ret: list[int]
    cls: list[int]
    sooner: list[int]
    open_members: list[list[int]]

    @classmethod
    def build(cls, model: Model, ops: Sequence[Operation]) -> _Layout:
        n = len(ops)
        never = 1 << 62
        entries: list[tuple[int, int]] = []
        finite = [-1] * n
        open_bit = [0] * n
        call = [op.call for op in ops]
        ret = [op.ret if op.ret is not None else never for op in ops]
        classes: dict[tuple[str, object, object], int] = {}
        op_class = [0] * n
        n_finite = n_open = 0
        for i, op in enumerate(ops):
            op_class[i] = classes.setdefault((op.f, op.input, op.output), len(classes))
            entries.append((op.call, 2 * i + 1))
            if op.ret is None:
                open_bit[i] = 1 << n_open
                n_open += 1
            else:
                entries.append((op.ret, 2 * i + 2))
                finite[i] = n_finite
                n_finite += 1
        entries.sort()
        nxt = [0] * (2 * n + 1)
        prv = [0] * (2 * n + 1)
        last = 0
        for _, entry in entries:
            nxt[last] = entry
            prv[entry] = last
            last = entry
        nxt[last] = 0
        prv[0] = last
        members: list[list[int]] = [[] for _ in classes]
        opens: list[list[int]] = [[] for _ in classes] if n_open else []
        for i in range(n):
            if finite[i] >= 0:
                members[op_class[i]].append(i)
            else:
                opens[op_class[i]].append(i)
        sooner = [-1] * n
        for group in members:
            group.sort(key=ret.__getitem__)
            for before, after in itertools.pairwise(group):
                sooner[after] = before
        for group in opens:
            group.append(-1)
        return cls(
            nxt=nxt,
            prv=prv,
            finite=finite,
            open_bit=open_bit,
            read_only=[model.read_only(op) for op in ops],
            call=call,
            ret=ret,
            cls=op_class,
            sooner=sooner,
            open_members=opens,
        )


def lazy_open_ops(model: Model) -> bool:
    """Whether the search uses the *lazy open operations* reduction for ``model``: when
    the model class sets ``lazy_open_ops = True``. The reduction is sound for any model;
    it is opt-in because it also changes the order in which linearizable histories are
    explored: on registers it cuts the work several-fold (Porcupine's etcd logs: 34,684
    configurations to 4,536), while on a ``kv`` history mixing open ``append``s with
    ``put``s (states that keep growing) it was measured to explore many more."""
    return bool(getattr(model, "lazy_open_ops", False))


def _useless_after(
    step: Callable[[State, Operation], tuple[bool, State]],
    ops: Sequence[Operation],
    nxt: list[int],
    read_only: list[bool],
    lifted: int,
    before: State,
    after: State,
) -> tuple[int, ...]:
    """The candidates (calls before the first return entry) that the open operation
    ``lifted``, just linearized from ``before`` to ``after``, is useless for: legal in
    ``before`` with the same resulting state as in ``after``. Read-only ones never are
    (``before != after``)."""
    useless = []
    e = nxt[0]
    while e & 1:
        k = e >> 1
        if k != lifted and not read_only[k]:
            legal, result = step(after, ops[k])
            if legal:
                legal, without = step(before, ops[k])
                if legal and without == result:
                    useless.append(k)
        e = nxt[e]
    return tuple(useless)


_NOT_READ = object()  # in _read_states: not a read-only operation
_ANYWHERE = object()  # in _read_states: a read legal in every state


def _read_states(
    model: Model, ops: Sequence[Operation], read_only: list[bool]
) -> list[object] | None:
    """Per operation, the state its read is legal in (:data:`_ANYWHERE`: every state;
    :data:`_NOT_READ`: not read-only), from the model's optional ``read_legal_in(op)``
    (see ``KvModel.read_legal_in``); ``None`` when the model has none (``step`` decides)."""
    legal_in = getattr(model, "read_legal_in", None)
    if legal_in is None:
        return None
    need: list[object] = [_NOT_READ] * len(ops)
    for i, op in enumerate(ops):
        if read_only[i]:
            exact, state = legal_in(op)
            need[i] = state if exact else _ANYWHERE
    return need


def _growth(
    model: Model, ops: Sequence[Operation], need: list[object] | None, init: State
) -> tuple[Callable[[State, State], bool], list[int | None], list[int]]:
    """The *dead-end* test of growing states, from the model's optional ``resets(op)`` and
    ``can_grow_to(state, value)`` (see ``KvModel``): ``(grow, bases, reset_rank)``.

    The contract: a reset (``resets(op)``, a ``put``) is legal in every state and leads to
    the same state from every state; any other operation only keeps or grows the state,
    so ``grow(s, v)`` false implies ``grow(step(s, op), v)`` false. ``reset_rank[i]``
    numbers the resets (-1: not one). ``bases[i]``, for a read ``i`` that must be
    linearized (it returned, its value is known), is a bitmask of the resets that could be
    the last reset linearized before it and whose state can grow into its value: invoked
    before the read returned, and not followed by another reset that was invoked after
    this one returned and returned before the read was invoked (that one would come
    between them). So while the read is pending, if none of ``bases[i]`` is still to be
    linearized and the current state cannot grow into the read's value, no completion
    exists: whatever reset comes last before the read is not a base, and without one the
    state only grows from here. ``None``: never a dead end (not such a read, or the model
    has no test)."""
    n = len(ops)
    grow = getattr(model, "can_grow_to", None)
    resets = getattr(model, "resets", None)
    reset_rank = [-1] * n
    bases: list[int | None] = [None] * n
    if grow is None or resets is None or need is None:
        return (lambda _s, _v: True), bases, reset_rank
    chosen = sorted((op.call, i) for i, op in enumerate(ops) if resets(op))
    never = 1 << 62
    calls = [call for call, _ in chosen]
    rets: list[int] = []
    for _, i in chosen:
        ret = ops[i].ret
        rets.append(never if ret is None else ret)
    states = [model.step(init, ops[i])[1] for _, i in chosen]
    for rank, (_, i) in enumerate(chosen):
        reset_rank[i] = rank
    # latest call among the resets returned by time t: resets sorted by return
    by_ret = sorted(range(len(chosen)), key=rets.__getitem__)
    ret_sorted = [rets[k] for k in by_ret]
    latest_call: list[int] = []
    for k in by_ret:
        latest_call.append(max(calls[k], latest_call[-1]) if latest_call else calls[k])
    longest = max((r - c for c, r in zip(calls, rets, strict=True) if r != never), default=0)
    opens = [k for k, r in enumerate(rets) if r == never]
    for i, op in enumerate(ops):
        value = need[i]
        if value is _NOT_READ or value is _ANYWHERE or op.ret is None:
            continue
        done = bisect.bisect_left(ret_sorted, op.call)  # resets returned before the call
        floor = latest_call[done - 1] if done else -1  # a base returned at or after this
        mask = 0
        k = bisect.bisect_left(calls, op.ret) - 1  # invoked before the read returned
        while k >= 0 and calls[k] + longest >= floor:
            if rets[k] >= floor and grow(states[k], value):
                mask |= 1 << k
            k -= 1
        for k in opens:
            if calls[k] < op.ret and grow(states[k], value):
                mask |= 1 << k
        bases[i] = mask
    return grow, bases, reset_rank


def _blocker(nxt: list[int]) -> int:
    """The operation blocking progress: the one whose return entry comes first."""
    e = nxt[0]
    while e & 1:
        e = nxt[e]
    return (e >> 1) - 1


@attrs.define
class _Budgets:
    """When to give up: see :func:`check_partition`."""

    deadline: float | None
    max_cache: int
    stop: Callable[[], bool] | None

    def over(self, cached: int) -> str | None:
        """Why the search must stop now, or ``None``."""
        if self.stop is not None and self.stop():
            return NOT_CHECKED_REASON
        if cached > self.max_cache:
            return f"memory budget spent ({cached} configurations cached)"
        if self.deadline is not None and time.monotonic() > self.deadline:
            return TIME_LIMIT_REASON
        return None
