"""Samplers that turn one video into a method's training views (CSTP's STOR pair)."""
from ssl_core.samplers.stor import STORPair, STORSampler, STORSettings, candidate_rates

__all__ = ["STORPair", "STORSampler", "STORSettings", "candidate_rates"]
