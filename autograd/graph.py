"""Topological order of a computational graph, without recursion.

Works on any node type: the caller says how to get a node's parents. Used by
``backward``, ``grad``, the tape and the graph drawing alike.
"""

from typing import Callable, Hashable, Iterable, TypeVar

Node = TypeVar("Node", bound=Hashable)


def topological_order(root: Node, parents: Callable[[Node], Iterable[Node]]) -> list[Node]:
    """Every node reachable from ``root``, each one before all of its parents.

    ``root`` comes first, so the list is the order in which backpropagation
    visits nodes; reverse it to evaluate a graph forward. A node reached by
    several paths (or twice as a parent, as ``x`` in ``x * x``) appears once.

    Kahn's algorithm on the reversed edges: a node is emitted once every node
    that uses it has been emitted. Two passes with an explicit stack, so the
    depth of the graph is limited by memory only.
    """
    uses: dict = {root: 0}
    stack = [root]
    while stack:
        for parent in parents(stack.pop()):
            if parent in uses:
                uses[parent] += 1
            else:
                uses[parent] = 1
                stack.append(parent)
    order = []
    ready = [root]
    while ready:
        node = ready.pop()
        order.append(node)
        for parent in parents(node):
            remaining = uses[parent] - 1
            uses[parent] = remaining
            if remaining == 0:
                ready.append(parent)
    return order
