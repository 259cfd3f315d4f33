"""Self-supervised pretext labels: optical flow (:mod:`ssl_core.labels.flow`) and the STS /
MAS spatio-temporal statistics labels (:mod:`ssl_core.labels.sts`)."""
