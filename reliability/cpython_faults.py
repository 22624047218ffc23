#!/usr/bin/env python3
"""The reliability trials of //reliability:fault_suite_test, against CPython.

The same faults on CPython's multiprocessing: parties of a queue, a lock or a
pool at work, one SIGKILLed once it has made a random amount of progress,
and the same promises checked after (every item put arrives once and intact,
but for the one a killed consumer held; nothing waits forever). Every wait of
the test has a bound; a party or call still waiting after it counts as hung
(and is killed, so that the next trial starts clean). Each trial runs in an
interpreter of its own, bounded as a whole.

    python3 reliability/cpython_faults.py [--trials=N] [--seed=S] [--json=PATH]
        [--methods=fork,spawn,forkserver] [--scenarios=queue,lock,pool]

Writes rows in the schema of the C++ suite's reliability.json, with
implementation "cpython-<method>".
"""

import argparse
import glob
import json
import multiprocessing as mp
import os
import queue as queue_module
import random
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib

PRODUCERS = 2
CONSUMERS = 2
# How long a party may take before it counts as hung. Generous: the machine
# may be loaded, and a CPython hang is a hang forever.
BOUND = 10.0

# The board's words (a RawArray of int64): stop, overruns, done per
# producer, count and damaged per consumer, then the consumers' logs.
STOP, OVERRUNS, DONE = 0, 1, 2
COUNT = DONE + PRODUCERS
DAMAGED = COUNT + CONSUMERS
LOGS = DAMAGED + CONSUMERS


def make_item(producer, seq, large):
    size = 8
    if large:
        size = 1024 + zlib.crc32(struct.pack("<II", producer, seq)) % 23000
    payload = bytes((seq * 31 + producer * 7 + i) & 0xFF for i in range(size))
    return (producer, seq, zlib.crc32(payload), payload)


def check_item(item):
    try:
        producer, seq, check, payload = item
        if zlib.crc32(payload) != check:
            return None
        return producer, seq
    except Exception:
        return None


def produce(q, board, me, count, large):
    for seq in range(count):
        try:
            q.put(make_item(me, seq, large), timeout=20)
        except queue_module.Full:
            board[OVERRUNS] += 1
            return
        board[DONE + me] = seq + 1


def consume(q, board, me, capacity):
    log = LOGS + me * capacity
    count = 0
    while True:
        try:
            item = q.get(timeout=0.05)
        except queue_module.Empty:
            if board[STOP]:
                return
            continue
        except Exception:
            board[DAMAGED + me] += 1  # a frame that does not unpickle
            continue
        ident = check_item(item)
        if ident is None or count >= capacity:
            board[DAMAGED + me] += 1
            continue
        board[log + count] = ident[0] << 32 | ident[1]
        count += 1
        board[COUNT + me] = count


def wait_until(ready, bound):
    until = time.monotonic() + bound
    while not ready():
        if time.monotonic() >= until:
            return False
        time.sleep(0.0002)
    return True


def join_within(p, bound):
    p.join(bound)
    if p.exitcode is None:
        p.kill()
        p.join()
        return False
    return True


def spin(seconds):
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        pass


class Outcome:
    def __init__(self):
        self.killed = False
        self.hung = False
        self.lost = 0
        self.allowed_lost = 0
        self.duplicated = 0
        self.corrupted = 0
        self.problem = None

    def fail(self, what):
        if self.problem is None:
            self.problem = what


def kill(victim, out):
    victim.kill()
    victim.join(BOUND)
    out.killed = victim.exitcode == -signal.SIGKILL


def queue_trial(ctx, rnd, bounded, large):
    out = Outcome()
    n = rnd.randrange(10, 60) if large else rnd.randrange(40, 200)
    capacity = PRODUCERS * n
    board = ctx.RawArray("q", LOGS + CONSUMERS * capacity)
    q = ctx.Queue(4 if bounded else 0)
    parties = [ctx.Process(target=produce, args=(q, board, p, n, large)) for p in range(PRODUCERS)]
    parties += [ctx.Process(target=consume, args=(q, board, c, capacity)) for c in range(CONSUMERS)]
    for p in parties[PRODUCERS:] + parties[:PRODUCERS]:
        p.start()
    victim = rnd.randrange(PRODUCERS + CONSUMERS)
    consumer = victim >= PRODUCERS
    at = rnd.randrange(n + (1 if consumer else 0))

    def producers_done():
        return all(board[DONE + p] >= n for p in range(PRODUCERS))

    def reached():
        if consumer:
            return board[COUNT + victim - PRODUCERS] >= at or producers_done()
        return board[DONE + victim] >= at

    if not wait_until(reached, 30):
        out.hung = True
        out.fail("the victim made no progress")
    spin(rnd.randrange(50) / 1e6)
    kill(parties[victim], out)
    out.allowed_lost = 1 if consumer else 0
    for p in range(PRODUCERS):
        if p != victim and not join_within(parties[p], BOUND):
            out.hung = True
            out.fail("a producer never finished")
    board[STOP] = 1
    for c in range(CONSUMERS):
        if PRODUCERS + c != victim and not join_within(parties[PRODUCERS + c], BOUND):
            out.hung = True
            out.fail("a consumer never finished")
    if board[OVERRUNS]:
        out.hung = True
        out.fail("a put waited past its timeout")
    rest = []
    if not out.hung:
        deadline = time.monotonic() + BOUND
        while time.monotonic() < deadline:
            try:
                rest.append(q.get(timeout=0.05))
            except queue_module.Empty:
                break
            except Exception:
                out.corrupted += 1
                break
        else:
            out.hung = True
    seen = {}
    for c in range(CONSUMERS):
        out.corrupted += board[DAMAGED + c]
        for i in range(board[COUNT + c]):
            ident = board[LOGS + c * capacity + i]
            seen[ident] = seen.get(ident, 0) + 1
    for item in rest:
        ident = check_item(item)
        if ident is None:
            out.corrupted += 1
            continue
        key = ident[0] << 32 | ident[1]
        seen[key] = seen.get(key, 0) + 1
    out.duplicated = sum(times - 1 for times in seen.values() if times > 1)
    for p in range(PRODUCERS):
        for seq in range(board[DONE + p]):
            if (p << 32 | seq) not in seen:
                out.lost += 1
    # A queue whose feeder or reader died with its lock: let nothing of it
    # linger into the next trial.
    q.cancel_join_thread()
    return out


INSIDE, TOTAL, TOO_MANY, LOCK_OVERRUNS, ROUNDS = 0, 1, 2, 3, 4


def lock_party(lock, board, me, rounds):
    for i in range(rounds):
        if not lock.acquire(timeout=20):
            board[LOCK_OVERRUNS] += 1
            return
        board[INSIDE] += 1
        if board[INSIDE] > 1:
            board[TOO_MANY] += 1
        t = board[TOTAL]
        board[TOTAL] = t + 1
        board[INSIDE] -= 1
        lock.release()
        board[ROUNDS + me] = i + 1


def lock_trial(ctx, rnd):
    out = Outcome()
    rounds = rnd.randrange(100, 500)
    board = ctx.RawArray("q", ROUNDS + 3)
    lock = ctx.Lock()
    parties = [ctx.Process(target=lock_party, args=(lock, board, i, rounds)) for i in range(3)]
    for p in parties:
        p.start()
    victim = rnd.randrange(3)
    at = rnd.randrange(rounds)
    if not wait_until(lambda: board[ROUNDS + victim] >= at, 30):
        out.hung = True
    spin(rnd.randrange(30) / 1e6)
    kill(parties[victim], out)
    for i in range(3):
        if i != victim and not join_within(parties[i], BOUND):
            out.hung = True
            out.fail("a survivor waited forever for the dead holder")
    if board[TOO_MANY]:
        out.corrupted += 1
    if not out.hung and not lock.acquire(timeout=BOUND):
        out.hung = True
        out.fail("the lock could not be taken after the kill")
    return out


def pool_task(x):
    started, finished = POOL_BOARD
    started[x] = os.getpid()
    spin(0.0001)
    finished[x] = 1
    return 3 * x + 1


POOL_BOARD = None


def pool_init(started, finished):
    global POOL_BOARD
    POOL_BOARD = (started, finished)


def pool_trial(ctx, rnd, imap):
    out = Outcome()
    tasks = rnd.randrange(60, 180)
    chunksize = rnd.randrange(1, 4)
    started = ctx.RawArray("q", tasks)
    finished = ctx.RawArray("q", tasks)
    pool = ctx.Pool(3, initializer=pool_init, initargs=(started, finished))
    at = rnd.randrange(tasks)
    extra = rnd.randrange(50) / 1e6

    def killer():
        if wait_until(lambda: started[at] != 0, 30):
            spin(extra)
            os.kill(started[at], signal.SIGKILL)
            out.killed = True

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        deadline = time.monotonic() + BOUND
        if imap:
            # With a chunksize above 1 CPython's imap() returns a plain
            # generator, whose next() takes no timeout.
            it = pool.imap(pool_task, range(tasks), 1)
            for _ in range(tasks):
                try:
                    it.next(timeout=max(0.01, deadline - time.monotonic()))
                except mp.TimeoutError:
                    out.hung = True
                    out.fail("imap never delivered the killed worker's task")
                    break
        else:
            try:
                ys = pool.map_async(pool_task, range(tasks), chunksize).get(BOUND)
                if ys != [3 * x + 1 for x in range(tasks)]:
                    out.corrupted += 1
            except mp.TimeoutError:
                out.hung = True
                out.fail("map never finished")
    finally:
        thread.join()
        pool.terminate()
        pool.join()
    return out


def scenarios(selected):
    out = []
    if "queue" in selected:
        for bounded in (False, True):
            for large in (False, True):
                name = "queue/%s/%s" % ("bounded" if bounded else "unbounded", "large" if large else "small")
                out.append((name, lambda ctx, rnd, b=bounded, l=large: queue_trial(ctx, rnd, b, l)))
    if "lock" in selected:
        out.append(("lock", lock_trial))
    if "pool" in selected:
        out.append(("pool/map", lambda ctx, rnd: pool_trial(ctx, rnd, False)))
        out.append(("pool/imap", lambda ctx, rnd: pool_trial(ctx, rnd, True)))
    return out


# A whole trial, in its own interpreter, may take this long; past it the
# trial is hung (CPython's Pool.terminate() or a queue's feeder thread can
# wait forever for a party killed holding a lock) and its process group is
# killed, so that the next trial starts clean.
TRIAL_BOUND = 8 * BOUND


def one_trial(name, method, seed, index):
    """Runs trial `index` of scenario `name` here; prints its outcome as JSON."""
    ctx = mp.get_context(method)
    run = dict(scenarios([name.split("/")[0]]))[name]
    rnd = random.Random("%d/%s/%s/%d" % (seed, name, method, index))
    try:
        out = run(ctx, rnd)
    except Exception as e:  # a broken pipe, an unpicklable frame...
        out = Outcome()
        out.corrupted += 1
        out.fail("the trial raised %r" % e)
    for child in mp.active_children():
        child.kill()
        child.join()
    print(json.dumps(vars(out)), flush=True)
    # Threads of a queue or pool left waiting for a dead party must not keep
    # this interpreter alive.
    os._exit(0)


def cpython_semaphores():
    """The named semaphores CPython's multiprocessing has made (/dev/shm/sem.mp-*)."""
    return set(glob.glob("/dev/shm/sem.mp-*"))


def run_isolated(name, method, seed, index):
    before = cpython_semaphores()
    try:
        return run_trial_process(name, method, seed, index)
    finally:
        # A killed process group takes its resource tracker with it, so the
        # trial's semaphores stay behind: remove those it made.
        for path in cpython_semaphores() - before:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def run_trial_process(name, method, seed, index):
    argv = [sys.executable, os.path.abspath(__file__), "--one=" + name, "--methods=" + method,
            "--seed=%d" % seed, "--index=%d" % index]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, start_new_session=True)
    try:
        stdout, _ = child.communicate(timeout=TRIAL_BOUND)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        out = Outcome()
        out.hung = True
        out.fail("the trial overran %d s" % TRIAL_BOUND)
        return out
    finally:
        try:
            os.killpg(child.pid, signal.SIGKILL)  # whatever it left behind
        except ProcessLookupError:
            pass
    out = Outcome()
    try:
        vars(out).update(json.loads(stdout.decode().strip().splitlines()[-1]))
    except (ValueError, IndexError):
        out.corrupted += 1
        out.fail("the trial died (exit %s)" % child.returncode)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--json", default="")
    parser.add_argument("--methods", default="fork,spawn,forkserver")
    parser.add_argument("--scenarios", default="queue,lock,pool")
    parser.add_argument("--one", default="", help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one_trial(args.one, args.methods, args.seed, args.index)
    rows = []
    for method in args.methods.split(","):
        for name, _ in scenarios(args.scenarios.split(",")):
            row = {"scenario": name, "implementation": "cpython-" + method, "trials": 0, "killed": 0,
                   "survived": 0, "hung": 0, "lost": 0, "duplicated": 0, "corrupted": 0}
            started = time.monotonic()
            for i in range(args.trials):
                out = run_isolated(name, method, args.seed, i)
                row["trials"] += 1
                row["killed"] += out.killed
                row["hung"] += out.hung
                row["lost"] += out.lost
                row["duplicated"] += out.duplicated
                row["corrupted"] += out.corrupted
                ok = (not out.hung and out.lost <= out.allowed_lost and not out.duplicated
                      and not out.corrupted and out.problem is None)
                row["survived"] += ok
            row["seconds"] = round(time.monotonic() - started, 1)
            rows.append(row)
            print("%-24s %-18s trials %3d killed %3d survived %3d hung %3d lost %4d dup %d corrupt %d  %.0f s"
                  % (name, row["implementation"], row["trials"], row["killed"], row["survived"], row["hung"],
                     row["lost"], row["duplicated"], row["corrupted"], row["seconds"]), flush=True)
    report = {"seed": args.seed, "python": sys.version.split()[0], "rows": rows}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    else:
        json.dump(report, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
