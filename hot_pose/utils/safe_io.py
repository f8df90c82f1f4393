"""Loading data files without running code: a restricted unpickler for the npz/pickle files of the pipeline.

Part of a re-implementation of HoT (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose
Estimation", CVPR 2024, arXiv:2311.12028). The VideoPose3D npz layout that HoT reads (``data_3d_h36m.npz``,
``data_2d_h36m_*.npz``) stores nested dicts as pickled object arrays, and ``np.load(..., allow_pickle=True)``
would execute whatever a crafted file's pickle asks for (``__reduce__`` → any callable). Here a pickle may only
build what the format needs: NumPy arrays and dtypes, dicts, lists, tuples, strings, bytes, numbers, booleans
and ``None``. Anything else (a class, a function, a module attribute) is refused before it is called, with
``UnsafeFileError`` naming the file and the object. Checkpoints are protected the same way by
``torch.load(weights_only=True)`` (``hot_pose.models.checkpoint``).
"""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import IO, Any, Dict, Union

import numpy as np
import numpy.lib.format as npy_format

__all__ = ["UnsafeFileError", "RestrictedUnpickler", "load_pickle", "load_npz", "SAFE_GLOBALS"]

PathLike = Union[str, Path]

#: the only globals a data file's pickle may name: what NumPy needs to rebuild arrays (module names of
#: NumPy 1.x files are mapped to NumPy 2's ``numpy._core``), and the byte-string decoder of protocol-2 pickles
SAFE_GLOBALS = {
    ("numpy._core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    ("numpy._core.multiarray", "scalar"): np._core.multiarray.scalar,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): __import__("codecs").encode,
}
_RENAMED_MODULES = {"numpy.core.multiarray": "numpy._core.multiarray"}
#: NumPy dtype classes (``numpy.dtypes.Float32DType`` ...) that NumPy 2 pickles name
_DTYPE_MODULE = "numpy.dtypes"


class UnsafeFileError(ValueError):
    """A data file holds a pickled object other than arrays, containers, strings and numbers."""


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only ``SAFE_GLOBALS`` (and NumPy's dtype classes).

    Args:
        file: binary stream positioned at the pickle.
        source: the file's name, for the error message.
    """

    def __init__(self, file: IO[bytes], source: str = "file") -> None:
        super().__init__(file, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        module = _RENAMED_MODULES.get(module, module)
        if (module, name) in SAFE_GLOBALS:
            return SAFE_GLOBALS[(module, name)]
        if module == _DTYPE_MODULE and name.endswith("DType"):
            cls = getattr(np.dtypes, name, None)
            if isinstance(cls, type) and issubclass(cls, np.dtype):
                return cls
        raise UnsafeFileError(
            f"{self.source}: refusing to load the pickled object '{module}.{name}' (data files may hold only "
            "arrays, dicts, lists, strings and numbers; this file could run code: rebuild or re-download it)")


def load_pickle(path: PathLike) -> Any:
    """Unpickle ``path`` with ``RestrictedUnpickler``.

    Raises:
        UnsafeFileError: the pickle names a forbidden object.
        OSError, pickle.UnpicklingError, EOFError: unreadable or truncated file.
    """
    with open(path, "rb") as fh:
        return RestrictedUnpickler(fh, str(path)).load()


def _read_object_member(archive: zipfile.ZipFile, member: str, source: str) -> np.ndarray:
    """An object array of an npz member, unpickled by ``RestrictedUnpickler`` after the .npy header."""
    with archive.open(member) as fh:
        version = npy_format.read_magic(fh)
        if version == (1, 0):
            npy_format.read_array_header_1_0(fh)
        else:
            npy_format.read_array_header_2_0(fh)  # versions 2.0 and 3.0 share the header layout
        array = RestrictedUnpickler(fh, f"{source}[{member}]").load()
    if not isinstance(array, np.ndarray):
        raise UnsafeFileError(f"{source}: member {member} is a pickled {type(array).__name__}, not an array")
    return array


def load_npz(path: PathLike, allow_objects: bool = True) -> Dict[str, np.ndarray]:
    """Every array of an ``.npz`` file; object arrays (pickled dicts) go through ``RestrictedUnpickler``.

    Args:
        path: the ``.npz`` file.
        allow_objects: read object arrays (the VideoPose3D layout); ``False`` refuses them.

    Returns:
        ``{name: array}``; a pickled dict comes back as a 0-d object array (``.item()`` gives the dict).

    Raises:
        UnsafeFileError: a forbidden pickled object, or any object array with ``allow_objects=False``.
        OSError, ValueError, zipfile.BadZipFile, pickle.UnpicklingError, EOFError: unreadable file.
    """
    source = str(path)
    if not zipfile.is_zipfile(path):  # np.load would take it for a bare pickle and suggest allow_pickle
        raise ValueError("not an .npz archive (truncated, or another kind of file)")
    out: Dict[str, np.ndarray] = {}
    with np.load(path, allow_pickle=False) as npz:
        members = {name: f"{name}.npy" for name in npz.files}
        for name in npz.files:
            try:
                out[name] = npz[name]
            except ValueError as exc:
                if "allow_pickle" not in str(exc):
                    raise
                if not allow_objects:
                    raise UnsafeFileError(f"{source}: '{name}' is a pickled object array; this file must hold "
                                          "plain numeric arrays") from None
                with zipfile.ZipFile(path) as archive:
                    out[name] = _read_object_member(archive, members[name], source)
    return out
