"""``cr.distributed``: data-parallel training on torch.distributed, launched with ``torchrun``.

Every process (a *rank*) holds a full copy of the model and trains on its own
shard of each batch; after ``backward()`` the ranks average their gradients,
so every copy takes the same step.  The transport is torch.distributed: gloo
for the NumPy and torch-CPU backends, NCCL for ``torch:cuda`` and CuPy.  torch
is imported here on first use only; ``import chainrule`` stays light.

A training script::

    import chainrule as cr
    import chainrule.distributed as dist

    dist.init()                                   # from torchrun's RANK, WORLD_SIZE, ...
    model = dist.DataParallel(cr.nn.MLP([64, 64, 10]))   # rank 0's parameters everywhere
    opt = cr.optim.create("adam", model.named_parameters(), lr=1e-3)
    sampler = dist.DistributedSampler(len(X), shuffle=True, seed=0)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)                  # a new shuffle, the same on every rank
        for idx in sampler.batches(batch_size):
            opt.zero_grad()
            loss = cr.nn.cross_entropy(model(X[idx]), y[idx])
            loss.backward()
            model.sync_gradients()                # average .grad over the ranks (bucketed)
            opt.step()
        dist.print0(epoch, float(dist.all_reduce(loss)))   # printed once, by rank 0
    dist.save("ckpt.safetensors", model.state_dict())   # rank 0 writes, the others wait

and ``torchrun --standalone --nproc_per_node=2 train.py``.

Why ``sync_gradients()`` is one explicit line where torch's DDP hides it in
``backward()``: chainrule's backward has no per-parameter hooks to start an
all-reduce from, so the wrapper cannot know when the last gradient is ready.
The line sits where DDP's all-reduce finishes (after backward, before the
step); ``no_sync()`` turns it into a no-op for gradient accumulation, as DDP's.

Bucketing: gradients are packed, in parameter order and per dtype, into flat
buffers of about ``bucket_mb`` megabytes, one all-reduce per buffer (a few big
messages beat many small ones).  A NumPy buffer reaches gloo as
``torch.from_numpy(buffer)`` (the same memory), a torch buffer is a torch tensor
already, a CuPy buffer goes to NCCL as ``torch.from_dlpack(buffer)`` (the same
GPU memory).  Every rank must call the same collectives in the same order (the
same model, the same number of steps), as with any torch.distributed program.

Failures: every collective waits at most ``timeout`` seconds (``init``), and
one that fails (a rank died, or never came) raises ``DistributedError`` on the
ranks still alive, naming the collective, instead of hanging.

Optimizer-state sharding (ZeRO stage 1): ``ZeroRedundancyOptimizer`` keeps the
optimizer state of 1/N of the parameters on each rank, updates only those, then
sends each updated parameter from its owner to everyone (as torch's
ZeroRedundancyOptimizer next to DDP: the gradients are still all-reduced whole,
and the parameters' broadcast adds about half an all-reduce's traffic per step).
"""
import contextlib
import datetime
import os

from . import serialization
from .optim import create as _create_optimizer, _named
from .autodiff import bump_version, will_write
from .nn.modules import reset_grads
from .backends import get_backend, set_backend, canonical_name
from .errors import ChainruleError, ArgumentError, BackendError
from .tensor import Tensor, make


class DistributedError(ChainruleError, RuntimeError):
    """A collective failed: another rank exited, raised, or did not arrive within the timeout."""


class _World:
    """This process's place: rank, world size, local rank, transport ("gloo"/"nccl"/None)."""

    def __init__(self, rank=0, world_size=1, local_rank=0, comm=None, timeout=None):
        self.rank, self.world_size, self.local_rank = rank, world_size, local_rank
        self.comm, self.timeout = comm, timeout

    def __repr__(self):
        return (f"World(rank={self.rank}, world_size={self.world_size}, local_rank={self.local_rank}, "
                f"comm={self.comm!r})")


_world = None    # set by init(); None: not initialised (rank 0 of 1 for the helpers)


def _dist():
    try:
        import torch.distributed
    except ImportError:
        raise ImportError("cr.distributed runs on torch.distributed: pip install 'chainrule[torch]' "
                          "(torch's CPU build has gloo; NCCL needs its CUDA build)") from None
    return torch.distributed


# --------------------------------------------------------------------- set-up

_TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def init(backend=None, timeout=300.0, comm=None):
    """Join the process group that ``torchrun`` describes in the environment; returns the world.

    Reads ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``.
    Without them (a plain ``python train.py``) this process is a world of one and
    every collective is a no-op, so one script runs both ways.

    ``backend``: the chainrule backend the model runs on (default: the current one;
    one named here becomes the current one).  NumPy and torch on the CPU talk over
    gloo; ``torch:cuda`` and CuPy over NCCL, and then each rank takes GPU
    ``LOCAL_RANK`` (modulo the GPUs present) and makes it the current chainrule
    backend (``torch:cuda:<i>`` / ``cupy:cuda:<i>``).  ``comm``
    forces ``"gloo"`` or ``"nccl"``.  ``timeout`` (seconds) bounds every wait,
    joining included: a rank that died makes the others raise ``DistributedError``.
    """
    global _world
    if not (isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0):
        raise ArgumentError(f"init: timeout={timeout!r} must be a number of seconds > 0")
    if _world is not None and _world.comm is not None:
        raise DistributedError("init: this process already joined a process group; call "
                               "cr.distributed.destroy() first to join another")
    if backend is not None:
        set_backend(canonical_name(backend))
    missing = [v for v in _TORCHRUN_VARS if v not in os.environ]
    if len(missing) == len(_TORCHRUN_VARS):
        _world = _World(timeout=timeout)
        return _world
    if missing:
        raise DistributedError(f"init: the environment sets some of torchrun's variables but not "
                               f"{', '.join(missing)}; launch with torchrun (it sets them all) or "
                               f"set {', '.join(_TORCHRUN_VARS)} yourself")
    rank, world_size = _env_int("RANK"), _env_int("WORLD_SIZE")
    local_rank = _env_int("LOCAL_RANK", rank)
    name = get_backend().name
    comm = comm or _transport(name)
    if comm not in ("gloo", "nccl"):
        raise ArgumentError(f"init: comm={comm!r}; use 'gloo' (CPU) or 'nccl' (CUDA)")
    dist = _dist()
    if comm == "nccl":
        _take_local_gpu(name, local_rank)
    try:
        dist.init_process_group(comm, rank=rank, world_size=world_size,
                                timeout=datetime.timedelta(seconds=timeout))
    except Exception as exc:
        raise DistributedError(f"rank {rank}: joining the {world_size}-process group at "
                               f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']} failed "
                               f"within {timeout:g} s ({type(exc).__name__}: {exc}); did every rank "
                               "start, and is the address reachable from all of them?") from exc
    _world = _World(rank, world_size, local_rank, comm, timeout)
    return _world


def _env_int(var, default=None):
    value = os.environ.get(var)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise DistributedError(f"init: {var}={value!r} is not an integer; torchrun sets it") from None


def _transport(name):
    """gloo for arrays in host memory, NCCL for CUDA arrays."""
    base, _, device = name.partition(":")
    if base == "numpy" or (base == "torch" and not device):
        return "gloo"
    if base == "cupy" or (base == "torch" and device.startswith("cuda")):
        return "nccl"
    raise BackendError(f"cr.distributed supports the numpy, torch and cupy backends, not {name!r}; "
                       "pass comm='gloo' if its arrays live in host memory and convert to NumPy")


def _take_local_gpu(name, local_rank):
    """Pin this rank to GPU local_rank (mod the GPUs present) for torch and chainrule alike."""
    import torch
    count = torch.cuda.device_count()
    if count == 0:
        raise BackendError(f"init: backend {name!r} needs NCCL and a CUDA device, but torch sees "
                           "none; use the numpy or torch (CPU) backend over gloo")
    index = local_rank % count
    torch.cuda.set_device(index)
    base = name.partition(":")[0]
    if base == "cupy":
        import cupy
        cupy.cuda.Device(index).use()
    set_backend(canonical_name(f"{base}:cuda:{index}"))


def destroy():
    """Leave the process group (at the end of training; ``init`` may be called again)."""
    global _world
    if _world is not None and _world.comm is not None and _dist().is_initialized():
        _dist().destroy_process_group()
    _world = None


def is_initialized():
    """Has ``init`` been called (a world of one counts)?"""
    return _world is not None


def _current():
    return _world if _world is not None else _World()


def rank():
    """This process's rank, 0 ... world_size - 1 (0 before ``init``)."""
    return _current().rank


def world_size():
    """How many processes train together (1 before ``init``)."""
    return _current().world_size


def local_rank():
    """This process's index on its machine (torchrun's LOCAL_RANK; picks the GPU)."""
    return _current().local_rank


def is_main():
    """True on rank 0, the rank that prints and writes checkpoints."""
    return rank() == 0


def print0(*args, **kwargs):
    """``print`` on rank 0 only (flushed, so torchrun's interleaved output stays readable)."""
    if is_main():
        kwargs.setdefault("flush", True)
        print(*args, **kwargs)


def _distributed():
    """Is there anyone to talk to?  Under torchrun without init() that is an error, not a
    silent world of one (each rank would train alone)."""
    if _world is None and os.environ.get("WORLD_SIZE", "1") not in ("", "1"):
        raise DistributedError(f"this process is one of WORLD_SIZE={os.environ['WORLD_SIZE']} "
                               "ranks but has not joined them: call cr.distributed.init() first")
    return _world is not None and _world.comm is not None and _world.world_size > 1


@contextlib.contextmanager
def _collective(what):
    """Turn torch.distributed's failures (a peer gone, a timeout) into one clear error."""
    try:
        yield
    except RuntimeError as exc:      # torch's DistBackendError and gloo/NCCL failures are these
        w = _current()
        raise DistributedError(
            f"rank {w.rank} of {w.world_size}: {what} failed ({type(exc).__name__}: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else 'no message'}); another rank "
            f"probably raised or exited, or did not arrive within {w.timeout:g} s: look for the first "
            "error in the other ranks' output") from exc


def barrier():
    """Wait until every rank gets here (at most the timeout)."""
    if _distributed():
        with _collective("barrier"):
            _all_reduce_flags([0.0])


# --------------------------------------------------------------- buffers

def _as_torch(buffer, backend):
    """The torch tensor that *is* ``buffer`` (no copy): NumPy via from_numpy, CuPy via DLPack."""
    family = backend.spec.name
    if family == "torch":
        return buffer
    import torch
    if family == "numpy":
        return torch.from_numpy(buffer)
    if family == "cupy":
        import cupy
        cupy.cuda.get_current_stream().synchronize()   # CuPy's writes done before NCCL reads
        return torch.from_dlpack(buffer)
    raise BackendError(f"cr.distributed cannot hand {backend.name!r} arrays to torch.distributed; "
                       "use the numpy, torch or cupy backend")


def _after_collective(backend):
    if backend.spec.name == "cupy":      # NCCL ran on torch's stream; CuPy reads next
        import torch
        torch.cuda.current_stream().synchronize()


def _wire_dtype(backend, dtype):
    """The dtype a bucket travels in: the arrays' own, except NumPy's bfloat16 (ml_dtypes),
    which torch.from_numpy cannot wrap: it travels as float32."""
    if backend.spec.name == "numpy" and str(dtype) == "bfloat16":
        return "float32"
    return dtype


def _buckets(arrays, bucket_mb):
    """Group the raw arrays into lists of one backend and dtype, about bucket_mb each, in order."""
    limit = max(1, int(bucket_mb * 2 ** 20))
    open_, done = {}, []
    for raw, backend in arrays:
        key = (backend.name, str(backend.dtype(raw)))
        bucket = open_.setdefault(key, [[], 0, backend])
        bucket[0].append(raw)
        bucket[1] += raw.nbytes if hasattr(raw, "nbytes") else 0
        if bucket[1] >= limit:
            done.append((bucket[0], bucket[2]))
            del open_[key]
    done.extend((b[0], b[2]) for b in open_.values())
    return done


def _size(backend, raw):
    n = 1
    for d in backend.shape(raw):
        n *= d
    return n


def _flat(raws, backend):
    """One contiguous buffer holding every array of the bucket, end to end."""
    dtype = _wire_dtype(backend, backend.dtype(raws[0]))
    flat = backend.zeros((sum(_size(backend, r) for r in raws),), dtype)
    at = 0
    for r in raws:
        n = _size(backend, r)
        flat[at:at + n] = backend.reshape(r, (n,))     # slice assignment casts if needed
        at += n
    return flat


def _unflatten_into(flat, raws, backend):
    """Write the buffer's pieces back into the arrays, in place (their identity is kept)."""
    at = 0
    for r in raws:
        n = _size(backend, r)
        r[...] = backend.reshape(flat[at:at + n], tuple(backend.shape(r)))
        at += n


def _reduce_buckets(arrays, bucket_mb, what, average=True):
    dist, world = _dist(), _current().world_size
    for raws, backend in _buckets(arrays, bucket_mb):
        flat = _flat(raws, backend)
        wire = _as_torch(flat, backend)
        if average:       # gloo has no AVG; divide first, as DDP does, so that the sum of the
            wire /= world  # ranks' values cannot overflow (float16 max 65504); in place, in flat
        with _collective(what):
            dist.all_reduce(wire)
        _after_collective(backend)
        _unflatten_into(flat, raws, backend)


def _broadcast_buckets(arrays, src, bucket_mb, what):
    dist = _dist()
    for raws, backend in _buckets(arrays, bucket_mb):
        flat = _flat(raws, backend)
        with _collective(what):
            dist.broadcast(_as_torch(flat, backend), src=src)
        _after_collective(backend)
        _unflatten_into(flat, raws, backend)


def _all_reduce_flags(values, op=None):
    """Sum (or ``op``) a few Python floats over the ranks (on the transport's device)."""
    import torch
    device = f"cuda:{torch.cuda.current_device()}" if _current().comm == "nccl" else "cpu"
    t = torch.tensor(values, dtype=torch.float64, device=device)
    if op is None:
        _dist().all_reduce(t)
    else:
        _dist().all_reduce(t, op=op)
    return t.tolist()


def _check_layout(params, what):
    """Raise on every rank unless every rank holds parameters of the same count, shapes and
    dtypes (as DDP checks at construction): the buckets of mismatched ranks would abort
    gloo, or, when their byte counts happen to agree, mix unrelated values silently."""
    import zlib
    layout = [(tuple(p.shape), str(p.dtype)) for p in params]
    digest = float(zlib.crc32(repr(layout).encode()))    # exact in a float64
    with _collective(f"{what} (comparing the ranks' parameter layouts)"):
        top, neg_low = _all_reduce_flags([digest, -digest], op=_dist().ReduceOp.MAX)
    if top != digest or -neg_low != digest:
        raise DistributedError(f"rank {rank()} of {world_size()}: {what}: the ranks hold different "
                               f"parameters (this rank: {len(layout)} of shapes and dtypes "
                               f"{layout[:4]}{' ...' if len(layout) > 4 else ''}); every rank must "
                               "build the same model, in the same order (nothing was sent)")


# ------------------------------------------------------------ collectives

def _params_of(params):
    """Tensors from a module, tensors, or (name, tensor) pairs."""
    if hasattr(params, "parameters") and callable(params.parameters):
        params = params.parameters()
    if isinstance(params, Tensor):
        params = [params]
    out = []
    for item in params:
        p = item[1] if type(item) is tuple and len(item) == 2 else item
        if not isinstance(p, Tensor):
            raise ArgumentError(f"cr.distributed expects chainrule Tensors (model.parameters()), got "
                                f"a {type(p).__name__}")
        out.append(p)
    return out


def broadcast_parameters(params, src=0, bucket_mb=25.0):
    """Overwrite every rank's parameters with rank ``src``'s, in place (a common start)."""
    params = _params_of(params)
    if not _distributed():
        return
    _check_layout(params, f"broadcasting the parameters from rank {src}")
    for p in params:
        will_write(p)
    _broadcast_buckets([(p._data, p._backend) for p in params], src, bucket_mb,
                       f"broadcasting the parameters from rank {src}")
    for p in params:
        bump_version(p)


def sync_gradients(params, bucket_mb=25.0):
    """Average every parameter's ``.grad`` over the ranks, in place, one all-reduce per bucket.

    A parameter without a ``.grad`` on this rank takes part with zeros (the ranks must
    send buckets of one layout) and gets the average; one that no rank has a gradient
    for keeps ``.grad = None``, as with torch's DDP, so the optimizer leaves it alone.
    Which is which travels in the last bucket (a flag per parameter), not in a
    collective of its own.
    """
    params = _params_of(params)
    if not params or not _distributed():
        return
    for p in params:
        if p.grad is not None and (not isinstance(p.grad, Tensor) or p.grad.shape != p.shape):
            raise ArgumentError(f"sync_gradients: a parameter of shape {p.shape} has a .grad "
                                f"{getattr(p.grad, 'shape', type(p.grad).__name__)}; gradients must "
                                "have their parameter's shape (nothing was sent)")
    missing = [i for i, p in enumerate(params) if p.grad is None]
    for i in missing:
        b = params[i]._backend
        params[i].grad = make(b.zeros(tuple(b.shape(params[i]._data)), b.dtype(params[i]._data)), b)
    last = params[-1].grad
    has_grad = last._backend.ones((len(params),), last._backend.dtype(last._data))
    for i in missing:
        has_grad[i] = 0
    _reduce_buckets([(p.grad._data, p.grad._backend) for p in params] + [(has_grad, last._backend)],
                    bucket_mb, "the gradient all-reduce")
    for i in missing:
        if float(has_grad[i]) == 0.0:     # no rank had one
            params[i].grad = None


def all_reduce(x, op="mean"):
    """A new tensor: ``x`` summed (``op="sum"``) or averaged (``"mean"``) over the ranks.

    For logging (the loss of the whole batch); not recorded for backward.
    """
    if op not in ("mean", "sum"):
        raise ArgumentError(f"all_reduce: op={op!r}; use 'mean' or 'sum'")
    if not isinstance(x, Tensor):
        raise ArgumentError(f"all_reduce expects a chainrule Tensor, got {type(x).__name__}")
    if op == "mean" and not x.dtype.is_floating:
        raise ArgumentError(f"all_reduce: op='mean' of a {x.dtype} tensor has no {x.dtype} result; "
                            "use op='sum', or convert it to a float dtype first")
    b = x._backend
    out = b.copy(x._data)
    if _distributed():
        _reduce_buckets([(out, b)], 25.0, "all_reduce", average=(op == "mean"))
    return make(out, b)


def save(path, state):
    """``cr.save`` from rank 0 while the others wait; every rank returns once it is written.

    A failed write raises on every rank (rank 0 its own error, the others a
    DistributedError saying so), so no rank trains on believing it was saved.
    """
    failure = None
    if is_main():
        try:
            serialization.save(path, state)
        except Exception as exc:   # re-raised below, after the others have heard of it
            failure = exc
    if _distributed():
        with _collective(f"waiting for rank 0 to write {path!r}"):
            (failed,) = _all_reduce_flags([1.0 if failure is not None else 0.0])
        if failed and failure is None:
            raise DistributedError(f"rank {rank()}: rank 0 failed to write the checkpoint {path!r}; "
                                   "its error is in rank 0's output")
    if failure is not None:
        raise failure


# ------------------------------------------------------------ the wrapper

class DataParallel:
    """A model replicated on every rank: torch's ``DistributedDataParallel`` for chainrule.

    ``DataParallel(module)`` copies rank 0's parameters to every rank (so every
    replica starts equal); calling it calls the module.  After ``backward()``,
    ``sync_gradients()`` averages the gradients over the ranks, in buckets of
    about ``bucket_mb`` MB; then any optimizer steps every replica the same way.
    Inside ``with model.no_sync():`` it does nothing, so gradients of several
    micro-batches accumulate locally and are averaged once (DDP's ``no_sync``).

    Everything else (``parameters()``, ``named_parameters()``, ``state_dict()``,
    ``train()``...) is the wrapped module's, without a ``module.`` prefix, so
    checkpoints load into the plain model.
    """

    def __init__(self, module, bucket_mb=25.0, broadcast=True):
        if not (hasattr(module, "parameters") and callable(module)):
            raise ArgumentError(f"DataParallel wraps a chainrule Module, got {type(module).__name__}")
        if not (isinstance(bucket_mb, (int, float)) and bucket_mb > 0):
            raise ArgumentError(f"DataParallel: bucket_mb={bucket_mb!r} must be a number of MB > 0")
        self.module, self.bucket_mb = module, float(bucket_mb)
        self._sync_off = 0
        if broadcast:
            broadcast_parameters(module.parameters(), src=0, bucket_mb=self.bucket_mb)
        elif _distributed():
            _check_layout(_params_of(module.parameters()), "DataParallel")

    def __call__(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def __getattr__(self, name):    # parameters(), state_dict(), train()...: the module's
        if name == "module":
            raise AttributeError(name)
        return getattr(self.module, name)

    def sync_gradients(self):
        """Average ``.grad`` over the ranks (a no-op inside ``no_sync()``)."""
        if not self._sync_off:
            sync_gradients(self.module.parameters(), bucket_mb=self.bucket_mb)

    @contextlib.contextmanager
    def no_sync(self):
        """Accumulate gradients locally: ``sync_gradients()`` does nothing inside."""
        self._sync_off += 1
        try:
            yield self
        finally:
            self._sync_off -= 1

    def __repr__(self):
        return f"DataParallel({self.module!r}, world_size={world_size()})"


# --------------------------------------------------------------- sampling

class DistributedSampler:
    """This rank's share of the indices ``0 .. n-1``, as torch's ``DistributedSampler``.

    Every rank draws the same permutation (``seed + epoch``; call ``set_epoch``
    each epoch for a new one) and takes every ``world_size``-th index from its
    rank on.  Unless ``drop_last``, the list is padded with its first indices to
    a multiple of the world size, so every rank gets ``ceil(n / world)`` indices;
    with ``drop_last`` the tail is dropped (``floor``) instead.  The permutation is
    NumPy's (``default_rng(seed + epoch)``), so it is not torch's order.

    >>> from chainrule.distributed import DistributedSampler
    >>> [list(DistributedSampler(5, shuffle=False, rank=r, world_size=2)) for r in (0, 1)]
    [[0, 2, 4], [1, 3, 0]]
    """

    def __init__(self, n, shuffle=True, seed=0, drop_last=False, rank=None, world_size=None):
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ArgumentError(f"DistributedSampler: n={n!r} must be the dataset's length, an int >= 0")
        if rank is None or world_size is None:
            _distributed()           # under torchrun without init(): an error, not the whole set
        w = _current()
        self.rank = w.rank if rank is None else rank
        self.world_size = w.world_size if world_size is None else world_size
        if not (isinstance(self.world_size, int) and self.world_size >= 1
                and isinstance(self.rank, int) and 0 <= self.rank < self.world_size):
            raise ArgumentError(f"DistributedSampler: rank={self.rank!r} must be in "
                                f"[0, world_size={self.world_size!r})")
        self.n, self.shuffle, self.seed, self.drop_last = n, shuffle, seed, drop_last
        self.epoch = 0
        if drop_last:
            self.num_samples = n // self.world_size
        else:
            self.num_samples = -(-n // self.world_size)

    def set_epoch(self, epoch):
        """Shuffle differently in this epoch (the same way on every rank)."""
        self.epoch = int(epoch)

    def indices(self):
        """This rank's indices for the current epoch, a NumPy int64 array."""
        import numpy as np
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(self.n)
        else:
            order = np.arange(self.n)
        total = self.num_samples * self.world_size
        if total > self.n:        # pad with the first indices (again, if n is tiny)
            order = np.resize(order, total) if self.n else order
        return order[:total][self.rank::self.world_size].astype(np.int64)

    def batches(self, batch_size, drop_last=False):
        """This rank's indices cut into batches of ``batch_size`` (the last may be short)."""
        idx = self.indices()
        stop = len(idx) - len(idx) % batch_size if drop_last else len(idx)
        return [idx[i:i + batch_size] for i in range(0, stop, batch_size)]

    def __iter__(self):
        return iter(self.indices().tolist())

    def __len__(self):
        return self.num_samples


# ------------------------------------------------ ZeRO stage 1 optimizer

def optimizer_state_bytes(optimizer):
    """Bytes of arrays in an optimizer's state on this rank (step counts not included)."""
    if isinstance(optimizer, ZeroRedundancyOptimizer):
        optimizer = optimizer.local_optimizer
        if optimizer is None:
            return 0
    total = 0
    for state in optimizer.state.values():
        for value in state.values():
            total += int(getattr(value, "nbytes", 0) or 0) if not isinstance(value, (int, float)) else 0
    return total


def _partition(sizes, world):
    """Owner rank of each parameter: biggest first, each to the least loaded rank."""
    load, owner = [0] * world, [0] * len(sizes)
    for i in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
        r = min(range(world), key=lambda r: (load[r], r))
        owner[i] = r
        load[r] += sizes[i]
    return owner


class ZeroRedundancyOptimizer:
    """ZeRO stage 1: each rank keeps and updates the optimizer state of 1/N of the parameters.

    ``ZeroRedundancyOptimizer(params, "adam", lr=1e-3)`` takes the arguments of
    ``cr.optim.create`` (params first, as torch's ZeroRedundancyOptimizer).  The
    parameters are split among the ranks by size; ``step()`` runs the algorithm
    on this rank's share only (so Adam's two moments exist once in the whole
    world instead of on every rank), then every parameter is broadcast from its
    owner (an all-gather), so all replicas stay equal.  Gradients must already be
    averaged (``DataParallel.sync_gradients()``).  ``state_dict()`` is this rank's
    share of the state.
    """

    def __init__(self, params, optimizer="adam", bucket_mb=25.0, **hparams):
        named = _named(_params_of(params) if hasattr(params, "parameters") else list(params), 0)
        if not named:
            raise ArgumentError("ZeroRedundancyOptimizer got an empty parameter list; pass "
                                "model.named_parameters()")
        self.bucket_mb = float(bucket_mb)
        w = _current()
        sizes = [p.size * p.dtype.itemsize for _, p in named]
        self.owner = _partition(sizes, w.world_size)
        self.params = [p for _, p in named]
        mine = [(n, p) for (n, p), r in zip(named, self.owner) if r == w.rank]
        self.local_optimizer = _create_optimizer(optimizer, mine, **hparams) if mine else None
        # validate the hyperparameters on ranks that own nothing, too
        if self.local_optimizer is None:
            _create_optimizer(optimizer, named[:1], **hparams)

    def zero_grad(self, set_to_none=True):
        """Every parameter's gradient (not only this rank's share), as the module's."""
        reset_grads(self.params, set_to_none)

    def step(self):
        """Update this rank's share, then send every parameter from its owner to all ranks."""
        if self.local_optimizer is not None:
            self.local_optimizer.step()
        if not _distributed():
            return
        for p in self.params:
            will_write(p)
        for r in range(world_size()):
            owned = [(p._data, p._backend) for p, o in zip(self.params, self.owner) if o == r]
            if owned:
                _broadcast_buckets(owned, r, self.bucket_mb, f"sending rank {r}'s updated parameters")
        for p in self.params:
            bump_version(p)

    def state_dict(self):
        """This rank's share of the optimizer state (``cr.optim`` format), or {} if none."""
        return {} if self.local_optimizer is None else self.local_optimizer.state_dict()

    def load_state_dict(self, state_dict):
        """Load the share that ``state_dict()`` returned on this same rank."""
        if self.local_optimizer is not None:
            self.local_optimizer.load_state_dict(state_dict)
        return self

    def __repr__(self):
        n = sum(1 for o in self.owner if o == rank())
        return f"ZeroRedundancyOptimizer({n} of {len(self.owner)} parameters on rank {rank()})"


__all__ = ["DataParallel", "DistributedError", "DistributedSampler", "ZeroRedundancyOptimizer",
           "all_reduce", "barrier", "broadcast_parameters", "destroy", "init", "is_initialized",
           "is_main", "local_rank", "optimizer_state_bytes", "print0", "rank", "save",
           "sync_gradients", "world_size"]
