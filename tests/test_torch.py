"""Cross-check against PyTorch 2.13.0 in double precision: values and
gradients of a few hundred seeded random graphs over every primitive."""

import random

import pytest

from autograd import Value, grad
from autograd.ops import PRIMITIVES

from expressions import OPS, close, op_of, random_program, run

N_GRAPHS = 300


def _lockstep(torch, program, inputs):
    """Build the same expression with our Values and with torch tensors."""
    ours = [Value(x) for x in inputs]
    theirs = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in inputs]
    pairs = run(
        program,
        list(zip(ours, theirs)),
        apply=lambda op, a, b: (op.ours(a[0], b[0]), op.torch(torch, a[1], b[1])),
        data=lambda pair: pair[0].data,
    )
    interior = pairs[len(inputs):]
    out_ours = sum((p[0] for p in interior[1:]), interior[0][0])
    out_theirs = sum((p[1] for p in interior[1:]), interior[0][1])
    return ours, theirs, out_ours, out_theirs


def _case(seed: int, max_inputs: int = 4, max_steps: int = 12):
    rng = random.Random(seed)
    inputs = [rng.uniform(-2.0, 2.0) for _ in range(rng.randint(1, max_inputs))]
    return inputs, random_program(rng, rng.randint(1, max_steps))


@pytest.mark.parametrize("seed", range(N_GRAPHS))
def test_random_graph_matches_torch(torch, seed):
    inputs, program = _case(seed)
    ours, theirs, out_ours, out_theirs = _lockstep(torch, program, inputs)
    assert close(out_ours.data, out_theirs.item(), 1e-9)
    out_ours.backward()
    out_theirs.backward()
    for i, (v, t) in enumerate(zip(ours, theirs)):
        expected = 0.0 if t.grad is None else t.grad.item()
        assert close(v.grad, expected, 1e-9), f"input {i}: ours {v.grad!r}, torch {expected!r}"


def test_every_primitive_is_exercised():
    """The random programs above reach every row of the table, and every composite."""
    seen = set()
    for seed in range(N_GRAPHS):
        _, program = _case(seed)
        seen.update(op_of(i).name for i, _, _ in program)
    assert seen == {op.name for op in OPS} and seen >= set(PRIMITIVES)


@pytest.mark.parametrize("seed", range(20))
def test_second_derivatives_match_torch(torch, seed):
    """Hessian-vector style: grad of a gradient, against torch.autograd.grad."""
    inputs, program = _case(1000 + seed, max_inputs=3, max_steps=8)
    ours, theirs, out_ours, out_theirs = _lockstep(torch, program, inputs)
    first_ours = grad(out_ours, ours, create_graph=True)
    first_theirs = torch.autograd.grad(out_theirs, theirs, create_graph=True, allow_unused=True)
    s_ours = sum(first_ours[1:], first_ours[0])
    present = [g for g in first_theirs if g is not None]
    if not any(g.requires_grad for g in present):
        # Linear in every input: every second derivative is 0.
        assert grad(s_ours, ours) == [0.0] * len(ours)
        return
    s_theirs = sum(present[1:], present[0])
    assert close(s_ours.data, s_theirs.item(), 1e-9)
    second_ours = grad(s_ours, ours)
    second_theirs = torch.autograd.grad(s_theirs, theirs, allow_unused=True)
    for i, (g, t) in enumerate(zip(second_ours, second_theirs)):
        expected = 0.0 if t is None else t.item()
        assert close(g, expected, 1e-8), f"input {i}: ours {g!r}, torch {expected!r}"
