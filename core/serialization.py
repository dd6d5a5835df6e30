"""``cr.save`` / ``cr.load``: checkpoints as safetensors plus JSON metadata, never pickle.

A checkpoint is a (possibly nested) dict whose leaves are tensors or plain JSON
values: a module's ``state_dict()``, an optimizer's ``state_dict()``, a step
count.  Tensors go into the safetensors file (as NumPy arrays); the nesting and
every other value go into its metadata as JSON, with each tensor's dtype and
backend.  The file is written to a temporary file in the same folder and moved
into place with ``os.replace``, so a failed or interrupted save leaves the old
checkpoint intact.  Needs the optional ``safetensors`` package (``pip install
chainrule[io]``).

>>> import chainrule as cr, os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "ckpt.safetensors")
>>> cr.save(path, {"w": cr.ones((2,)), "step": 3})
>>> d = cr.load(path); d["step"], d["w"].tolist()
(3, [1.0, 1.0])
"""
import json
import os
import tempfile

from .tensor import Tensor
from .creation import tensor

_KEY = "chainrule"
_FORMAT = 1


def _safetensors():
    try:
        import safetensors.numpy
    except ImportError:
        raise ImportError("cr.save / cr.load need the safetensors package: pip install "
                          "'chainrule[io]' (or pip install safetensors)") from None
    return safetensors.numpy


def _flatten(value, where, arrays):
    """The JSON skeleton of ``value``; tensors are replaced by {"__tensor__": key} and collected."""
    import numpy as np
    if isinstance(value, (Tensor, np.ndarray)):
        t = value if isinstance(value, Tensor) else None
        arr = np.ascontiguousarray(value.numpy() if t is not None else value)
        dtype = str(t.dtype) if t is not None else arr.dtype.name
        if dtype == "bfloat16":            # stored bit for bit
            arr = arr.view(np.uint16)
        key = f"t{len(arrays)}"
        arrays[key] = arr
        return {"__tensor__": key, "dtype": dtype, "backend": t.backend if t is not None else "numpy"}
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"cr.save: key {k!r} at {where or 'the top level'} is not a string; "
                                "checkpoint dicts need string keys (JSON)")
            out[k] = _flatten(v, f"{where}/{k}", arrays)
        if "__tensor__" in out:
            raise TypeError(f"cr.save: the key '__tensor__' at {where} is reserved")
        return out
    if isinstance(value, (list, tuple)):
        return [_flatten(v, f"{where}/{i}", arrays) for i, v in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cr.save: {where or 'the state'} holds a {type(value).__name__}; a checkpoint "
                    "holds tensors, NumPy arrays, dicts, lists and JSON values (no pickling)")


def save(path, state):
    """Write ``state`` (a dict) to ``path`` atomically (temp file + os.replace)."""
    st = _safetensors()
    if not isinstance(state, dict):
        raise TypeError(f"cr.save expects a dict (e.g. a state_dict()), got {type(state).__name__}")
    arrays = {}
    skeleton = _flatten(state, "", arrays)
    meta = {_KEY: json.dumps({"format": _FORMAT, "state": skeleton})}
    data = st.save(arrays, metadata=meta)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".safetensors", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _rebuild(value, arrays, backend):
    if isinstance(value, dict):
        if "__tensor__" in value:
            arr = arrays[value["__tensor__"]]
            if value["dtype"] == "bfloat16":
                import ml_dtypes
                arr = arr.view(ml_dtypes.bfloat16)
            target = backend or value.get("backend", "numpy")
            try:
                return tensor(arr, backend=target)
            except Exception:       # the saving backend is not usable here: fall back to NumPy
                if backend is not None:
                    raise
                return tensor(arr, backend="numpy")
        return {k: _rebuild(v, arrays, backend) for k, v in value.items()}
    if isinstance(value, list):
        return [_rebuild(v, arrays, backend) for v in value]
    return value


def load(path, backend=None):
    """Read a checkpoint written by ``cr.save``; tensors come back on the backend they were
    saved from (or ``backend``, or NumPy when that one is not available here)."""
    st = _safetensors()
    with open(path, "rb") as f:
        data = f.read()
    try:
        arrays = st.load(data)
        meta = _metadata(data)
    except Exception as exc:
        raise ValueError(f"cr.load: {path!r} is not a readable safetensors checkpoint ({exc})") from None
    if _KEY not in meta:
        raise ValueError(f"cr.load: {path!r} is a safetensors file but not a chainrule checkpoint "
                         "(no 'chainrule' metadata); read it with safetensors directly")
    doc = json.loads(meta[_KEY])
    return _rebuild(doc["state"], arrays, backend)


def _metadata(data):
    """The ``__metadata__`` of a safetensors byte string (its JSON header)."""
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    return header.get("__metadata__", {}) or {}


__all__ = ["load", "save"]
