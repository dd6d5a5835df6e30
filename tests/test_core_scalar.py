"""Tier 1: the core over a pure-Python scalar backend, with NumPy never imported.

The script below runs in a fresh interpreter (so nothing the test session already
imported counts): it registers ``tests/scalar_backend.py`` at run time, runs graphs
in eager mode and through the transforms, compares with derivatives worked out by
hand, runs cr.gradcheck, and finally asserts that ``numpy`` is not in sys.modules.
"""
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(r'''
    import math, sys
    import chainrule as cr
    import chainrule.plugins
    import scalar_backend

    chainrule.plugins.register(scalar_backend, name="scalar")
    F = "float64"
    close = lambda a, b: abs(float(a) - b) <= 1e-12 * max(1.0, abs(b))

    with cr.use_backend("scalar"):
        cr.random.seed(0)
        # the lesson's graph: L = (a*b + c)^2 at 2, 3, 4 -> 100; grads 60, 40, 20
        a, b, c = (cr.tensor(v, dtype=F, requires_grad=True) for v in (2.0, 3.0, 4.0))
        L = (a * b + c) ** 2
        assert L.backend == "scalar" and type(L.data).__name__ == "Scalar"
        L.backward()
        assert float(L) == 100.0
        assert (float(a.grad), float(b.grad), float(c.grad)) == (60.0, 40.0, 20.0)

        # the sigmoid neuron by hand, with exp: n3 = 1/(1+e^-(wx+b)), L = (n3 - y)^2
        w0, x0, b0, y0 = 0.5, 2.0, 0.1, 1.0
        n3 = 1 / (1 + math.exp(-(w0 * x0 + b0)))
        d = 2 * (n3 - y0) * n3 * (1 - n3)
        w, bb = cr.tensor(w0, dtype=F, requires_grad=True), cr.tensor(b0, dtype=F, requires_grad=True)
        loss = (1 / (1 + cr.exp(-(w * x0 + bb))) - y0) ** 2
        loss.backward()
        assert close(loss, (n3 - y0) ** 2) and close(w.grad, d * x0) and close(bb.grad, d)
        # and the registered sigmoid op agrees
        w.grad = bb.grad = None
        ((cr.nn.sigmoid(w * x0 + bb) - y0) ** 2).backward()
        assert close(w.grad, d * x0) and close(bb.grad, d)

        # transforms: grad of grad of grad of x^4 is 24x; jvp of grad is 12x^2
        x = cr.tensor(1.5, dtype=F)
        f = lambda x: x ** 4
        assert close(cr.grad(f)(x), 4 * 1.5 ** 3)
        assert close(cr.grad(cr.grad(f))(x), 12 * 1.5 ** 2)
        assert close(cr.grad(cr.grad(cr.grad(f)))(x), 24 * 1.5)
        one = cr.tensor(1.0, dtype=F)
        assert close(cr.jvp(cr.grad(f), (x,), (one,))[1], 12 * 1.5 ** 2)
        assert close(cr.grad(lambda x: cr.jvp(f, (x,), (one,))[1])(x), 12 * 1.5 ** 2)
        # d/dx sin(x) * exp(x) = (cos + sin) e^x ; second derivative 2 cos e^x
        g = lambda x: cr.sin(x) * cr.exp(x)
        assert close(cr.grad(g)(x), (math.cos(1.5) + math.sin(1.5)) * math.exp(1.5))
        assert close(cr.grad(cr.grad(g))(x), 2 * math.cos(1.5) * math.exp(1.5))
        # no perturbation confusion: d/dx [x * d/dy (x + y)] = 1
        for x0 in (-2.0, 0.0, 3.0):
            xx = cr.tensor(x0, dtype=F)
            assert float(cr.grad(lambda x: x * cr.grad(lambda y: x + y)(one))(xx)) == 1.0
            assert float(cr.jvp(lambda x: x * cr.jvp(lambda y: x + y, (one,), (one,))[1],
                                (xx,), (one,))[1]) == 1.0

        # backward with create_graph: d2/dx2 x^3 = 6x
        x = cr.tensor(3.0, dtype=F, requires_grad=True)
        (x ** 3).backward(create_graph=True)
        g1 = x.grad
        assert float(g1) == 27.0
        x.grad = None
        g1.backward()
        assert float(x.grad) == 18.0
        # retain_graph: a second backward accumulates
        x.grad = None
        y = cr.tanh(x) * x
        y.backward(retain_graph=True)
        first = float(x.grad)
        assert close(first, math.tanh(3.0) + 3.0 * (1 - math.tanh(3.0) ** 2))
        x.grad = None
        y.backward(retain_graph=True)
        y.backward()
        assert close(x.grad, 2 * first)
        try:
            y.backward()
        except cr.GraphError as e:
            assert "retain_graph=True" in str(e)
        else:
            raise AssertionError("a third backward through a freed graph did not raise")

        # every elementwise op the backend has, checked by cr.gradcheck in both modes, order 2
        pos = cr.tensor(0.7, dtype=F)
        neg = cr.tensor(-0.4, dtype=F)
        for fn, arg in [(cr.exp, neg), (cr.log, pos), (cr.sqrt, pos), (cr.tanh, neg), (cr.sin, pos),
                        (cr.cos, pos), (cr.tan, pos), (cr.log1p, pos), (cr.expm1, neg),
                        (cr.erf, neg), (cr.nn.sigmoid, neg), (cr.abs, neg), (cr.nn.relu, pos),
                        (lambda t: cr.nn.gelu(t) + cr.nn.gelu(t, approximate="tanh"), neg),
                        (lambda t: cr.nn.leaky_relu(t, 0.2), neg),
                        (lambda t: cr.maximum(t, 0.1) * cr.minimum(t, 0.1), pos),
                        (lambda t: cr.where(t > 0, t * t, -t), pos),
                        (lambda t: cr.sum(t * t) + cr.mean(t) + cr.max(t), neg),
                        (lambda t: cr.clip(t, -1.0, 1.0) ** 3, neg)]:
            assert cr.gradcheck(fn, (arg,), order=2) is True
        assert cr.gradcheck(lambda u, v: u * cr.exp(v) / (u + 2.0) - v ** u,
                            (pos, cr.tensor(1.3, dtype=F)), order=2) is True
        # gradcheck catches a wrong rule
        bad = cr.ops.register("scalar_bad_square", lambda t: t * t,
                              vjp=lambda ans, t: lambda g: g * t,
                              jvp=lambda tt, ans, t: tt[0] * t)
        try:
            cr.gradcheck(bad, (pos,))
        except cr.GradcheckError as e:
            assert "argument 0" in str(e)
        else:
            raise AssertionError("gradcheck passed a wrong VJP/JVP")

        # in place under no_grad writes the value (the optimizers' path)
        p = cr.tensor(1.0, dtype=F, requires_grad=True)
        (p * 3.0).backward()
        with cr.no_grad():
            p -= 0.5 * p.grad
        assert float(p) == -0.5 and p.backend == "scalar"

    assert "numpy" not in sys.modules, "the core imported numpy: " + repr(
        sorted(m for m in sys.modules if m.startswith("numpy"))[:5])
    print("SCALAR-TIER-OK")
''')


def test_core_runs_on_a_pure_python_scalar_backend_without_numpy():
    here = os.path.dirname(os.path.abspath(__file__))
    env = {**os.environ, "PYTHONPATH": here + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("CHAINRULE_BACKEND", None)
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SCALAR-TIER-OK" in r.stdout
