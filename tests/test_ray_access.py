"""Who can reach the in-process Ray a study starts (issue 13): its token file is private, a
client with a wrong token is refused, and one with the token is let in."""
import os
import subprocess
import sys

import pytest
import ray

from ray_jobs.session import start_ray

CONNECT = """
import ray
try:
    ray.init(address={address!r}, log_to_driver=False)
    print("CONNECTED", int(ray.cluster_resources()["CPU"]))
except Exception as error:
    print("REFUSED", type(error).__name__)
"""


@pytest.fixture(scope="module")
def local_ray():
    start_ray(None, num_cpus=1)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def connect(address: str, **env) -> str:
    environment = {**os.environ, **env}
    result = subprocess.run([sys.executable, "-c", CONNECT.format(address=address)], env=environment,
                            capture_output=True, text=True, timeout=120)
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-500:]


def test_the_token_file_is_private(local_ray):
    from pathlib import Path

    token = Path.home() / ".ray/auth_token"
    assert token.is_file(), "Ray 2.60 creates a token for an in-process cluster"
    assert token.stat().st_mode & 0o077 == 0


def test_a_client_without_the_right_token_is_refused_and_one_with_it_gets_in(local_ray):
    wrong = "0" * 64
    assert connect(local_ray, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=wrong,
                   RAY_gcs_rpc_server_reconnect_timeout_s="5") == "REFUSED ConnectionError"
    assert connect(local_ray, RAY_AUTH_MODE="token") == "CONNECTED 1"
