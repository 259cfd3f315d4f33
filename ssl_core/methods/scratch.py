"""``scratch``: no pretraining, the random-init baseline of every table."""
from ssl_core.methods.base import PretextMethod, register_method


@register_method("scratch")
class Scratch(PretextMethod):
    pretrains = False
