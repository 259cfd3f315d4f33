"""Starting Ray the way every entry point of the project does."""
from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import ray

ENV_PREFIX = "SSL_ABLATE_"


def wait_for_cluster(address: str, timeout: float) -> None:
    """ConnectionError unless something accepts TCP connections at ``address`` (``host:port``,
    or ``ray://host:port``) within ``timeout`` seconds: ``ray.init`` would retry forever.
    ``auto`` (the cluster this node belongs to) is left to Ray."""
    if address == "auto":
        return
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        raise ConnectionError(f"--address {address!r} is not host:port (or auto)")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=max(0.1, min(5.0, deadline - time.monotonic()))):
                return
        except OSError as error:
            if time.monotonic() >= deadline:
                raise ConnectionError(f"no Ray cluster at {address} (nothing answered within {timeout:g} s: "
                                      f"{error.strerror or error}; see --connect-timeout)") from None
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))


def start_ray(address: str | None, num_cpus: float | None = None, connect_timeout: float = 60.0) -> None:
    """Attach to ``address`` (ConnectionError if no cluster answers within ``connect_timeout``
    seconds), or start a local instance (``num_cpus``, default all CPUs) on loopback with no
    dashboard; ``SSL_ABLATE_*`` environment variables reach the workers."""
    if address:
        wait_for_cluster(address, connect_timeout)
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except ConnectionError as error:
            hint = "" if os.environ.get("RAY_AUTH_MODE") else (
                "; a cluster started with token authentication needs RAY_AUTH_MODE=token here (and its token)")
            raise ConnectionError(f"cannot attach to the Ray cluster at {address}: {error}{hint}") from None
        return
    env = {key: value for key, value in os.environ.items() if key.startswith(ENV_PREFIX)}
    ray.init(address="local", num_cpus=int(num_cpus) if num_cpus else os.cpu_count(), include_dashboard=False,
             _node_ip_address="127.0.0.1", log_to_driver=False, runtime_env={"env_vars": env})
    keep_token_private()


def keep_token_private() -> Path | None:
    """Make Ray's token file (``~/.ray/auth_token``, created world-readable by ``ray.init``)
    readable by its owner only; the token is what keeps other users off this Ray's ports."""
    token = Path.home() / ".ray" / "auth_token"
    if token.is_file() and token.stat().st_mode & 0o077:
        token.chmod(0o600)
    return token if token.is_file() else None
