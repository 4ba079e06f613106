"""A cluster of worker processes: $TF_CONFIG, who writes, the wait for the others, SIGTERM, a lost worker.

With `--strategy multiworker` every worker runs the same `python -m vae_tf.train` command and
`MultiWorkerMirroredStrategy` keeps their copies of the model identical (the gradients of each
step are summed over the workers by an all-reduce). `vae_tf.training.distributed` makes the
strategy and splits the data; this module holds what the cluster of processes needs around it:

- `read_tf_config`: $TF_CONFIG checked before TensorFlow starts, with one-line errors.
- `is_chief`: only the chief writes the run directory. Every worker still saves every file
  (saving reads the loss trackers, and reading them is a collective that all workers must
  join); the others save into a scratch directory deleted at exit (`RunWriter.scratch`).
- `waiting_for_the_cluster`, `holding_sigterm`: a bounded wait for the other workers, which a
  SIGTERM or Ctrl-C ends with one line; `threads_per_worker`: the cores a worker may use.
- `stop_if_a_worker_is_lost`: a worker that dies stops the others with a one-line error.

Nothing here imports TensorFlow, so the CLI can check $TF_CONFIG cheaply.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from vae_tf.core.errors import WorkerLost

TF_CONFIG_EXAMPLE = ('TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}\'')


@dataclass(frozen=True)
class ClusterTask:
    """This process's place in the cluster described by $TF_CONFIG."""

    workers: int  # training tasks: "chief" plus "worker" entries
    task_type: str  # "worker" or "chief"
    index: int

    @property
    def is_chief(self) -> bool:
        """The chief writes the run directory: task "chief" if there is one, else worker 0."""
        return self.task_type == "chief" or (self.task_type == "worker" and self.index == 0
                                             and not self._has_chief)

    _has_chief: bool = False


def read_tf_config(text: str | None = None) -> ClusterTask:
    """$TF_CONFIG (or `text`) parsed and checked.

    Raises:
      ValueError: a one-line message naming what is wrong and the fix (missing, not JSON, no
        cluster, no task, an index out of range, an unknown task type).
    """
    text = os.environ.get("TF_CONFIG") if text is None else text
    if not text:
        raise ValueError(f"--strategy multiworker needs $TF_CONFIG describing the cluster and this "
                         f"worker's task, e.g. {TF_CONFIG_EXAMPLE}.")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"$TF_CONFIG is not valid JSON ({error}): {text!r}; it should look like "
                         f"{TF_CONFIG_EXAMPLE}.") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not any(isinstance(cluster.get(job), list) and cluster[job]
                                                for job in ("worker", "chief")):
        raise ValueError(f'$TF_CONFIG has no "cluster" with a list of "worker" addresses: {text!r}; '
                         f"it should look like {TF_CONFIG_EXAMPLE}.")
    for job, addresses in cluster.items():
        for address in addresses if isinstance(addresses, list) else [addresses]:
            problem = address_problem(address)
            if problem:
                raise ValueError(f"$TF_CONFIG cluster {job!r} address {address!r} {problem}; write each address as "
                                 f"host:port, e.g. \"host1:12345\".")
    task = config.get("task")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise ValueError(f'$TF_CONFIG has no "task" with "type" and "index" (which worker this process is): '
                         f'{text!r}; add e.g. "task": {{"type": "worker", "index": 0}}.')
    task_type, index = task["type"], task["index"]
    addresses = cluster.get(task_type)
    if task_type not in ("worker", "chief") or not isinstance(addresses, list):
        raise ValueError(f"$TF_CONFIG task type {task_type!r} is not a training job of its cluster "
                         f"({', '.join(map(repr, cluster))}); use \"worker\".")
    if isinstance(index, bool) or not isinstance(index, int):
        raise ValueError(f"$TF_CONFIG task index {index!r} is not an integer; write it without quotes, e.g. "
                         '"index": 0.')
    if not 0 <= index < len(addresses):
        raise ValueError(f"$TF_CONFIG task index {index!r} is out of range: the cluster has {len(addresses)} "
                         f"{task_type} address{'es' if len(addresses) != 1 else ''}, so use 0 to "
                         f"{len(addresses) - 1}.")
    workers = len(cluster.get("worker") or []) + len(cluster.get("chief") or [])
    return ClusterTask(workers, task_type, index, _has_chief=bool(cluster.get("chief")))


def own_port_in_use(task: ClusterTask | None = None, text: str | None = None) -> str | None:
    """A one-line refusal if this worker's own $TF_CONFIG port is taken by another process, else None.

    TensorFlow would fail deep inside its gRPC server with a traceback; a listening socket of
    another process makes `bind` fail here first (TIME_WAIT leftovers do not: SO_REUSEADDR).
    """
    import errno
    import socket

    text = os.environ.get("TF_CONFIG") if text is None else text
    task = task or read_tf_config(text)
    address = json.loads(text)["cluster"][task.task_type][task.index]
    port = int(address.rpartition(":")[2])
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("", port))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                return None
            return (f"this worker's port {port} ({task.task_type} {task.index} of $TF_CONFIG, {address}) is already in "
                    f"use by another process; stop that process (an earlier worker still running?) or give this "
                    f"worker a free port in $TF_CONFIG.")
    return None


def address_problem(address) -> str | None:
    """What is wrong with a $TF_CONFIG address (it must be host:port, port 1..65535), or None."""
    if not isinstance(address, str):
        return "is not a string"
    host, colon, port = address.rpartition(":")
    if not colon or not host:
        return "has no port"
    if not port.isdigit() or not 0 < int(port) < 65536:
        return f"has port {port!r}, not a number from 1 to 65535"
    if host.startswith("[") != host.endswith("]") or any(char.isspace() for char in host):
        return "has a malformed host"
    return None


def is_chief(strategy_name: str) -> bool:
    """Whether this process writes the run directory: always, except a non-chief multiworker task.

    Raises:
      UsageError: under "multiworker", a missing or malformed $TF_CONFIG (one line).
    """
    if strategy_name != "multiworker":
        return True
    from vae_tf.core.cli import UsageError

    try:
        return read_tf_config().is_chief
    except ValueError as error:
        raise UsageError(str(error)) from None


CLUSTER_WAIT_SECONDS = 120.0  # how long a worker waits for the others to start ($VAE_TF_CLUSTER_WAIT)
# How long the chief's coordination service waits for a worker's heartbeat before it declares the
# worker lost and aborts the others' collectives ($VAE_TF_HEARTBEAT_TIMEOUT); TensorFlow's own default.
# A worker that stops answering (stopped, hung, its machine gone) is so detected within 1.5 times this.
HEARTBEAT_TIMEOUT_SECONDS = 10.0


def seconds_setting(name: str, default: float) -> float:
    """A positive number of seconds from the environment variable `name`, else `default`.

    Raises:
      ValueError: the variable is set to something else than a positive, finite number.
    """
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"${name}={text!r} is not a positive number of seconds; e.g. {default:g}.")
    return seconds


def cluster_wait_seconds() -> float:
    """The bounded wait for the other workers: $VAE_TF_CLUSTER_WAIT seconds, else `CLUSTER_WAIT_SECONDS`.

    Raises:
      ValueError: $VAE_TF_CLUSTER_WAIT is not a positive number.
    """
    return seconds_setting("VAE_TF_CLUSTER_WAIT", CLUSTER_WAIT_SECONDS)


def heartbeat_timeout_seconds() -> float:
    """$VAE_TF_HEARTBEAT_TIMEOUT seconds, else `HEARTBEAT_TIMEOUT_SECONDS` (see there)."""
    return seconds_setting("VAE_TF_HEARTBEAT_TIMEOUT", HEARTBEAT_TIMEOUT_SECONDS)


def unreachable_workers(text: str | None = None, timeout: float = 1.0) -> list[str]:
    """The other tasks of $TF_CONFIG (or `text`) whose address nobody answers at, as "worker 1 (host:port)".

    The addresses are tried at once (one thread each), so this takes at most about `timeout` seconds.
    """
    import socket
    from concurrent.futures import ThreadPoolExecutor

    config = json.loads(os.environ.get("TF_CONFIG") if text is None else text)
    me = (config["task"]["type"], config["task"]["index"])
    others = [(f"{job} {index} ({address})", address) for job in ("chief", "worker")
              for index, address in enumerate(config["cluster"].get(job) or []) if (job, index) != me]

    def answers(address: str) -> bool:
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
        except OSError:
            return False
        return True

    if not others:
        return []
    with ThreadPoolExecutor(max_workers=min(32, len(others))) as pool:
        answered = list(pool.map(answers, [address for _, address in others]))
    return [name for (name, _), ok in zip(others, answered, strict=True) if not ok]


def _signal_bit(signum: int) -> int:
    return 1 << (signum - 1)


def pending_signals(pid: int) -> int:
    """The signals waiting (blocked) for process `pid`, as a bit mask (`1 << (signum - 1)`); 0 if unknown.

    From /proc/PID/status (Linux): the process's shared queue (`ShdPnd`, where `kill PID` puts a
    signal) and its main thread's own (`SigPnd`).

    Args:
      pid: the process.

    Returns:
      An int: bit `signum - 1` is set if signal `signum` is pending (SIGTERM: 0x4000).
    """
    try:
        with open(f"/proc/{pid}/status") as status:
            fields = dict(line.split(":", 1) for line in status if ":" in line)
    except OSError:
        return 0
    return int(fields.get("ShdPnd", "0"), 16) | int(fields.get("SigPnd", "0"), 16)


def can_hold_sigterm() -> bool:
    """Whether this system lets the watcher of `waiting_for_the_cluster` see a held SIGTERM (Linux)."""
    import signal

    return hasattr(signal, "pthread_sigmask") and os.path.exists(f"/proc/{os.getpid()}/status")


@contextlib.contextmanager
def sigterm_blocked():
    """Block SIGTERM in this thread for the duration; threads started meanwhile keep it blocked for good.

    Those threads then never take a SIGTERM sent to the process: the kernel gives it to a thread
    that does not block it (the main thread, once this ends), where Python's handler runs as
    before. `vae_tf.train` and `vae_tf.training.run` import their modules under it, so that the
    thread pool numpy starts (OpenBLAS's) cannot take the SIGTERM a cluster's worker holds back
    (`holding_sigterm`).
    """
    import signal

    if not can_hold_sigterm():
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def holding_sigterm(strategy_name: str):
    """Under "multiworker", hold SIGTERM back from TensorFlow until the cluster has formed.

    Enter it before TensorFlow is imported and leave it once the strategy is made. Every thread
    TensorFlow starts meanwhile blocks SIGTERM, so that a SIGTERM sent to this process while
    it waits for the other workers stays pending (TensorFlow's own handler, which it installs
    there, never sees it), where the watcher of `waiting_for_the_cluster` notices it within
    0.1 s and ends the process with one line. On leaving, the main thread takes SIGTERM again
    (a pending one then interrupts at once). Elsewhere this does nothing.

    Args:
      strategy_name: the run's `--strategy`.

    Returns:
      A context manager.
    """
    return sigterm_blocked() if strategy_name == "multiworker" else contextlib.nullcontext()


def _watch(pid: str, seconds: str, *lock_files: str) -> None:
    """The watcher process of `waiting_for_the_cluster` (`python -c`): its whole life.

    It ends the training process `pid` with one line on stderr when
    - a SIGTERM waits for `pid` (held back by `holding_sigterm`), or a SIGTERM or SIGINT reaches
      the watcher itself (sent to the process group, or Ctrl-C): "interrupted while waiting
      ...", and `pid` dies of SIGINT (exit status 130 in a shell, like any interrupted run);
    - `seconds` pass before the cluster forms: "error: ... did not join within ...", SIGKILL.
    It removes the lock files `pid` holds before it ends it (`vae_tf.rundir.locks.remove_lock_for`), or
    after `pid` has died (`vae_tf.rundir.locks.remove_dead_lock`: Ctrl-C reaches both at once). It exits
    quietly once `pid` closes its stdin: the cluster formed, or `pid` died (then its lock files go too).
    """
    import signal
    import sys
    import threading
    import time

    from vae_tf.rundir import remove_dead_lock, remove_lock_for

    pid, seconds = int(pid), float(seconds)

    def stop(message: str, signum: int) -> None:
        for taken in (signal.SIGTERM, signal.SIGINT):  # once
            signal.signal(taken, signal.SIG_IGN)
        with contextlib.suppress(OSError):  # nobody reads our stderr any more: end `pid` all the same
            print(message, file=sys.stderr, flush=True)
        if os.getppid() == pid:  # still our parent, holding its locks: remove their files for it, then end it
            for path in lock_files:
                remove_lock_for(path, pid)
            os.kill(pid, signum)
        else:  # it died already (Ctrl-C): take each lock as a new writer would, then remove its file
            for path in lock_files:
                remove_dead_lock(path, pid)
        os._exit(0)

    def interrupted(*_) -> None:
        missing = ", ".join(unreachable_workers(timeout=0.5))
        stop("interrupted while waiting for the other workers of the cluster"
             + (f" (not answering: {missing})" if missing else "") + "; nothing was written.", signal.SIGINT)

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)  # Ctrl-C: the training process takes it too, and dies of it
    if can_hold_sigterm():  # we were born with the training process's mask, SIGTERM blocked
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    ended = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), ended.set()), daemon=True).start()
    deadline = time.monotonic() + seconds
    while not ended.wait(0.1):  # the training process closes our stdin once the cluster has formed (or dies)
        if pending_signals(pid) & (_signal_bit(signal.SIGTERM) | _signal_bit(signal.SIGINT)):
            interrupted()
        if time.monotonic() > deadline:
            missing = ", ".join(unreachable_workers()) or "all answer, yet the cluster did not form"
            stop(f"error: the other workers of the cluster did not join within {seconds:g} s (not answering: "
                 f"{missing}); start each with the same command and its own $TF_CONFIG, or check the addresses "
                 "($VAE_TF_CLUSTER_WAIT sets the wait).", signal.SIGKILL)
    if os.getppid() != pid:  # `pid` died while waiting (SIGINT to it alone, SIGKILL...): its lock files go
        for path in lock_files:
            remove_dead_lock(path, pid)


@contextlib.contextmanager
def waiting_for_the_cluster(task: ClusterTask, seconds: float | None = None):
    """Bound the wait for the other workers of the cluster, and let it be interrupted.

    TensorFlow waits for every worker inside `MultiWorkerMirroredStrategy()`, in C++, holding
    Python's lock (no Python thread or signal handler of this process runs), and installs its
    own SIGTERM handler (its preemption notifier) there. So a watcher process (`_watch`) ends
    this one:
    - after `seconds`, with one line naming the workers that do not answer;
    - at once on a SIGTERM to this process, held back by `holding_sigterm` (enter it first), or
      to the process group, or on Ctrl-C: one line, and the process dies of SIGINT, which is
      at its default action meanwhile (exit status 130 in a shell, like an interrupted run).
    Nothing has been written by then; the watcher removes the run directory's lock file.
    Afterwards SIGTERM and SIGINT are given back to the handlers that had them before, so that
    training obeys them.
    """
    import signal
    import subprocess
    import sys

    seconds = cluster_wait_seconds() if seconds is None else seconds
    rundir = sys.modules.get("vae_tf.rundir.locks")
    lock_files = [str(path) for path in rundir.held_lock_files()] if rundir is not None else []
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited: a Ctrl-C while the watcher starts is not a traceback
    try:
        watcher = subprocess.Popen(
            [sys.executable, "-c", "import sys; from vae_tf.training.cluster import _watch; _watch(*sys.argv[1:])",
             str(os.getpid()), str(seconds), *lock_files],
            stdin=subprocess.PIPE, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")])})
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # now a Ctrl-C, or the watcher, ends this process at once
    try:
        yield
    finally:
        watcher.stdin.close()
        watcher.wait()
        for signum, handler in handlers.items():  # SIGTERM: taken back from TensorFlow's preemption notifier
            if handler is not None:
                signal.signal(signum, handler)


def threads_per_worker(task: ClusterTask | None = None, tf_config: str | None = None) -> int:
    """TensorFlow threads for this worker: the cores it may run on / the workers on its host.

    The cores are this process's CPU affinity (`taskset` narrows it); the workers on this host
    are those whose $TF_CONFIG address names the same host as this worker's. Environment
    variables TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS, if set, win (`make_multiworker_strategy`).
    """
    text = os.environ.get("TF_CONFIG") if tf_config is None else tf_config
    task = task or read_tf_config(text)
    cluster = json.loads(text)["cluster"]
    addresses = {job: list(cluster.get(job) or []) for job in ("chief", "worker")}
    own = str(addresses[task.task_type][task.index]).rsplit(":", 1)[0]
    on_this_host = sum(str(address).rsplit(":", 1)[0] == own for job in addresses.values() for address in job)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, on_this_host))


LOST_WORKER_ERRORS = ("UnavailableError", "DeadlineExceededError", "CancelledError", "AbortedError",
                      "InternalError", "FailedPreconditionError")


def lost_worker_message(error: Exception, run_dir: Path) -> str:
    """One line for a collective that failed because another worker died or hung: who, and the fix."""
    text = str(error)
    if "stopped sending heartbeats" in text or "unhealthy" in text:
        listed = text.split("stopped sending heartbeats", 1)[-1]  # the unhealthy tasks follow
        tasks = sorted(set(re.findall(r"/job:\w+/replica:\d+/task:\d+", listed))) or ["a worker"]
        what = f"{', '.join(tasks)} stopped sending heartbeats"
    elif "coordination service" in text:
        what = "the chief (which runs the cluster's coordination service) cannot be reached"
    else:  # TensorFlow's message starts with where the op was defined; keep its cause
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        causes = [line.split("aborted by:", 1)[1].strip() for line in lines if "aborted by:" in line] or [
            line for line in lines if not line.startswith(("Graph execution error", "Detected at", "File "))]
        what = f"{type(error).__name__}: {(causes[0] if causes else '')[:200]}"
    if (Path(run_dir) / "checkpoint" / "state.json").is_file():
        fix = (f"Restart every worker with `python -m vae_tf.train --resume {run_dir}` to continue from the chief's "
               "last checkpoint.")
    else:  # never a --resume of a directory without a checkpoint
        fix = (f"{run_dir} holds no checkpoint here: start every worker again with its command (the chief's with "
               "--overwrite), or, if the chief's run directory has a checkpoint, with `--resume` and that directory.")
    return f"a worker of the cluster was lost ({what}); training stopped. {fix}"


@contextlib.contextmanager
def stop_if_a_worker_is_lost(strategy_name: str, run_dir: Path):
    """Turn the errors a dead or unreachable worker causes into `WorkerLost`, naming the fix.

    Only under `multiworker`: elsewhere these errors are real bugs and keep their traceback.
    TensorFlow's coordination service notices a dead worker at once (a reset connection) or by
    its missing heartbeats (within 10 s here), and aborts the other workers' collectives.
    """
    try:
        yield
    except Exception as error:
        if strategy_name != "multiworker" or type(error).__name__ not in LOST_WORKER_ERRORS:
            raise
        raise WorkerLost(lost_worker_message(error, run_dir)) from None
