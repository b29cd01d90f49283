"""Importers: PyTorch modules (and timm models by name) and ONNX graphs lowered to a Workload.

Optional extras, imported lazily: ``torch`` (+ ``timm`` for ``timm:NAME``) and ``onnx``. A missing extra
raises :class:`hwsim.errors.HwsimError` naming it.
"""
from hwsim.errors import HwsimError


def require(module: str, extra: str, what: str):
    """Import ``module`` or raise one line naming the extra to install."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        raise HwsimError(f"{what} needs the optional extra '{extra}' (pip install 'hwsim[{extra}]'): "
                         f"python package '{module}' is not installed") from None
