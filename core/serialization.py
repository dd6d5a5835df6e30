"""``cr.save`` / ``cr.load``: crash-safe checkpoints as safetensors plus JSON metadata, never pickle.

A checkpoint is a (possibly nested) dict whose leaves are tensors or plain JSON
values: a module's ``state_dict()``, an optimizer's ``state_dict()`` (which
holds the step count, hence the schedule's position), ``cr.random.get_state()``.
Tensors go into the safetensors file (as NumPy arrays, 0-d ones too); the
nesting and every other value go into its metadata as JSON, with each tensor's
dtype and backend and the format version.

A save survives a crash at any moment: the bytes go to a temporary file in the
destination's folder (``.<name>.chainrule-<pid>-<random>.tmp``), which is
flushed to disk and renamed over the destination, and the folder is flushed
too.  Until the rename the old file is whole; after it the new one is.  The
next save to that destination removes the temporary files that killed saves
left behind.  The file gets the mode the umask gives any new file (an existing
file keeps its mode); a read-only destination is refused, not replaced.

Needs the optional ``safetensors`` package (``pip install chainrule[io]``).

>>> import chainrule as cr, os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "ckpt.safetensors")
>>> cr.save(path, {"w": cr.ones((2,)), "step": 3})
>>> d = cr.load(path); d["step"], d["w"].tolist()
(3, [1.0, 1.0])
"""
import json
import os
import re
import secrets
import stat
import threading

from .dtypes import ALL as _DTYPES
from .errors import ArgumentError, CheckpointError
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


# ------------------------------------------------------------------ save

def save(path, state):
    """Write ``state`` (a dict) to ``path``: all of it, or (on any failure, even a kill) nothing,
    leaving the previous file whole."""
    st = _safetensors()
    if not isinstance(state, dict):
        raise ArgumentError(f"cr.save expects a dict (e.g. a state_dict()), got a "
                            f"{type(state).__name__}; wrap it: cr.save(path, {{'value': ...}})")
    arrays = {}
    skeleton = _flatten(state, "", arrays)
    data = st.save(arrays, metadata={_KEY: json.dumps({"format": _FORMAT, "state": skeleton})})
    target = _destination(path)
    _remove_stale_temps(target)
    _write_atomically(target, data)


def _flatten(value, where, arrays):
    """The JSON skeleton of ``value``; tensors are replaced by {"__tensor__": key} and collected."""
    import numpy as np
    if isinstance(value, (Tensor, np.ndarray)):
        return _tensor_entry(value, where, arrays)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ArgumentError(f"cr.save: key {k!r} at {where or 'the top level'} is not a string; "
                                "checkpoint dicts need string keys (JSON)")
            out[k] = _flatten(v, f"{where}/{k}", arrays)
        if "__tensor__" in out:
            raise ArgumentError(f"cr.save: the key '__tensor__' at {where} is reserved for "
                                "tensors; rename it")
        return out
    if isinstance(value, (list, tuple)):
        return [_flatten(v, f"{where}/{i}", arrays) for i, v in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ArgumentError(f"cr.save: {where or 'the state'} holds a {type(value).__name__}; a checkpoint "
                    "holds tensors, NumPy arrays, dicts, lists and JSON values (no pickling)")


def _tensor_entry(value, where, arrays):
    import numpy as np
    is_tensor = isinstance(value, Tensor)
    arr = np.asarray(value.numpy() if is_tensor else value)
    if not arr.flags.c_contiguous:
        arr = arr.copy(order="C")        # not ascontiguousarray: it turns 0-d into shape (1,)
    dtype = str(value.dtype) if is_tensor else arr.dtype.name
    if dtype not in _DTYPES:
        raise ArgumentError(f"cr.save: {where} is a NumPy array of dtype {dtype}, which chainrule "
                        f"tensors cannot hold; convert it first (one of {', '.join(_DTYPES)})")
    if dtype == "bfloat16":                # stored bit for bit
        arr = arr.view(np.uint16)
    key = f"t{len(arrays)}"
    arrays[key] = arr
    return {"__tensor__": key, "dtype": dtype, "backend": value.backend if is_tensor else "numpy"}


def _destination(path):
    """The file a save replaces (a symbolic link is followed, as ``open`` would), checked."""
    target = os.path.realpath(os.fspath(path))
    folder = os.path.dirname(target)
    if os.path.isdir(target):
        raise CheckpointError(f"cr.save: {target!r} is a folder; give a file path inside it "
                              "(e.g. 'ckpt.safetensors')")
    if not os.path.isdir(folder):
        raise CheckpointError(f"cr.save: the folder {folder!r} of {target!r} does not exist; create "
                              "it first (os.makedirs)")
    if os.path.exists(target) and not _writable(target):
        raise CheckpointError(f"cr.save: {target!r} is read-only, so it was not replaced; make it "
                              "writable (chmod u+w) or save to another path")
    return target


def _writable(path):
    """Writable by us, and not marked read-only for everyone (root may write anything)."""
    return os.access(path, os.W_OK) and bool(os.stat(path).st_mode & 0o222)


# --------------------------------------------------------- temporary files

_in_progress = set()           # this process's temporary files being written (any thread)
_in_progress_lock = threading.Lock()


def _temp_name(target):
    folder, name = os.path.split(target)
    return os.path.join(folder, f".{name}.chainrule-{os.getpid()}-{secrets.token_hex(4)}.tmp")


def _temp_pattern(name):
    return re.compile(re.escape(f".{name}.chainrule-") + r"(\d+)-[0-9a-f]{8}\.tmp")


def _remove_stale_temps(target):
    """Remove the temporary files of earlier saves to ``target`` whose process is gone (killed
    mid-save): only names of our own pattern, for this destination, in its folder."""
    folder, name = os.path.split(target)
    pattern = _temp_pattern(name)
    for entry in os.listdir(folder):
        found = pattern.fullmatch(entry)
        path = os.path.join(folder, entry)
        if found is None or _writer_alive(int(found.group(1)), path):
            continue
        try:
            os.remove(path)
        except OSError:        # removed by another save meanwhile, or still open (Windows)
            pass


def _writer_alive(pid, path):
    if pid == os.getpid():
        with _in_progress_lock:
            return path in _in_progress
    if os.name == "nt":        # os.kill would terminate it; Windows refuses to remove an open file
        return False
    try:
        os.kill(pid, 0)        # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _open_temp(target):
    """A new temporary file next to ``target``, created with mode 0o666 so that the umask
    applies as for any file (mkstemp would make it 0600)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = _temp_name(target)
        with _in_progress_lock:       # before it exists, so no other thread's cleanup takes it
            _in_progress.add(tmp)
        try:
            return os.open(tmp, flags, 0o666), tmp
        except BaseException as exc:
            with _in_progress_lock:
                _in_progress.discard(tmp)
            if not isinstance(exc, FileExistsError):
                raise


def _write_atomically(target, data):
    mode = stat.S_IMODE(os.stat(target).st_mode) if os.path.exists(target) else None
    try:
        fd, tmp = _open_temp(target)
    except OSError as exc:
        raise CheckpointError(f"cr.save: cannot create a file next to {target!r} ({exc}); the "
                              "folder must be writable") from exc
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if mode is not None:          # an overwritten file keeps its mode, as with open()
                os.chmod(tmp, mode)
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        _discard(tmp)
        if isinstance(exc, OSError):
            raise CheckpointError(f"cr.save: writing {target!r} failed ({exc}); the previous "
                                  "file, if any, is intact") from exc
        raise
    finally:
        with _in_progress_lock:
            _in_progress.discard(tmp)
    _fsync_folder(os.path.dirname(target))


def _discard(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _fsync_folder(folder):
    """Flush the rename itself to disk (POSIX; Windows cannot open a folder for this)."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ------------------------------------------------------------------ load

def load(path, backend=None):
    """Read a checkpoint written by ``cr.save``; tensors come back on the backend they were
    saved from (or ``backend``, or NumPy when that one is not available here).  A file that
    is not a whole checkpoint of a known format raises ``CheckpointError`` naming it."""
    st = _safetensors()
    name = os.fspath(path)
    with open(name, "rb") as f:
        data = f.read()
    doc = _document(name, data)
    try:
        arrays = st.load(data)
    except Exception as exc:
        raise _corrupt(name, f"its tensors cannot be read ({exc})") from None
    return _rebuild(doc["state"], arrays, backend, name)


def _corrupt(name, problem):
    return CheckpointError(f"cr.load: {name!r} is not a readable chainrule checkpoint: {problem}; "
                           "it is damaged or was written by something else (load an earlier "
                           "checkpoint)")


def _document(name, data):
    """The chainrule metadata of a safetensors byte string, checked: {"format", "state"}."""
    meta = _metadata(name, data)
    if _KEY not in meta:
        raise CheckpointError(f"cr.load: {name!r} is a safetensors file but not a chainrule "
                              "checkpoint (no 'chainrule' metadata); read it with "
                              "safetensors.numpy.load_file")
    try:
        doc = json.loads(meta[_KEY])
    except (TypeError, ValueError) as exc:
        raise _corrupt(name, f"its 'chainrule' metadata is not JSON ({exc})") from None
    version = doc.get("format") if isinstance(doc, dict) else None
    if version != _FORMAT or isinstance(version, bool):
        newer = isinstance(version, int) and version > _FORMAT
        raise CheckpointError(f"cr.load: {name!r} has checkpoint format version {version!r}, but "
                              f"this chainrule reads version {_FORMAT}"
                              + ("; upgrade chainrule to read it" if newer else
                                 "; the metadata is damaged or was written by something else"))
    if not isinstance(doc.get("state"), dict):
        raise _corrupt(name, "its metadata holds no 'state' dict")
    return doc


def _metadata(name, data):
    """The ``__metadata__`` of a safetensors byte string (its JSON header)."""
    if len(data) < 8:
        raise _corrupt(name, f"it is only {len(data)} bytes long")
    n = int.from_bytes(data[:8], "little")
    if n > len(data) - 8:
        raise _corrupt(name, f"it is no safetensors file (its {len(data)} bytes cannot hold the "
                             f"{n}-byte header its first 8 bytes announce)")
    try:
        header = json.loads(data[8:8 + n])
    except ValueError as exc:
        raise _corrupt(name, f"its header is not JSON ({exc})") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta or {}, dict):
        raise _corrupt(name, "its '__metadata__' is not a dict")
    return meta or {}


def _rebuild(value, arrays, backend, name):
    if isinstance(value, dict):
        if "__tensor__" in value:
            return _rebuild_tensor(value, arrays, backend, name)
        return {k: _rebuild(v, arrays, backend, name) for k, v in value.items()}
    if isinstance(value, list):
        return [_rebuild(v, arrays, backend, name) for v in value]
    return value


def _rebuild_tensor(entry, arrays, backend, name):
    key, dtype = entry["__tensor__"], entry.get("dtype")
    arr = arrays.get(key) if isinstance(key, str) else None
    stored = "uint16" if dtype == "bfloat16" else dtype
    if arr is None or dtype not in _DTYPES or arr.dtype.name != stored:
        raise _corrupt(name, f"its metadata describes tensor {key!r} as {dtype!r}, "
                             "which the file does not hold")
    if dtype == "bfloat16":
        import ml_dtypes
        arr = arr.view(ml_dtypes.bfloat16)
    target = backend or entry.get("backend", "numpy")
    try:
        return tensor(arr, backend=target)
    except Exception:       # the saving backend is not usable here: fall back to NumPy
        if backend is not None:
            raise
        return tensor(arr, backend="numpy")


__all__ = ["load", "save"]
