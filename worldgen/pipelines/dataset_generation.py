"""``worldgen dataset generate``: produce the pending episodes of a dataset with K workers
and hand them to the :class:`~worldgen.dataset.store.DatasetWriter` as they finish.

A worker is one process rendering on one core (mitsuba's thread pool is set to 1), so K
workers use K cores and the figures of ``benchmarks/bench_dataset.py`` compare like with
like. One worker runs in this process; more run as Ray actors, on a local Ray instance
started for the run (no cluster needed) or, with ``ray_address``, on a running cluster
(every node needs worldgen installed; results travel back through Ray, so the dataset
folder only has to exist where this command runs)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from worldgen.dataset.family import FamilySpec
from worldgen.dataset.store import ALL, STATE, DatasetWriter, Episode
from worldgen.pipelines.dataset_episode import generate_episode
from worldgen.scene import SceneError


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


def _episodes_ray(worker_args: tuple, indices: list[int], workers: int, address: str | None) -> Iterator[Episode]:
    """Episodes in completion order from ``workers`` Ray actors (two tasks queued per actor)."""
    try:
        import ray
    except ImportError:
        raise SceneError("--workers", "more than one worker needs Ray: pip install -e '.[cluster]' "
                         "(scripts/install.sh does), or use --workers 1", "command line") from None
    started = not ray.is_initialized()
    if started:
        try:
            if address:
                ray.init(address=address, log_to_driver=False, logging_level="ERROR")
            else:
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise SceneError("--ray-address", f"cannot connect to Ray at {address!r}: {str(err).splitlines()[0]}", "command line") from None
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
            yield ray.get(done)
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
