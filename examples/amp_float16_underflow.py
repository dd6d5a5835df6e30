"""float16 gradients underflow to zero; a GradScaler keeps them.

The vanishing-gradient table: a gradient flowing back through L sigmoid layers is
multiplied by sigmoid'(0) = 0.25 (the most a sigmoid passes) per layer,

    L= 1: 2.50e-01   L= 5: 9.77e-04   L=10: 9.54e-07   L=20: 9.09e-13

and the float formats: float16 has 5 exponent bits, so its smallest positive number
is 2^-24 = 5.96e-08 (a subnormal); bfloat16 keeps float32's 8 exponent bits and its
range.  So in float16 the L=10 gradient survives (as a subnormal) and the L=20 one
becomes 0, unless the loss is scaled up by 2^16 before backward (GradScaler's
initial scale) and the gradient scaled back down in float32.

The model: a float16 first layer (a matmul under ``cr.amp.autocast("float16")``, its
float32 master weight w = 1) under L sigmoid layers that run in float32 (an
``autocast(enabled=False)`` region, as torch's docs advise for sensitive parts) with
every pre-activation at 0.  The gradient reaching the float16 layer is exactly
0.25^L, so w's gradient is the table's number, or what float16 makes of it.

Run: python examples/amp_float16_underflow.py   (CHAINRULE_BACKEND=torch for torch)
"""
import argparse

import chainrule as cr

DEPTHS = (1, 2, 5, 10, 20)


def first_layer_gradient(depth, dtype=None, scaler=False):
    """w's gradient in one training step (unscaled by the scaler, float32)."""
    w = cr.ones((1, 1), requires_grad=True)          # the float32 master weight
    opt = cr.optim.create("sgd", [w], lr=1.0)
    grad_scaler = cr.amp.GradScaler(enabled=scaler)  # initial scale 2^16
    with cr.amp.autocast(dtype or "float16", enabled=dtype is not None):
        h = cr.ones((1, 1)) @ w                        # float16 (or bfloat16) under autocast
        with cr.amp.autocast(enabled=False):
            h = h.astype("float32")
            for _ in range(depth):
                h = cr.nn.sigmoid(h - float(h))        # pre-activation 0: sigmoid' = 0.25
        loss = h.sum()
    grad_scaler.scale(loss).backward()
    grad_scaler.unscale_(opt)                          # w.grad is now the true gradient
    grad = float(w.grad[0, 0])
    grad_scaler.step(opt)                              # skipped only if a gradient were inf/NaN
    grad_scaler.update()
    return grad


def main(argv=None):
    """Print the table; return {depth: {column: gradient}}.  It runs in a second, so --quick
    (every example takes it) changes nothing; --backend picks the backend."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="accepted; the example is quick")
    parser.add_argument("--out", help="accepted; the example writes no files")
    parser.add_argument("--backend", help="a backend name (default: CHAINRULE_BACKEND or numpy)")
    backend = parser.parse_args(argv).backend
    columns = {"float32": dict(), "float16": dict(dtype="float16"),
               "float16 + GradScaler": dict(dtype="float16", scaler=True),
               "bfloat16": dict(dtype="bfloat16")}
    results = {}
    with cr.use_backend(backend or cr.get_backend().name):
        print(f"gradient of the first layer's weight after L sigmoid layers "
              f"(backend {cr.get_backend().name})")
        print(f"{'L':>3} {'exact 0.25^L':>14}" + "".join(f"{c:>22}" for c in columns))
        for depth in DEPTHS:
            row = {name: first_layer_gradient(depth, **kw) for name, kw in columns.items()}
            results[depth] = row
            print(f"{depth:>3} {0.25 ** depth:>14.2e}" + "".join(f"{v:>22.2e}" for v in row.values()))
    lost = [d for d in DEPTHS if results[d]["float16"] == 0.0]
    print(f"float16 without a scaler loses the gradient at L = {lost} (below 2^-24 = 5.96e-08); "
          "with GradScaler(init_scale=2^16) every gradient is the float32 one")
    return results


if __name__ == "__main__":
    main()
