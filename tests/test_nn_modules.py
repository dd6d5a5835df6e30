"""cr.nn modules and stochastic layers: dropout seeding and scaling, state_dict round trips,
and loads that fail changing nothing."""
import numpy as np
import pytest

import chainrule as cr


def test_dropout_is_seeded_scaled_and_identity_in_eval():
    x = cr.ones((1000,))
    cr.random.seed(3)
    a = cr.nn.dropout(x, 0.25)
    cr.random.seed(3)
    b = cr.nn.dropout(x, 0.25)
    assert a.tolist() == b.tolist()
    kept = a.numpy()[a.numpy() != 0]
    np.testing.assert_allclose(kept, 1 / 0.75, rtol=1e-6)
    assert 0.2 < 1 - kept.size / 1000 < 0.3
    layer = cr.nn.Dropout(0.5)
    layer.eval()
    assert layer(x) is x


def test_module_state_dict_round_trip_and_bad_state_changes_nothing():
    cr.random.seed(0)
    net, other = cr.nn.MLP([3, 4, 2]), cr.nn.MLP([3, 4, 2])
    assert [n for n, _ in net.named_parameters()] == ["layers.0.weight", "layers.0.bias",
                                                       "layers.2.weight", "layers.2.bias"]
    other.load_state_dict(net.state_dict())
    x = cr.random.normal((5, 3))
    assert net(x).tolist() == other(x).tolist()
    before = [p.numpy().copy() for p in other.parameters()]
    bad = dict(net.state_dict())
    bad["layers.2.weight"] = cr.zeros((3, 3))
    with pytest.raises(cr.ShapeError, match="layers.2.weight"):
        other.load_state_dict(bad)
    with pytest.raises(KeyError, match="missing"):
        other.load_state_dict({"layers.0.weight": cr.zeros((3, 4))})
    for p, b in zip(other.parameters(), before):
        np.testing.assert_array_equal(p.numpy(), b)
    assert other.train().training and not other.eval().layers[0].training
