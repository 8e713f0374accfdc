"""Topological order of a computational graph, without recursion.

Works on any node type: the caller says how to get a node's parents. Used by
``grad``, the tape and the graph drawing; ``Value.backward`` runs the same
walk inlined for speed, so every one of them visits nodes in the same order
(which matters: floating-point sums depend on the order of their terms).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable

_DONE = object()
"""Stack marker: the node below it has had all of its parents emitted."""


def topological_order(root: Hashable, parents: Callable[[Hashable], Iterable[Hashable]]) -> list:
    """Every node reachable from ``root``, each one before all of its parents.

    ``root`` comes first, so the list is the order in which backpropagation
    visits nodes; reverse it to evaluate a graph forward. A node reached by
    several paths (or twice as a parent, as ``x`` in ``x * x``) appears once.

    Depth-first post-order with an explicit stack (so the depth of the graph
    is limited by memory only), reversed. A node is marked when it is
    expanded, not when it is pushed, so in a DAG reached by several paths
    every node is still emitted after all of its parents. The first parent
    is explored first.
    """
    postorder = []
    seen = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if node is _DONE:
            postorder.append(stack.pop())
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append(node)
        stack.append(_DONE)
        for parent in reversed(tuple(parents(node))):
            if parent not in seen:
                stack.append(parent)
    postorder.reverse()
    return postorder
