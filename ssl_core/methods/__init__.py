"""Self-supervised methods, found by name: ``build_method(config, backbone)``.

A method owns its sampler (video frames -> training views and targets), its heads and its
loss. Methods are plain PyTorch and run without Ray.
"""
from ssl_core.methods.base import METHODS, MethodConfig, PretextMethod, build_method, register_method
from ssl_core.methods import cstp as _cstp  # noqa: F401  (registers "cstp")
from ssl_core.methods import mfo as _mfo  # noqa: F401  (registers "mfo")
from ssl_core.methods import rotation as _rotation  # noqa: F401  (registers "rotation")
from ssl_core.methods import scratch as _scratch  # noqa: F401  (registers "scratch")
from ssl_core.methods import sts as _sts  # noqa: F401  (registers "sts")
from ssl_core.methods import v3s as _v3s  # noqa: F401  (registers "v3s")

__all__ = ["METHODS", "MethodConfig", "PretextMethod", "build_method", "register_method"]
