"""Loss functions shared by the methods."""
from ssl_core.losses.contrastive import byol_loss, info_nce, nt_xent, simsiam_loss

__all__ = ["byol_loss", "info_nce", "nt_xent", "simsiam_loss"]
