"""Starting Ray the way every entry point of the project does."""
from __future__ import annotations

import os

import ray

ENV_PREFIX = "SSL_ABLATE_"


def start_ray(address: str | None, num_cpus: float | None = None) -> None:
    """Attach to ``address``, or start a local instance (``num_cpus``, default all CPUs) on
    loopback with no dashboard; ``SSL_ABLATE_*`` environment variables reach the workers."""
    if address:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
        return
    env = {key: value for key, value in os.environ.items() if key.startswith(ENV_PREFIX)}
    ray.init(address="local", num_cpus=int(num_cpus) if num_cpus else os.cpu_count(), include_dashboard=False,
             _node_ip_address="127.0.0.1", log_to_driver=False, runtime_env={"env_vars": env})
