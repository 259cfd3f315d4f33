"""View sampling, one module per paper: a method's sampler turns one video (uint8
``(T, H, W, 3)``) into its training views and targets, on top of ``ssl_core.data.clips``.

- ``cstp``: CSTP's two-clip STOR pair (overlap rates, playback rate, rotations);
- ``sts``: one STS clip and its motion + appearance statistics labels;
- ``rotation``: one clip turned by a multiple of 90 degrees;
- ``mfo``: MFO's two consecutive clips and the long view;
- ``v3s``: one clip under a spatial warp and a temporal sampling pattern.
"""
from ssl_core.samplers.cstp import STORPair, STORSampler, STORSettings, candidate_rates

__all__ = ["STORPair", "STORSampler", "STORSettings", "candidate_rates"]
