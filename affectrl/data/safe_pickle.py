"""Restricted unpickling for legacy dataset pickles.

Research datasets in this field ship as pickles; a pickle can run arbitrary code when loaded.
`safe_load` allows only plain containers, scalars and numpy arrays: anything else (a function,
a class from another module, ``os.system``) is refused before it is called.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

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


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to load global {module}.{name}")


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
        return _RestrictedUnpickler(io.BytesIO(data), encoding=encoding).load()
    except pickle.UnpicklingError as exc:
        raise DataError(path, f"unsafe or corrupt pickle ({exc})") from exc
    except (EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise DataError(path, f"corrupt pickle ({type(exc).__name__}: {exc})") from exc
