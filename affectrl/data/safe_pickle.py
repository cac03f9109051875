"""Restricted unpickling for legacy dataset pickles.

Research datasets in this field ship as pickles; a pickle can run arbitrary code when loaded.
`safe_load` allows only plain containers, scalars and numpy arrays: anything else (a function,
a class from another module, ``os.system``) is refused before it is called. It is also bounded:
the calls it allows that allocate from a size argument (`bytearray(n)`, `bytes(n)`,
`numpy.ndarray(shape)`, numpy's `_reconstruct`) may not ask for more bytes than the file holds,
so a 40-byte pickle asking for `bytearray(10**13)` is refused, not a MemoryError.
"""

from __future__ import annotations

import io
import math
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError

# (module, name) pairs a dataset pickle legitimately needs: numpy array reconstruction and
# builtin containers. Nothing here can execute code on load.
_ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {
        ("builtins", "list"),
        ("builtins", "dict"),
        ("builtins", "tuple"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "int"),
        ("builtins", "float"),
        ("builtins", "complex"),
        ("builtins", "str"),
        ("builtins", "bytes"),
        ("builtins", "bytearray"),
        ("builtins", "bool"),
        ("builtins", "slice"),
        ("collections", "OrderedDict"),
        ("collections", "defaultdict"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),
    }
)


_RECONSTRUCT = frozenset(
    {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")}
)


def _nbytes(shape: Any, dtype: Any = float) -> int:
    dims = (shape,) if isinstance(shape, int) else tuple(shape)
    return math.prod(int(d) for d in dims) * np.dtype(dtype).itemsize


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, limit: int, encoding: str):
        super().__init__(file, encoding=encoding)
        self.limit = limit  # the most bytes an allowed call may allocate: the file's size

    def _bounded(self, what: str, nbytes: int) -> None:
        if nbytes > self.limit:
            raise pickle.UnpicklingError(
                f"{what} asks for {nbytes} bytes from a {self.limit}-byte file (allocation bomb)"
            )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refused to load global {module}.{name}")
        found = super().find_class(module, name)
        if found in (bytes, bytearray):
            return self._sized_buffer(found)
        if found is np.ndarray:
            return self._sized_array
        if (module, name) in _RECONSTRUCT:
            return self._sized_reconstruct(found)
        return found

    def _sized_buffer(self, kind: type) -> Callable[..., Any]:
        def make(*args: Any) -> Any:
            if args and isinstance(args[0], int):
                self._bounded(f"{kind.__name__}({args[0]})", args[0])
            return kind(*args)

        return make

    def _sized_array(self, shape: Any, dtype: Any = float, *args: Any) -> np.ndarray:
        self._bounded(f"numpy.ndarray({shape!r})", _nbytes(shape, dtype))
        return np.ndarray(shape, dtype, *args)

    def _sized_reconstruct(self, reconstruct: Callable[..., Any]) -> Callable[..., Any]:
        def make(subtype: Any, shape: Any, dtype: Any) -> Any:
            if subtype == self._sized_array:  # the ndarray global, as this unpickler gave it
                subtype = np.ndarray
            self._bounded(f"an array of shape {shape!r}", _nbytes(shape, np.uint8))
            return reconstruct(subtype, shape, dtype)

        return make


def safe_load(path: str | Path, encoding: str = "latin1") -> Any:
    """Load a pickle allowing only plain containers, scalars and numpy arrays.

    Raises DataError naming the file when the pickle asks for anything else or is corrupt.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(path, f"cannot read: {exc.strerror or exc}") from exc
    try:
        return _RestrictedUnpickler(io.BytesIO(data), len(data), encoding).load()
    except pickle.UnpicklingError as exc:
        raise DataError(path, f"unsafe or corrupt pickle ({exc})") from exc
    except MemoryError:
        raise DataError(path, "the pickle asks for more memory than there is") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise DataError(path, f"corrupt pickle ({type(exc).__name__}: {exc})") from exc
