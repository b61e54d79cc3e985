"""``worldgen dataset generate``: produce the pending episodes of a dataset with K workers
and hand them to the :class:`~worldgen.dataset.store.DatasetWriter` as they finish.

A worker is one process rendering on one core (mitsuba's thread pool is set to 1), so K
workers use K cores and the figures of ``benchmarks/bench_dataset.py`` compare like with
like. One worker runs in this process; more run as Ray actors, on a local Ray instance
started for the run (no cluster needed) or, with ``ray_address``, on a running cluster
(every node needs worldgen installed; results travel back through Ray, so the dataset
folder only has to exist where this command runs)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from worldgen.dataset.family import FamilySpec
from worldgen.dataset.store import ALL, STATE, DatasetWriter, Episode
from worldgen.pipelines.dataset_episode import generate_episode
from worldgen.scene import SceneError
from worldgen.scene.limits import MAX_WORKERS, check_at_most


@dataclass
class GenerateReport:
    root: Path
    episodes: int
    produced: int
    rejected: int
    seconds: float
    workers: int

    def summary(self) -> str:
        rate = 60 * self.produced / self.seconds if self.seconds > 0 else 0.0
        return (f"{self.root}: {self.produced} episodes produced in {self.seconds:.1f} s with {self.workers} "
                f"worker(s) ({rate:.1f} episodes/min); dataset holds {self.episodes} episodes, "
                f"{self.rejected} rejected (see manifest.json)")


def _single_thread() -> None:
    """Pin this process's renderer to one core (a worker = one core)."""
    import drjit

    drjit.set_thread_count(1)


class _LocalWorker:
    """Produces episodes; ``args``: family, split, dynamics, states_only (no renderer then)."""

    def __init__(self, family: FamilySpec, split: str, dynamics: str, states_only: bool):
        if not states_only:
            _single_thread()
        self.args = family, split, dynamics, states_only

    def run(self, index: int) -> Episode:
        family, split, dynamics, states_only = self.args
        return generate_episode(family, split, index, dynamics, states_only=states_only)


def _episodes_inline(worker: _LocalWorker, indices: list[int]) -> Iterator[Episode]:
    for index in indices:
        yield worker.run(index)


_TOKEN_HELP = ("copy the head's token (`ray get-auth-token` on the head prints it) to ~/.ray/auth_token here, "
               "or set RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH")


def _cluster_error(address: str, message: str) -> SceneError:
    return SceneError("--ray-address", f"Ray cluster at {address!r}: {message}", "command line")


def _gcs_address(ray, address: str) -> str:
    """``host:port`` of the cluster's head (GCS) that ``address`` names (``auto``: the cluster
    of this machine, as ``ray.init`` finds it)."""
    try:
        from ray._private.services import canonicalize_bootstrap_address_or_die
    except ImportError:  # another Ray: ray.init resolves it
        return address
    try:
        return canonicalize_bootstrap_address_or_die(address)
    except (ConnectionError, ValueError) as err:
        raise _cluster_error(address, f"{str(err).splitlines()[0].rstrip('.')}; give the address `ray start --head` printed "
                             "(HEAD_IP:6379 by default)") from None


def _check_cluster(ray, address: str) -> str:
    """Fail fast, with what to do, where ``ray.init`` would wait (an address nothing listens
    on: forever; a cluster with token authentication this process does not use: 20 s and
    'cannot connect'). Token authentication is used as ``ray.init()`` uses it for a cluster it
    finds itself: when the cluster asks for it and a token is available here (RAY_AUTH_TOKEN,
    RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token); ``ray start --head`` turns it on by default.
    Returns the head's ``host:port``."""
    import socket

    gcs = _gcs_address(ray, address)
    host, _, port = gcs.rpartition(":")
    if not port.isdigit():
        raise _cluster_error(address, f"{gcs!r} is not HOST:PORT; give the address `ray start --head` printed "
                             "(HEAD_IP:6379 by default)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as err:
        found = " (auto: RAY_ADDRESS, else the cluster file of the last `ray start`)" if address == "auto" else ""
        raise _cluster_error(address, f"nothing answers at {gcs} ({err.strerror or err}){found}; start the head with "
                             "`ray start --head` and give the address it prints (HEAD_IP:6379 by default)") from None
    try:
        from ray._raylet import AuthenticationTokenLoader, Config, GcsClient
        from ray.exceptions import AuthenticationError
    except ImportError:  # a Ray without token authentication: nothing to check
        return gcs

    def probe() -> bool:
        """Whether the head answers this process (False: it asks for a token we do not send or it rejects)."""
        try:
            GcsClient(address=gcs).internal_kv_get(b"worldgen", None, timeout=10)
        except AuthenticationError:
            return False
        except Exception:  # anything else: ray.init will say it
            return True
        return True

    if probe():
        return gcs
    mode = os.environ.get("RAY_AUTH_MODE")
    if mode is not None and mode.lower() != "token":
        raise _cluster_error(address, f"the cluster uses token authentication and RAY_AUTH_MODE is {mode!r} here: "
                             f"unset it or set RAY_AUTH_MODE=token, and make the head's token available ({_TOKEN_HELP})")
    if mode is None:
        try:
            found = AuthenticationTokenLoader.instance().has_token(ignore_auth_mode=True)
        except AuthenticationError as err:  # RAY_AUTH_TOKEN_PATH names no readable file
            raise _cluster_error(address, f"the cluster uses token authentication and the token here cannot be read "
                                 f"({getattr(err, 'message', err)}): {_TOKEN_HELP}") from None
        if not found:
            raise _cluster_error(address, f"the cluster uses token authentication (the default of `ray start "
                                 f"--head` since Ray 2.59) and this machine has no token: {_TOKEN_HELP}")
        os.environ["RAY_AUTH_MODE"] = "token"  # as ray.init() does for a local cluster it finds itself
        Config.initialize("")
        if probe():
            return gcs
    raise _cluster_error(address, f"the cluster rejected this machine's authentication token: {_TOKEN_HELP}")


def _init_ray(ray, workers: int, address: str | None) -> None:
    """Connect to the cluster at ``address``, or (None) start a local Ray instance of
    ``workers`` CPUs for this run alone, whatever RAY_ADDRESS or the cluster file of an earlier
    ``ray start`` (/tmp/ray/ray_current_cluster) say: ``address="local"`` reads neither."""
    quiet = dict(log_to_driver=False, logging_level="ERROR")
    if address:
        # ray://: Ray Client, which does its own connecting; else the head's host:port (not "auto", for which
        # ray.init would turn token authentication on whenever a token is here, even for a cluster without)
        target = address if "://" in address else _check_cluster(ray, address)
        try:
            ray.init(address=target, **quiet)
        except Exception as err:  # Ray raises plain Exceptions too (a node that does not come up in time)
            raise _cluster_error(address, f"cannot connect: {str(err).splitlines()[0]} (check the address; "
                                 "`ray status` on the head shows the cluster)") from None
    else:
        try:
            ray.init(address="local", num_cpus=workers, include_dashboard=False, **quiet)
        except Exception as err:  # e.g. "The current node timed out during startup" on a machine short of CPU
            raise SceneError("--workers", f"cannot start a local Ray instance for {workers} workers: "
                             f"{str(err).splitlines()[0]} (--workers 1 runs without Ray)", "command line") from None


def _episodes_ray(worker_args: tuple, indices: list[int], workers: int, address: str | None) -> Iterator[Episode]:
    """Episodes in completion order from ``workers`` Ray actors (two tasks queued per actor)."""
    try:
        import ray
    except ImportError:
        raise SceneError("--workers", "more than one worker needs Ray: pip install -e '.[cluster]' "
                         "(scripts/install.sh does), or use --workers 1", "command line") from None
    started = not ray.is_initialized()
    if started:
        _init_ray(ray, workers, address)
    try:
        Actor = ray.remote(num_cpus=1)(_LocalWorker)
        actors = [Actor.remote(*worker_args) for _ in range(workers)]
        queue, in_flight = list(indices), {}
        for actor in actors * 2:
            if queue:
                in_flight[actor.run.remote(queue.pop(0))] = actor
        while in_flight:
            [done], _ = ray.wait(list(in_flight), num_returns=1)
            actor = in_flight.pop(done)
            if queue:
                in_flight[actor.run.remote(queue.pop(0))] = actor
            try:
                episode = ray.get(done)
            except ray.exceptions.ActorDiedError as err:
                where = f"the Ray cluster at {address!r}" if address else "the local Ray instance"
                raise SceneError("--ray-address" if address else "--workers",
                                 f"a worker of {where} died before finishing: {str(err).splitlines()[0]} (on a "
                                 "cluster: is worldgen installed on every node, and RAY_AUTH_MODE the same here as "
                                 "on the cluster?)", "command line") from None
            yield episode
    finally:
        if started:
            ray.shutdown()


def generate(family: FamilySpec, config: dict, root: Path, episodes: int, split: str = "train",
             workers: int = 1, ray_address: str | None = None, shard_size: int = 16,
             dynamics: str = "pybullet", progress: bool = True, states_only: bool = False) -> GenerateReport:
    """Complete the dataset in ``root``: episodes ``0 .. episodes-1`` of ``split`` of
    ``family`` (``config``: its plain config, recorded in the manifest). Re-running after an
    interruption produces only what is missing. ``states_only``: simulate without rendering
    (content ``"state"`` in the manifest; see :func:`~worldgen.pipelines.dataset_episode.state_metadata`)."""
    if split not in family.splits:
        raise SceneError("--split", f"family {family.name!r} has splits {', '.join(family.splits)}, not {split!r}", "command line")
    if episodes < 1 or episodes > family.splits[split].size:
        raise SceneError("--episodes", f"expected 1 to {family.splits[split].size} (the size of split {split!r}), got {episodes}", "command line")
    if workers < 1 or shard_size < 1:
        raise SceneError("--workers" if workers < 1 else "--shard-size", "expected a whole number >= 1", "command line")
    check_at_most(workers, MAX_WORKERS, "--workers", "the number of worker processes", "MAX_WORKERS", "command line")
    header = {"family": family.name, "config": config, "split": split,
              "first_seed": family.splits[split].first_seed, "dynamics": dynamics,
              "content": STATE if states_only else ALL}
    writer = DatasetWriter(root, header, episodes, shard_size)
    pending = writer.pending()
    start = time.perf_counter()
    worker_args = (family, split, dynamics, states_only)
    if workers == 1 and ray_address is None:
        stream = _episodes_inline(_LocalWorker(*worker_args), pending)
    else:
        stream = _episodes_ray(worker_args, pending, workers, ray_address)
    bar = tqdm(total=episodes, initial=episodes - len(pending), unit="episode", desc=f"{family.name} {split}",
               disable=not progress, smoothing=0.1)
    with bar:
        for episode in stream:
            writer.stage(episode)
            bar.update(1)
    return GenerateReport(root, episodes, len(pending), len(writer.manifest["rejected"]),
                          time.perf_counter() - start, workers)
