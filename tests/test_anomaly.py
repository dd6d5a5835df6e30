"""Anomaly mode (cr.detect_anomaly): the first op whose forward or backward makes NaN/inf is
named, with its inputs; nothing else is blamed; nothing changes outside the block, or in
another thread.  Truths: NumPy's values of the same formulas, torch's gradients."""
import inspect
import threading

import numpy as np
import pytest

import chainrule as cr
from chainrule import autodiff
from chainrule.anomaly import AnomalyError, _mode
from conftest import F64

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")   # NumPy's log(0) warnings


def _line_of(fn, text):
    """The line number of the first line of ``fn``'s source containing ``text``."""
    lines, start = inspect.getsourcelines(fn)
    return start + next(i for i, line in enumerate(lines) if text in line)


def _raises(fn):
    with cr.detect_anomaly(), pytest.raises(AnomalyError) as info:
        fn()
    return info.value


# -------------------------------------------------------------------- forward

def test_forward_names_the_op_its_line_and_its_inputs():
    x = np.array([1.0, 0.0, 2.0, 0.0])
    program = lambda: cr.exp(cr.log(cr.tensor(x, dtype=F64)))   # noqa: E731
    err = _raises(program)
    assert (err.op, err.phase, err.argnum) == ("log", "forward", None)
    assert err.where[1] == _line_of(test_forward_names_the_op_its_line_and_its_inputs, "program =")
    text = str(err)
    with np.errstate(divide="ignore"):
        expected_neginf = int(np.isneginf(np.log(x)).sum())
    assert f"-inf {expected_neginf} of 4" in text           # output: the two -inf of log(0)
    assert "argument 0: float64[4]: min 0, max 2, mean 0.75; nan 0, +inf 0, -inf 0 of 4" in text
    assert "cr.exp(cr.log(" in text                          # the user's source line
    assert isinstance(err, cr.ChainruleError) and isinstance(err, FloatingPointError)


def test_a_nan_given_to_an_op_is_not_its_fault():
    x = cr.tensor([np.nan, 1.0, -1.0], dtype=F64)
    with cr.detect_anomaly():
        y = cr.exp(x) * 2 + 1            # NaN in, NaN out: not blamed
    assert np.isnan(y.numpy()[0])
    err = _raises(lambda: cr.exp(cr.sqrt(cr.tensor([4.0, -1.0], dtype=F64))) + 1)
    assert err.op == "sqrt"              # the first op that made it, not exp or add after it


def test_lessons_naive_softmax_overflows_in_exp():
    """Day 4's pathology table: loss -> NaN from a softmax without the max-subtraction trick."""
    logits = cr.tensor([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]], dtype=F64, requires_grad=True)

    def naive_softmax(z):
        e = cr.exp(z)
        return e / cr.sum(e, axis=-1, keepdims=True)

    with np.errstate(over="ignore", invalid="ignore"):
        assert np.isnan(naive_softmax(logits).numpy()).any()     # what the user sees without it
    err = _raises(lambda: naive_softmax(logits))
    assert err.op == "exp" and "+inf 1, -inf 0 of 6" in str(err)
    print("\nanomaly mode on the lessons' naive softmax:\n" + str(err))
    with cr.detect_anomaly():            # the stable form raises nothing, forward or backward
        cr.sum(cr.nn.softmax(logits)[:, 0]).backward()
    assert np.isfinite(logits.grad.numpy()).all()


def test_lessons_log_of_a_softmax_probability_underflows_in_log():
    """'Pass logits, not probabilities': log(softmax(z)) is -inf where a probability is 0."""
    z = cr.tensor([[800.0, 0.0, -50.0]], dtype=F64, requires_grad=True)
    err = _raises(lambda: -cr.log(cr.nn.softmax(z))[0, 1])
    assert err.op == "log"
    with cr.detect_anomaly():
        loss = cr.nn.cross_entropy(z, cr.tensor([1]))
        loss.backward()
    assert np.isfinite(float(loss)) and np.isfinite(z.grad.numpy()).all()


def _train(steps, lr):
    """The lessons' exercise 6: an MLP trained with SGD at a learning rate that is far too high.
    Returns the step whose loss first was not finite (None if none was)."""
    cr.random.seed(0)
    model = cr.nn.MLP([4, 32, 32, 1])
    opt = cr.optim.create("sgd", list(model.parameters()), lr=lr)
    x = cr.random.normal((64, 4))
    y = cr.sum(x * x, axis=1, keepdims=True)
    for step in range(steps):
        opt.zero_grad()
        loss = cr.nn.mse_loss(model(x), y)
        if not np.isfinite(float(loss)):
            return step
        loss.backward()
        opt.step()
    return None


def test_lessons_exploding_mlp_is_caught_at_the_first_overflow():
    first_bad = _train(20, lr=5.0)
    assert first_bad is not None                     # it does blow up without anomaly mode
    with cr.detect_anomaly(), pytest.raises(AnomalyError) as info:
        _train(20, lr=5.0)
    err = info.value
    assert err.phase == "forward" and err.op in ("linear", "matmul", "add", "relu", "multiply")
    assert "values are exploding upstream" in str(err) and "clip_grad_norm_" in str(err)
    assert _train(20, lr=0.01) is None
    with cr.detect_anomaly():                        # a healthy run raises nothing
        _train(5, lr=0.01)


def test_a_float16_overflow_under_autocast_is_named_with_its_dtype():
    x = cr.tensor([[100.0, 1.0], [1.0, 1.0]], dtype="float32")
    w = cr.tensor([[1000.0, 0.0], [0.0, 1.0]], dtype="float32", requires_grad=True)
    assert np.isfinite((x @ w).numpy()).all()        # fine in float32: 1e5 < 3.4e38
    with cr.amp.autocast("float16"):
        assert np.isinf((x @ w).numpy().astype(np.float64)).any()   # 1e5 > 65504
    for outer_amp in (True, False):
        with pytest.raises(AnomalyError) as info:
            if outer_amp:
                with cr.amp.autocast("float16"), cr.detect_anomaly():
                    x @ w
            else:
                with cr.detect_anomaly(), cr.amp.autocast("float16"):
                    x @ w
        assert info.value.op == "matmul"
        assert "output: float16[2, 2]" in str(info.value) and "65504" in str(info.value)


def test_where_masking_an_inf_is_reported_and_the_safe_form_is_not():
    x = cr.tensor([2.0, 0.0], dtype=F64, requires_grad=True)
    assert _raises(lambda: cr.where(x > 0, cr.log(x), 0.0)).op == "log"
    with cr.detect_anomaly():
        cr.sum(cr.where(x > 0, cr.log(cr.where(x > 0, x, 1.0)), 0.0)).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.5, 0.0])


# ------------------------------------------------------------------- backward

def test_backward_names_the_op_the_argument_and_the_forward_line():
    x = cr.tensor([4.0, 0.0], dtype=F64, requires_grad=True)

    def run():
        y = cr.sqrt(x)               # finite forward; d sqrt/dx = inf at 0
        cr.sum(y * 3.0).backward()
    err = _raises(run)
    assert (err.op, err.phase, err.argnum) == ("sqrt", "backward", 0)
    assert err.where[1] == _line_of(run, "y = cr.sqrt(x)")
    text = str(err)
    assert "incoming gradient: float64[2]: min 3, max 3, mean 3" in text
    assert "+inf 1, -inf 0 of 2" in text and "y = cr.sqrt(x)" in text
    assert x.grad is None            # nothing was accumulated


def test_backward_names_the_second_argument():
    # d(x**y)/dy = x**y * log(x): NaN for x = -2 (torch agrees); d/dx = y * x**(y-1) is finite
    torch = pytest.importorskip("torch", reason="torch is the oracle for the power rule")
    tx, ty = torch.tensor([-2.0], dtype=torch.float64, requires_grad=True), torch.tensor(
        [2.0], dtype=torch.float64, requires_grad=True)
    (tx ** ty).sum().backward()
    assert np.isfinite(tx.grad.item()) and np.isnan(ty.grad.item())
    x, y = (cr.tensor(v, dtype=F64, requires_grad=True) for v in ([-2.0], [2.0]))
    err = _raises(lambda: cr.sum(cr.power(x, y)).backward())
    assert (err.op, err.argnum) == ("power", 1)


def test_a_rule_that_masks_its_own_inf_is_not_blamed():
    # power's rule for y computes log(x) = -inf at x = 0 and masks it with where: the
    # cotangents are finite (torch: d(0**2)/dy = 0), so nothing is reported
    x, y = (cr.tensor(v, dtype=F64, requires_grad=True) for v in ([0.0, 3.0], [2.0, 2.0]))
    with cr.detect_anomaly():
        cr.sum(cr.power(x, y)).backward()
    np.testing.assert_allclose(y.grad.numpy(), [0.0, 9.0 * np.log(3.0)])


def test_a_nan_incoming_gradient_is_not_blamed():
    x = cr.tensor([1.0, 2.0], dtype=F64, requires_grad=True)
    with cr.detect_anomaly():
        (x * 2.0).backward(cr.tensor([np.nan, 1.0], dtype=F64))
    assert np.isnan(x.grad.numpy()[0]) and x.grad.numpy()[1] == 2.0


def test_transforms_are_checked_grad_jvp_vmap():
    x = cr.tensor([1.0, 0.0], dtype=F64)
    err = _raises(lambda: cr.grad(lambda v: cr.sum(cr.sqrt(v)))(x))
    assert (err.op, err.phase) == ("sqrt", "backward")
    err = _raises(lambda: cr.jvp(cr.sqrt, (x,), (cr.ones_like(x),)))
    assert (err.op, err.phase) == ("sqrt", "jvp")
    err = _raises(lambda: cr.vmap(cr.log)(x))
    assert (err.op, err.phase) == ("log", "forward")


def test_the_torch_backend_raw_arrays_of_a_plain_backward():
    pytest.importorskip("torch", reason="the torch backend needs torch")
    with cr.use_backend("torch"):
        x = cr.tensor([4.0, 0.0], dtype=F64, requires_grad=True)
        err = _raises(lambda: cr.sum(cr.sqrt(x)).backward())
        assert (err.op, err.argnum, x.backend) == ("sqrt", 0, "torch")
        assert "float64[2]: min 0, max 4, mean 2" in str(err)


# ----------------------------------------------------------- scope: nothing else changes

def test_outside_the_block_nothing_is_checked_or_recorded():
    x = cr.tensor([4.0, 1.0], dtype=F64, requires_grad=True)
    with cr.detect_anomaly():
        inside = cr.sum(cr.sqrt(x) * cr.exp(x))
        inside.backward()
    g_inside = x.grad.numpy().copy()
    x.grad = None
    assert autodiff.interceptors == []       # bind is back to its one truth test
    sites = len(_mode._sites)
    outside = cr.sum(cr.sqrt(x) * cr.exp(x))
    outside.backward()
    assert len(_mode._sites) == sites        # nothing recorded
    assert float(outside) == float(inside) and np.array_equal(x.grad.numpy(), g_inside)
    assert np.isneginf(cr.log(cr.tensor([0.0])).numpy()[0])   # no error outside


def test_a_backward_after_the_block_is_not_checked_as_in_torch():
    x = cr.tensor([0.0], dtype=F64, requires_grad=True)
    with cr.detect_anomaly():
        y = cr.sum(cr.sqrt(x))
    y.backward()                             # documented: run backward inside the block
    assert np.isposinf(x.grad.numpy()[0])


def test_nested_blocks():
    zero = cr.tensor([0.0])
    with cr.detect_anomaly():
        with cr.detect_anomaly():
            with pytest.raises(AnomalyError):
                cr.log(zero)
        with pytest.raises(AnomalyError):     # still on after the inner block
            cr.log(zero)
    assert autodiff.interceptors == []
    cr.log(zero)


def test_another_thread_is_not_affected():
    zero = cr.tensor([0.0])
    entered, done = threading.Event(), threading.Event()
    seen = {}

    def other():
        entered.wait(10)
        seen["other"] = cr.log(zero).numpy()[0]   # main is in anomaly mode meanwhile
        done.set()

    thread = threading.Thread(target=other)
    thread.start()
    with cr.detect_anomaly():
        entered.set()
        done.wait(10)
        with pytest.raises(AnomalyError):
            cr.log(zero)
    thread.join()
    assert np.isneginf(seen["other"])

    in_block, go = threading.Event(), threading.Event()

    def inside():                                 # and the other way round
        with cr.detect_anomaly():
            in_block.set()
            go.wait(10)
            try:
                cr.log(zero)
            except AnomalyError as exc:
                seen["raised"] = exc.op
    thread = threading.Thread(target=inside)
    thread.start()
    in_block.wait(10)
    assert np.isneginf(cr.log(zero).numpy()[0])   # the other thread is in anomaly mode now
    go.set()
    thread.join()
    assert seen["raised"] == "log"
