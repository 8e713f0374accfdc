"""The seeds' worked examples, reproduced with raw Values.

Numbers are the ones printed in ../shared/seeds/003_a9d3d9a88d6b9743.txt.
"""

import pytest

from autograd import Value


def test_circuit_x_plus_y_times_z():
    x, y, z = Value(-2.0, "x"), Value(5.0, "y"), Value(-4.0, "z")
    q = x + y
    f = q * z
    f.backward()
    assert (q.data, f.data) == (3.0, -12.0)
    assert (x.grad, y.grad, z.grad, q.grad) == (-4.0, -4.0, 3.0, -4.0)


def test_wx_plus_b():
    w, x, b = Value(-2.0), Value(5.0), Value(3.0)
    f = w * x + b
    f.backward()
    assert f.data == -7.0
    assert (w.grad, x.grad, b.grad) == (5.0, -2.0, 1.0)


def _neuron_inputs():
    return [Value(v) for v in (2.0, -1.0, -3.0, -2.0, -3.0)]  # w0, x0, w1, x1, w2


# The slides round to two decimals: output 0.73; gradients w0 -0.20,
# x0 0.40 (= 2 * 0.20), w1 -0.39, x1 -0.59, w2 0.20.
SEED_NEURON_GRADS = [-0.20, 0.39, -0.39, -0.59, 0.20]


@pytest.mark.parametrize("fused", [False, True], ids=["gate_by_gate", "fused_sigmoid"])
def test_sigmoid_neuron(fused):
    w0, x0, w1, x1, w2 = inputs = _neuron_inputs()
    z = w0 * x0 + w1 * x1 + w2
    f = z.sigmoid() if fused else 1 / (1 + (-z).exp())
    f.backward()
    assert round(f.data, 2) == 0.73
    for v, expected in zip(inputs, SEED_NEURON_GRADS):
        assert abs(v.grad - expected) < 0.005
    # Exactly: d f / d z = σ(1 - σ), and each input's gradient follows from it.
    dz = f.data * (1 - f.data)
    assert [v.grad for v in inputs] == pytest.approx(
        [x0.data * dz, w0.data * dz, x1.data * dz, w1.data * dz, dz], rel=1e-12
    )


def test_sigmoid_neuron_gates_show_the_textbook_ops():
    w0, x0, w1, x1, w2 = _neuron_inputs()
    f = 1 / (1 + (-(w0 * x0 + w1 * x1 + w2)).exp())
    ops = []
    node = f
    while node.parents:
        ops.append(node.op)
        node = node.parents[-1] if node.op == "+" else node.parents[0]
    assert ops == ["1/x", "+", "exp", "*", "+"]
    assert f.parents[0].parents[0].data == 1.0  # the "+1" gate
    assert f.parents[0].parents[1].parents[0].parents[1].data == -1.0  # the "*-1" gate


# The 2-2-2 network: inputs, weights and biases, targets.
I1, I2 = 0.05, 0.10
W = dict(w1=0.15, w2=0.20, w3=0.25, w4=0.30, w5=0.40, w6=0.45, w7=0.50, w8=0.55)
B1, B2 = 0.35, 0.60
T1, T2 = 0.01, 0.99
LEARNING_RATE = 0.5

# Every number the seed prints, to the digits it prints.
SEED_FORWARD = {
    "net_h1": 0.3775,
    "out_h1": 0.593269992,
    "out_h2": 0.596884378,
    # The seed prints 1.1059035967, a slip of the pen for 1.105905967: its
    # own out_o1 = 0.75136507 is σ(1.105905967) (σ(1.1059035967) = 0.7513646).
    "net_o1": 1.105905967,
    "out_o1": 0.75136507,
    "out_o2": 0.772928465,
    "E_o1": 0.274811083,
    "E_o2": 0.023560026,
    "E_total": 0.298371109,
}
SEED_BACKWARD = {
    "dE/dout_o1": 0.74136507,
    "dout_o1/dnet_o1": 0.186815602,
    "dE/dw5": 0.082167041,
    "dE_o1/dnet_o1": 0.138498562,
    "dE_o1/dout_h1": 0.055399425,
    "dE_o2/dout_h1": -0.019049119,
    "dE/dout_h1": 0.036350306,
    "dout_h1/dnet_h1": 0.241300709,
    "dE/dw1": 0.000438568,
}
SEED_UPDATED = {
    "w1": 0.149780716,
    "w2": 0.19956143,
    "w3": 0.24975114,
    "w4": 0.29950229,
    "w5": 0.35891648,
    "w6": 0.408666186,
    "w7": 0.511301270,
    "w8": 0.561370121,
}
TOLERANCE = 5e-9  # half a unit in the last place the seed prints


def _network():
    w = {name: Value(v, name) for name, v in W.items()}
    b1, b2 = Value(B1, "b1"), Value(B2, "b2")
    net_h1 = w["w1"] * I1 + w["w2"] * I2 + b1
    net_h2 = w["w3"] * I1 + w["w4"] * I2 + b1
    out_h1, out_h2 = net_h1.sigmoid(), net_h2.sigmoid()
    net_o1 = w["w5"] * out_h1 + w["w6"] * out_h2 + b2
    net_o2 = w["w7"] * out_h1 + w["w8"] * out_h2 + b2
    out_o1, out_o2 = net_o1.sigmoid(), net_o2.sigmoid()
    e_o1 = 0.5 * (T1 - out_o1) ** 2
    e_o2 = 0.5 * (T2 - out_o2) ** 2
    e_total = e_o1 + e_o2
    nodes = dict(net_h1=net_h1, out_h1=out_h1, out_h2=out_h2, net_o1=net_o1, out_o1=out_o1,
                 out_o2=out_o2, E_o1=e_o1, E_o2=e_o2, E_total=e_total)
    return w, nodes


@pytest.mark.parametrize("name", SEED_FORWARD)
def test_network_forward(name):
    _, nodes = _network()
    assert abs(nodes[name].data - SEED_FORWARD[name]) < TOLERANCE


def test_seed_net_o1_typo_is_a_typo():
    assert abs(Value(1.105905967).sigmoid().data - SEED_FORWARD["out_o1"]) < TOLERANCE
    assert abs(Value(1.1059035967).sigmoid().data - SEED_FORWARD["out_o1"]) > 10 * TOLERANCE


def test_network_backward_intermediates():
    w, n = _network()
    n["E_total"].backward()
    out_o1, out_h1 = n["out_o1"].data, n["out_h1"].data
    computed = {
        "dE/dout_o1": n["out_o1"].grad,
        "dout_o1/dnet_o1": out_o1 * (1 - out_o1),
        "dE/dw5": w["w5"].grad,
        "dE_o1/dnet_o1": n["net_o1"].grad,
        "dE_o1/dout_h1": n["net_o1"].grad * W["w5"],
        "dE_o2/dout_h1": n["out_h1"].grad - n["net_o1"].grad * W["w5"],
        "dE/dout_h1": n["out_h1"].grad,
        "dout_h1/dnet_h1": out_h1 * (1 - out_h1),
        "dE/dw1": w["w1"].grad,
    }
    for name, expected in SEED_BACKWARD.items():
        assert abs(computed[name] - expected) < TOLERANCE, name


def test_network_one_sgd_step_updates_every_weight_as_printed():
    w, nodes = _network()
    nodes["E_total"].backward()
    for value in w.values():
        value.data -= LEARNING_RATE * value.grad
    for name, expected in SEED_UPDATED.items():
        assert abs(w[name].data - expected) < TOLERANCE, (name, w[name].data, expected)
