"""cupy.cuda of the stand-in: devices are numbers, the "current" one a stack."""
_current = [0]


class Device:
    def __init__(self, device=None):
        self.id = _current[-1] if device is None else int(device)

    def __enter__(self):
        from . import _DEVICE_COUNT
        if not 0 <= self.id < _DEVICE_COUNT:
            raise RuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
        _current.append(self.id)
        return self

    def __exit__(self, *exc):
        _current.pop()

    def use(self):
        _current[-1] = self.id

    def synchronize(self):
        pass

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):      # as CuPy's: str(x.device) is no device name such as "cuda:0"
        return "<CUDA Device %d>" % self.id


class _Runtime:
    @staticmethod
    def getDeviceCount():
        from . import _DEVICE_COUNT
        return _DEVICE_COUNT

    @staticmethod
    def getDevice():
        return _current[-1]


runtime = _Runtime()


class _Stream:
    def synchronize(self):
        pass


def get_current_stream():
    return _Stream()
