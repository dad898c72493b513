"""Start seeds by forking a process that has already imported torch, instead of a new Python.

A fresh worker process spends ~1.5 s of CPU starting Python and importing torch before the
seed computes anything; over a smoke suite (120 seeds) that is ~3 minutes of CPU. The local
pool therefore keeps one *fork server* per value of PYTHONHASHSEED (kb sets it to the seed
number, so string hashing stays what a fresh worker would see): a single-threaded process
that imported torch, numpy and the worker once and then, for each seed, forks a child that
does exactly what `python -m kb.running.worker` does. The child gets what a fresh worker gets:
its own session and process group (so a timeout or Ctrl-C kills the seed and everything it
started), its environment, its scratch folder as working directory, its log file as stdout
and stderr, `/dev/null` as stdin, and the kernel's order to die with its parent.

One difference remains, by design: the worker seeds torch's generator when torch is
imported, and in a forked seed it always is. A script that imports torch only inside `run`
and draws from torch's unseeded default generator would compute other numbers here than in a
new Python (kb's scripts import torch at the top, as the experiment contract shows). Set
`KB_FORK_SEEDS=0` to start every seed in a new Python.

The parent side (`ForkServers.spawn`) returns a `ForkedSeed` that answers `pid` and
`wait(timeout)` like `subprocess.Popen`, so `kb.running.seedproc` treats both the same; the
server reaps its children and reports each exit status (negative for a signal, as Popen).

Protocol (one JSON object per line): the parent writes `{"argv": [...], "cwd": ..., "env":
{...}, "log": path}`; the server answers `{"pid": n}` at once and `{"exited": n, "code": c}`
when that child ends. The server never starts a thread, so forking it is safe.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
from types import TracebackType
from typing import IO, Any

from kb.running.seedproc import kill_group

SERVER_MODULE = "kb.running.forkserver"


class ForkedSeed:
    """A seed process forked by a server: the part of `subprocess.Popen` that kb uses."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._done = threading.Event()

    def _exited(self, code: int) -> None:
        self.returncode = code
        self._done.set()

    def wait(self, timeout: float | None = None) -> int:
        if not self._done.wait(timeout):
            raise subprocess.TimeoutExpired(f"seed process {self.pid}", timeout or 0.0)
        assert self.returncode is not None
        return self.returncode


class _Server:
    """One fork server process and the thread that reads its answers."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", SERVER_MODULE],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._lock = threading.Lock()
        self._pids: list[int] = []
        self._pid_ready = threading.Condition()
        self._seeds: dict[int, ForkedSeed] = {}
        self._early: dict[int, int] = {}  # exits reported before spawn() registered the pid
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            message = json.loads(line)
            with self._pid_ready:
                if "pid" in message:
                    self._pids.append(int(message["pid"]))
                    self._pid_ready.notify_all()
                elif "exited" in message:
                    pid, code = int(message["exited"]), int(message["code"])
                    seed = self._seeds.pop(pid, None)
                    if seed is None:
                        self._early[pid] = code
                    else:
                        seed._exited(code)
        with self._pid_ready:  # the server died: every seed it still owed ends as killed
            for seed in self._seeds.values():
                seed._exited(-signal.SIGKILL)
            self._seeds.clear()
            self._pid_ready.notify_all()

    def spawn(self, argv: list[str], cwd: str, env: dict[str, str], log: str) -> ForkedSeed:
        request = json.dumps({"argv": argv, "cwd": cwd, "env": env, "log": log}) + "\n"
        with self._lock:  # one request in flight at a time: answers come back in order
            assert self.proc.stdin is not None
            self.proc.stdin.write(request.encode())
            self.proc.stdin.flush()
            with self._pid_ready:
                while not self._pids:
                    if self.proc.poll() is not None:
                        raise OSError("the fork server exited")
                    self._pid_ready.wait(0.5)
                pid = self._pids.pop(0)
                seed = ForkedSeed(pid)
                if pid in self._early:
                    seed._exited(self._early.pop(pid))
                else:
                    self._seeds[pid] = seed
        return seed

    def close(self) -> None:
        with self._pid_ready:
            orphans = list(self._seeds.values())
        for seed in orphans:
            kill_group(seed)
        kill_group(self.proc)
        self.proc.wait()
        self._reader.join(timeout=5)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


class ForkServers:
    """The fork servers of one `kb run`, one per PYTHONHASHSEED value, started on demand."""

    def __init__(self, per_seed: frozenset[str]) -> None:
        self._per_seed = per_seed
        self._lock = threading.Lock()
        self._servers: dict[tuple[tuple[str, str], ...], _Server] = {}

    def spawn(self, argv: list[str], cwd: str, env: dict[str, str], log: str) -> ForkedSeed:
        """Fork the worker `argv` (a `python -m kb.running.worker ...` command line).

        The server is chosen by the environment without the `per_seed` variables (job slot,
        checkpoint folder, seed token), which the child sets for itself: libraries read the
        rest (thread counts, PYTHONHASHSEED) when they are imported, in the server.
        """
        shared = tuple(sorted((k, v) for k, v in env.items() if k not in self._per_seed))
        with self._lock:
            server = self._servers.get(shared)
            if server is None or server.proc.poll() is not None:
                server = self._servers[shared] = _Server(dict(shared))
        return server.spawn(argv, cwd, env, log)

    def __enter__(self) -> ForkServers:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            servers, self._servers = list(self._servers.values()), {}
        for server in servers:
            server.close()


# ----------------------------------------------------------------------------------------
# The server process


def _child(request: dict[str, Any]) -> None:
    """In the forked child: become what `python -m kb.running.worker` would have been."""
    os.setsid()
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.close(null)
    sys.stdin = open(0, closefd=False)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    from kb.running import worker

    argv = request["argv"]
    sys.argv = [worker.__file__, *argv[3:]]  # drop "python -m kb.running.worker"
    code = 1
    try:
        code = worker.main(argv[3:])
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    def answer(message: dict[str, int]) -> None:
        answers.write((json.dumps(message) + "\n").encode())
        answers.flush()

    def reap() -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            answer({"exited": pid, "code": os.waitstatus_to_exitcode(status)})

    buffer = b""
    fd = requests.fileno()
    while True:
        ready, _, _ = select.select([fd], [], [], 0.05)
        reap()
        if not ready:
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:  # kb closed the pipe: nothing more will be asked
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            request = json.loads(line)
            pid = os.fork()
            if pid == 0:
                try:
                    _child(request)
                finally:
                    os._exit(1)
            answer({"pid": pid})


def main() -> None:
    from kb.running import worker

    worker.die_with_parent()  # the server, and through it every seed, ends with kb
    try:  # the point of the server: the imports each seed would otherwise repeat
        import numpy  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        pass
    _serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
