"""The backend tier: run a test on every backend that can run here.

    from backend_fixtures import backend          # noqa: F401  (a pytest fixture)

    def test_add(backend):
        x = cr.tensor([1.0, 2.0], backend=backend)
        ...

``backend`` is parametrized over numpy, torch (CPU), and torch:cuda / cupy when
this machine has a GPU; one that cannot run is skipped with the reason printed.
Inside the test ``cr.get_backend()`` is that backend too.
"""
import pytest

import chainrule as cr

TIER = ["numpy", "torch", "torch:cuda", "cupy"]


def unavailable(name):
    """Why backend ``name`` cannot run here, or None."""
    from chainrule.backends import _specs, canonical_name
    cname = canonical_name(name)
    base, _, device = cname.partition(":")
    return _specs()[base].unavailable(device or None)


@pytest.fixture(params=TIER)
def backend(request):
    reason = unavailable(request.param)
    if reason:
        pytest.skip(f"backend {request.param!r} cannot run here: {reason}")
    with cr.use_backend(request.param):
        yield request.param
