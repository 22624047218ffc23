"""CPython's side of the benchmark matrix.

Runs the scenarios of benchmarks/*_benchmark.cc with CPython's own
multiprocessing, once per start method (rows `impl:cpython-fork`,
`cpython-spawn`, `cpython-forkserver`) and, where Python has one, with
multiprocessing.dummy (`impl:cpython-threads`). Rows are named exactly like
mp's, `<primitive>.<scenario>/impl:<impl>/<arg>:<value>`, and the output is
Google Benchmark's JSON schema, so one report holds both.

Usage: python3 cpython_bench.py [--benchmark_filter=REGEX] [--rows=FILE] [--list]
                                [--benchmark_min_time=SECONDS] [--benchmark_repetitions=N]
                                [--run_id=ID] [--progress=DONE/TOTAL/START] [--out=FILE]

  --benchmark_filter  rows to run (a Python regular expression searched in the
                      name; a leading '-' negates)
  --rows              run the rows FILE names, one per line
  --list              print the selected rows' names and exit
  --run_id            recorded in the JSON's context (mp_run_id), as mp's rows do
  --progress          count progress across invocations (run.sh): runs made
                      before this one, runs in the whole run, and when it
                      started (seconds since the epoch)

Every row is set up once (its parties started and one untimed operation
made), then measured --benchmark_repetitions times; a row whose repetition
takes more than SLOW_REPETITION seconds stops at 3. The JSON holds one
iteration row per repetition.
"""

import json
import multiprocessing
import multiprocessing.dummy
import os
import platform
import re
import shutil
import sys
import threading
import time

METHODS = ["fork", "spawn", "forkserver"]


def noop():
    pass


# Scenarios --------------------------------------------------------------------
# Each is a generator function taking (impl, ctx) that yields (rows): a row is
# (args, setup) where setup() returns (op, items_per_op, teardown). `op()` does
# one iteration of the measured work.


PARENT_MIB = (0, 256, 1024)


def process_start_join(impl, ctx):
    """Start + join of a child that does nothing, from a parent that has
    touched `mib` MiB of memory of its own (a bytearray written through)."""
    Process = multiprocessing.dummy.Process if impl == "threads" else ctx.Process
    for mib in PARENT_MIB:
        def setup(mib=mib):
            ballast = bytearray(b"\x5a") * (mib << 20)

            def op():
                p = Process(target=noop)
                p.start()
                p.join()

            def teardown():
                del ballast[:]
            return op, 1, teardown
        yield [("parent_mib", mib)], setup


def api(impl, ctx):
    """The module that plays the implementation: a context, or dummy."""
    if impl == "threads":
        return multiprocessing.dummy
    return ctx if ctx is not None else multiprocessing


def uncontended(kind):
    batch = 1000

    def rows(impl, ctx):
        def setup():
            m = api(impl, ctx)
            lock = m.Semaphore(1) if kind == "Semaphore" else getattr(m, kind)()
            acquire, release = lock.acquire, lock.release

            def op():
                for _ in range(batch):
                    acquire()
                    release()
            return op, batch, None
        yield [], setup
    return rows


INCREMENTS = 20000
# CPython's Process.start() drops its references to the arguments, and a
# spawn child unpickles them later: a Lock nobody else holds would be
# unlinked before the child opens it. The rows keep theirs here.
_alive = []


def contend(lock, counter, go, done, stop):
    while True:
        go.acquire()
        if stop.is_set():
            return
        for _ in range(INCREMENTS):
            with lock:
                counter.value += 1
        done.release()


def _two_party_rounds(go, done, stop, parties):
    """(op, teardown) for two started parties that each do one round per go
    token and answer with done; teardown sets stop and joins them."""
    def op():
        go.release()
        go.release()
        done.acquire()
        done.acquire()

    def teardown():
        stop.set()
        go.release()
        go.release()
        for p in parties:
            p.join()
    return op, teardown


def _two_contenders(m, lock, counter):
    """Two parties that each add INCREMENTS to counter under lock per op()."""
    go, done, stop = m.Semaphore(0), m.Semaphore(0), m.Event()
    _alive.append((lock, counter, go, done, stop))
    workers = [m.Process(target=contend, args=(lock, counter, go, done, stop)) for _ in range(2)]
    for w in workers:
        w.start()
    op, teardown = _two_party_rounds(go, done, stop, workers)
    return op, 2 * INCREMENTS, teardown


def lock_contended(impl, ctx):
    def setup():
        m = api(impl, ctx)
        if impl == "threads":
            class Box:
                value = 0
            counter = Box()
        else:
            counter = m.RawValue("q", 0)
        return _two_contenders(m, m.Lock(), counter)
    yield [("parties", 2)], setup


def echo_events(ping, pong, stop):
    while True:
        ping.wait()
        ping.clear()
        if stop.is_set():
            return
        pong.set()


def event_pingpong(impl, ctx):
    def setup():
        m = api(impl, ctx)
        ping, pong, stop = m.Event(), m.Event(), m.Event()
        partner = m.Process(target=echo_events, args=(ping, pong, stop))
        partner.start()

        def op():
            ping.set()
            pong.wait()
            pong.clear()

        def teardown():
            stop.set()
            ping.set()
            partner.join()
        return op, 1, teardown
    yield [], setup


def echo_condition(cond, turn, stop):
    with cond:
        while True:
            cond.wait_for(lambda: turn.value % 2 == 1 or stop.is_set())
            if stop.is_set():
                return
            turn.value += 1
            cond.notify()


def condition_pingpong(impl, ctx):
    def setup():
        m = api(impl, ctx)
        if impl == "threads":
            class Box:
                value = 0
            turn = Box()
        else:
            turn = m.RawValue("q", 0)
        cond, stop = m.Condition(), m.Event()
        partner = m.Process(target=echo_condition, args=(cond, turn, stop))
        partner.start()
        cond.acquire()

        def op():
            turn.value += 1
            cond.notify()
            cond.wait_for(lambda: turn.value % 2 == 0)

        def teardown():
            stop.set()
            cond.notify()
            cond.release()
            partner.join()
        return op, 1, teardown
    yield [], setup


def pass_barrier(barrier):
    try:
        while True:
            barrier.wait()
    except threading.BrokenBarrierError:
        pass


def barrier_cycle(impl, ctx):
    def setup():
        m = api(impl, ctx)
        barrier = m.Barrier(2)
        partner = m.Process(target=pass_barrier, args=(barrier,))
        partner.start()

        def teardown():
            barrier.abort()
            partner.join()
        return barrier.wait, 1, teardown
    yield [("parties", 2)], setup
def _stream(out, stop, size):
    payload = b"x" * size
    batch = max(1, 65536 // size)
    while True:
        for _ in range(batch):
            out.send_bytes(payload)
        if stop.poll():
            break
    out.send_bytes(b"")  # the end


def _echo(conn):
    while True:
        m = conn.recv_bytes()
        if not m:
            break
        conn.send_bytes(m)


def _serve(report, family):
    from multiprocessing.connection import Listener
    with Listener(family=family, backlog=16) as listener:
        report.send(listener.address)
        while True:
            with listener.accept() as c:
                m = c.recv_bytes()
                if not m:
                    break
                c.send_bytes(m)


def _starter(impl, ctx):
    """(Process, Pipe, child_owns_copies) for an implementation: processes of
    a start method, or multiprocessing.dummy (threads, queue-based Pipe)."""
    if impl == "threads":
        return multiprocessing.dummy.Process, multiprocessing.dummy.Pipe, False
    return ctx.Process, ctx.Pipe, True


def pipe_throughput(impl, ctx):
    Process, Pipe, own = _starter(impl, ctx)
    for size in (64, 4096, 1048576):
        def setup(size=size):
            reader, writer = Pipe(False) if impl != "threads" else Pipe()
            stop_r, stop_w = Pipe(False) if impl != "threads" else Pipe()
            p = Process(target=_stream, args=(writer, stop_r, size))
            p.start()
            if own:
                writer.close()

            def teardown():
                stop_w.send_bytes(b"stop")
                while reader.recv_bytes():
                    pass
                p.join()
            return reader.recv_bytes, 1, teardown
        yield [("payload", size)], setup


def pipe_pingpong(impl, ctx):
    Process, Pipe, own = _starter(impl, ctx)

    def setup():
        conn, child_conn = Pipe()
        p = Process(target=_echo, args=(child_conn,))
        p.start()
        if own:
            child_conn.close()
        payload = b"p" * 64

        def op():
            conn.send_bytes(payload)
            conn.recv_bytes()

        def teardown():
            conn.send_bytes(b"")
            p.join()
        return op, 1, teardown
    yield [("payload", 64)], setup


def listener_roundtrip(impl, ctx):
    from multiprocessing.connection import Client
    # Real sockets for every row; "threads" serves from a thread.
    Process = multiprocessing.dummy.Process if impl == "threads" else ctx.Process
    Pipe = multiprocessing.Pipe if impl == "threads" else ctx.Pipe
    for family, name in (("AF_UNIX", "unix"), ("AF_INET", "tcp")):
        def setup(family=family):
            report_r, report_w = Pipe(False)
            p = Process(target=_serve, args=(report_w, family))
            p.start()
            address = report_r.recv()
            payload = b"l" * 64

            def op():
                with Client(address) as c:
                    c.send_bytes(payload)
                    c.recv_bytes()

            def teardown():
                with Client(address) as c:
                    c.send_bytes(b"")
                p.join()
            return op, 1, teardown
        yield [("family", name)], setup


# Queues: CPython's per-item cost is ~5 us, so an iteration moves fewer items
# than mp's 100k; rows report per-item figures, which do not depend on that.
QUEUE_BATCH = 10000


def _queue_api(impl, ctx):
    """(module, SimpleQueue) for an implementation; dummy has no SimpleQueue,
    so threads get queue.SimpleQueue."""
    import queue
    m = api(impl, ctx)
    return m, (queue.SimpleQueue if impl == "threads" else m.SimpleQueue)


def _produce_rounds(q, go, done, stop, count, size):
    item = b"q" * size if size != 8 else 12345678
    while True:
        go.acquire()
        if stop.is_set():
            return
        for _ in range(count):
            q.put(item)
        done.release()


def _consume_rounds(q, go, done, stop, count, size):
    while True:
        go.acquire()
        if stop.is_set():
            return
        for _ in range(count):
            q.get()
        done.release()


def _rounds(m, q, producers, consumers, size, count=QUEUE_BATCH):
    """Parties that move `count` items through q per op(); (op, teardown)."""
    # One go-semaphore per party: with a shared one a quick party could take
    # a second turn in the same round and leave another waiting forever.
    count_of = [count // producers] * producers + [count // max(1, consumers)] * consumers
    gos = [m.Semaphore(0) for _ in count_of]
    done, stop = m.Semaphore(0), m.Event()
    parties = [m.Process(target=_produce_rounds if i < producers else _consume_rounds,
                         args=(q, gos[i], done, stop, count_of[i], size))
               for i in range(len(count_of))]
    for p in parties:
        p.start()
    _alive.append((q, gos, done, stop))

    def op():
        for go in gos:
            go.release()
        for _ in parties:
            done.acquire()

    def teardown():
        stop.set()
        for go in gos:
            go.release()
        for p in parties:
            p.join()
    return op, teardown


def queue_throughput(impl, ctx):
    for producers, consumers, size in ((1, 1, 8), (1, 1, 64), (1, 1, 4096), (2, 2, 64)):
        def setup(producers=producers, consumers=consumers, size=size):
            m = api(impl, ctx)
            op, teardown = _rounds(m, m.Queue(10000), producers, consumers, size)
            return op, QUEUE_BATCH, teardown
        yield [("producers", producers), ("consumers", consumers), ("payload", size)], setup


def _echo_queue(inbox, outbox):
    while True:
        item = inbox.get()
        if item is None:
            return
        outbox.put(item)


def queue_pingpong(impl, ctx):
    def setup():
        m = api(impl, ctx)
        there, back = m.Queue(), m.Queue()
        partner = m.Process(target=_echo_queue, args=(there, back))
        partner.start()
        _alive.append((there, back))

        def op():
            there.put(12345678)
            back.get()

        def teardown():
            there.put(None)
            partner.join()
        return op, 1, teardown
    yield [("payload", 8)], setup


def simplequeue_throughput(impl, ctx):
    def setup():
        m, SimpleQueue = _queue_api(impl, ctx)
        q = SimpleQueue()
        go, done, stop = m.Semaphore(0), m.Semaphore(0), m.Event()
        producer = m.Process(target=_produce_rounds, args=(q, go, done, stop, QUEUE_BATCH, 8))
        producer.start()
        _alive.append((q, go, done, stop))

        # Consumed while produced: a SimpleQueue is a pipe, and a producer
        # that filled it would wait for this reader.
        def op():
            go.release()
            for _ in range(QUEUE_BATCH):
                q.get()
            done.acquire()

        def teardown():
            stop.set()
            go.release()
            producer.join()
        return op, QUEUE_BATCH, teardown
    yield [("payload", 8)], setup


def _work_and_mark_done(q):
    while True:
        v = q.get()
        q.task_done()
        if v < 0:
            return


def joinablequeue_task_done(impl, ctx):
    batch = 2000

    def setup():
        m = api(impl, ctx)
        q = m.JoinableQueue(10000)
        worker = m.Process(target=_work_and_mark_done, args=(q,))
        worker.start()
        _alive.append(q)

        def op():
            for i in range(batch):
                q.put(i)
            q.join()

        def teardown():
            q.put(-1)
            worker.join()
        return op, batch, teardown
    yield [], setup


# Pools: the scenarios of pool_benchmark.cc, two workers.


def _spin(ns):
    """ns of wall time, as mp's tasks spin (pool_benchmark.cc says why)."""
    if ns:
        end = time.perf_counter_ns() + ns
        while time.perf_counter_ns() < end:
            pass


def _task(work):
    i, grain = work
    _spin(grain)
    return i


def _identity(x):
    return x


def _make_pool(impl, ctx, n=2):
    if impl == "threads":
        import multiprocessing.pool
        return multiprocessing.pool.ThreadPool(n)
    return ctx.Pool(n)


def _pool_rows(impl, ctx, tasks, grain, chunksize, processes=2):
    def setup():
        pool = _make_pool(impl, ctx, processes)
        xs = [(i, grain) for i in range(tasks)]
        cs = chunksize or None
        pool.map(_task, xs[:10])  # the workers are up

        def op():
            pool.map(_task, xs, cs)

        def teardown():
            pool.terminate()
            pool.join()
        return op, tasks, teardown
    return setup


# pool_benchmark.cc's task counts: fewer where each task is its own message.
ONE_BY_ONE_TASKS = 10000


def _map_tasks(grain, chunksize):
    if grain == 100000:
        return 1000
    return ONE_BY_ONE_TASKS if chunksize == 1 else 100000


def pool_map(impl, ctx):
    for grain in (0, 1000, 100000):
        for chunksize in (0, 1):
            tasks = _map_tasks(grain, chunksize)
            yield ([("tasks", tasks), ("grain_ns", grain), ("chunksize", chunksize)],
                   _pool_rows(impl, ctx, tasks, grain, chunksize))
    for processes in (1, 2):
        yield ([("tasks", 1000), ("grain_ns", 100000), ("processes", processes)],
               _pool_rows(impl, ctx, 1000, 100000, 0, processes))


def pool_imap_unordered(impl, ctx):
    tasks = ONE_BY_ONE_TASKS

    def setup():
        pool = _make_pool(impl, ctx)
        xs = list(range(tasks))
        pool.map(_identity, xs[:10])

        def op():
            for _ in pool.imap_unordered(_identity, xs):
                pass

        def teardown():
            pool.terminate()
            pool.join()
        return op, len(xs), teardown
    yield [("tasks", tasks), ("chunksize", 1)], setup


def pool_apply_roundtrip(impl, ctx):
    def setup():
        pool = _make_pool(impl, ctx)
        pool.apply(_identity, (1,))

        def teardown():
            pool.terminate()
            pool.join()
        return (lambda: pool.apply(_identity, (7,))), 1, teardown
    yield [], setup


def pool_create_close_join(impl, ctx):
    def setup():
        def op():
            pool = _make_pool(impl, ctx)
            pool.close()
            pool.join()
        return op, 1, None
    yield [], setup


def _locked_value(impl, m):
    """The raw value of a 'q' Value and the lock that guards it: `with lock:
    raw.value += 1` takes one lock pair, as mp's rows do (`v.value += 1` on
    the synchronized wrapper would take its RLock twice more, in the getter
    and the setter). multiprocessing.dummy's Value is a plain object with no
    lock: it gets an RLock, as mp::dummy's does."""
    if impl == "threads":
        return multiprocessing.dummy.Value("q", 0), multiprocessing.dummy.RLock()
    v = m.Value("q", 0)
    _alive.append(v)
    return v.get_obj(), v.get_lock()


def value_increment_locked(impl, ctx):
    batch = 1000

    def setup():
        raw, lock = _locked_value(impl, api(impl, ctx))

        def op():
            for _ in range(batch):
                with lock:
                    raw.value += 1
        return op, batch, None
    yield [], setup


def value_increment_locked_2(impl, ctx):
    def setup():
        m = api(impl, ctx)
        raw, lock = _locked_value(impl, m)
        return _two_contenders(m, lock, raw)
    yield [("parties", 2)], setup


FILL_SIZE = 1048576


def array_fill(impl, ctx):
    import array

    def setup():
        m = api(impl, ctx)
        # multiprocessing.dummy.Array wants a sequence (it is array.array).
        arr = m.Array("d", [0.0] * FILL_SIZE if impl == "threads" else FILL_SIZE)
        src = array.array("d", range(FILL_SIZE))
        arr[:] = src

        def op():
            arr[:] = src
        return op, FILL_SIZE, None
    yield [("size", FILL_SIZE)], setup


# Managers: the scenarios of manager_benchmark.cc; the server is started
# under each context. A call costs tens of microseconds, so an iteration
# makes MANAGER_BATCH of them (rows report per call).
MANAGER_BATCH = 200


def _manager_rows(call):
    """Rows of one manager scenario: call(m) makes the objects and returns
    the op that makes one call (a lock: one acquire/release pair)."""
    def rows(impl, ctx):
        def setup():
            m = ctx.Manager()
            one = call(m)
            one()  # connected

            def op():
                for _ in range(MANAGER_BATCH):
                    one()
            return op, MANAGER_BATCH, m.shutdown
        yield [], setup
    return rows


def _dict_get(m):
    d = m.dict({7: 42})
    return lambda: d[7]


def _dict_set(m):
    d = m.dict()

    def one():
        d[7] = 42
    return one


def _list_append(m):
    append = m.list().append
    return lambda: append(42)


def _lock_pair(m):
    lock = m.Lock()
    acquire, release = lock.acquire, lock.release

    def one():
        acquire()
        release()
    return one


def _hammer_dict(d, go, done, stop, count):
    d[7]  # connected
    done.release()
    while True:
        go.acquire()
        if stop.is_set():
            return
        for _ in range(count):
            d[7]
        done.release()


def manager_dict_get_2(impl, ctx):
    # Per call as seen overall: an iteration's wall time over the calls both
    # clients made in it.
    def setup():
        m = ctx.Manager()
        d = m.dict({7: 42})
        go, done, stop = ctx.Semaphore(0), ctx.Semaphore(0), ctx.Event()
        # A spawned child's proxy holds no reference of its own in the
        # server: ours must outlive the row, or the server drops the dict.
        _alive.append((d, go, done, stop))
        clients = [ctx.Process(target=_hammer_dict, args=(d, go, done, stop, MANAGER_BATCH))
                   for _ in range(2)]
        for c in clients:
            c.start()
        done.acquire()  # both connected: their start-up is not timed
        done.acquire()
        op, stop_clients = _two_party_rounds(go, done, stop, clients)

        def teardown():
            stop_clients()
            m.shutdown()
        return op, 2 * MANAGER_BATCH, teardown
    yield [("clients", 2)], setup


# Executors (concurrent.futures): the scenarios of executor_benchmark.cc, two
# workers; `threads` is ThreadPoolExecutor.


def _make_executor(impl, ctx):
    import concurrent.futures
    if impl == "threads":
        return concurrent.futures.ThreadPoolExecutor(2)
    return concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx)


def _executor_rows(impl, ctx, make_op, items):
    def setup():
        executor = _make_executor(impl, ctx)
        op = make_op(executor)
        list(executor.map(_identity, range(8)))  # the workers are up

        def teardown():
            executor.shutdown(wait=True)
        return op, items, teardown
    return setup


def executor_submit_roundtrip(impl, ctx):
    def make_op(executor):
        return lambda: executor.submit(_identity, 7).result()
    yield [], _executor_rows(impl, ctx, make_op, 1)


def executor_map(impl, ctx):
    xs = list(range(100000))
    for chunksize in (1, 64):
        def make_op(executor, chunksize=chunksize):
            def op():
                for _ in executor.map(_identity, xs, chunksize=chunksize):
                    pass
            return op
        yield [("tasks", len(xs)), ("chunksize", chunksize)], _executor_rows(impl, ctx, make_op, len(xs))


def executor_as_completed(impl, ctx):
    import concurrent.futures
    n = 10000

    def make_op(executor):
        def op():
            fs = [executor.submit(_identity, i) for i in range(n)]
            for f in concurrent.futures.as_completed(fs):
                f.result()
        return op
    yield [("futures", n)], _executor_rows(impl, ctx, make_op, n)


SCENARIOS = [
    ("process.start_join", process_start_join, "us", METHODS + ["threads"]),
    ("lock.uncontended", uncontended("Lock"), "ns", ["processes", "threads"]),
    ("rlock.uncontended", uncontended("RLock"), "ns", ["processes", "threads"]),
    ("semaphore.uncontended", uncontended("Semaphore"), "ns", ["processes", "threads"]),
    ("lock.contended", lock_contended, "us", METHODS + ["threads"]),
    ("event.pingpong", event_pingpong, "us", METHODS + ["threads"]),
    ("condition.pingpong", condition_pingpong, "us", METHODS + ["threads"]),
    ("barrier.cycle", barrier_cycle, "us", METHODS + ["threads"]),
    ("pipe.throughput", pipe_throughput, "us", METHODS + ["threads"]),
    ("pipe.pingpong", pipe_pingpong, "us", METHODS + ["threads"]),
    ("listener.roundtrip", listener_roundtrip, "us", METHODS + ["threads"]),
    ("queue.throughput", queue_throughput, "ms", METHODS + ["threads"]),
    ("queue.pingpong", queue_pingpong, "us", METHODS + ["threads"]),
    ("simplequeue.throughput", simplequeue_throughput, "ms", METHODS + ["threads"]),
    ("joinablequeue.task_done", joinablequeue_task_done, "ms", METHODS + ["threads"]),
    ("pool.map", pool_map, "ms", METHODS + ["threads"]),
    ("pool.imap_unordered", pool_imap_unordered, "ms", METHODS + ["threads"]),
    ("pool.apply.roundtrip", pool_apply_roundtrip, "us", METHODS + ["threads"]),
    ("pool.create_close_join", pool_create_close_join, "ms", METHODS + ["threads"]),
    ("value.increment_locked", value_increment_locked, "ns", ["processes", "threads"]),
    ("value.increment_locked", value_increment_locked_2, "us", METHODS + ["threads"]),
    ("array.fill", array_fill, "us", ["processes", "threads"]),
    ("manager.dict_get", _manager_rows(_dict_get), "us", METHODS),
    ("manager.dict_set", _manager_rows(_dict_set), "us", METHODS),
    ("manager.list_append", _manager_rows(_list_append), "us", METHODS),
    ("manager.lock_acquire_release", _manager_rows(_lock_pair), "us", METHODS),
    ("manager.dict_get", manager_dict_get_2, "us", METHODS),
    ("executor.submit.roundtrip", executor_submit_roundtrip, "us", METHODS + ["threads"]),
    ("executor.map", executor_map, "ms", METHODS + ["threads"]),
    ("executor.as_completed", executor_as_completed, "ms", METHODS + ["threads"]),
]


# Harness ------------------------------------------------------------------------

# A row whose repetition takes longer than this (CPython's one-task-per-message
# pool rows) stops at 3 repetitions: its spread is still seen, the matrix stays
# short.
SLOW_REPETITION = 2.0
SLOW_REPETITIONS = 3


def row_name(scenario, impl, args):
    return "%s/impl:cpython-%s%s" % (scenario, impl, "".join("/%s:%s" % kv for kv in args))


def matches(name, pattern):
    if not pattern:
        return True
    if pattern.startswith("-"):
        return re.search(pattern[1:], name) is None
    return re.search(pattern, name) is not None


def all_rows():
    """(name, unit, setup) of every row, in the order of SCENARIOS."""
    for scenario, make_rows, unit, impls in SCENARIOS:
        for impl in impls:
            ctx = multiprocessing.get_context(impl) if impl in METHODS else None
            for args, setup in make_rows(impl, ctx):
                yield row_name(scenario, impl, args), unit, setup


def measure(op, min_time, min_iterations):
    """Runs op() until min_time has passed (and at least min_iterations);
    returns (iterations, seconds of real time, seconds of CPU time)."""
    iterations = 0
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    while True:
        op()
        iterations += 1
        elapsed = time.perf_counter() - t0
        # A slow row (a second per iteration) need not repeat to be steady.
        if elapsed >= min_time and (iterations >= min_iterations or elapsed >= 1.0):
            return iterations, elapsed, time.process_time() - cpu0


UNIT = {"ns": 1e9, "us": 1e6, "ms": 1e3, "s": 1.0}


def entry(name, index, iterations, real, cpu, unit, items):
    per = UNIT[unit] / iterations
    return {
        "name": name,
        "family_index": 0,
        "per_family_instance_index": 0,
        "run_name": name,
        "run_type": "iteration",
        "repetitions": 0,  # filled in once the row is done
        "repetition_index": index,
        "threads": 1,
        "iterations": iterations,
        "real_time": real * per,
        "cpu_time": cpu * per,
        "time_unit": unit,
        "items_per_second": iterations * items / real,
    }


def fmt_figure(seconds):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return "%.3g %s" % (seconds / scale, unit)
    return "%.3g ns" % (seconds * 1e9)


def fmt_duration(seconds):
    s = int(round(seconds))
    if s >= 3600:
        return "%dh%02dm" % (s // 3600, s // 60 % 60)
    if s >= 60:
        return "%dm%02ds" % (s // 60, s % 60)
    return "%ds" % s


class Progress:
    """`[k/N] <row> ... elapsed, about M min left`: rewritten in place on a
    terminal (cut to its width), a line of its own otherwise. Under run.sh
    (--progress) the line stays open for the next invocation to rewrite."""

    def __init__(self, done, total, started, standalone):
        self.done, self.total, self.started = done, total, started
        self.standalone = standalone
        self.tty = sys.stdout.isatty()

    def report(self, name, index, repetitions, figure):
        self.done += 1
        elapsed = time.time() - self.started
        left = elapsed / self.done * max(0, self.total - self.done)
        line = "[%d/%d] %s (%d/%d) %s … %s elapsed, %s" % (
            self.done, self.total, name, index, repetitions, figure, fmt_duration(elapsed),
            "about %d min left" % -(-left // 60) if left >= 60 else "less than a minute left")
        if self.tty:
            width = shutil.get_terminal_size().columns
            sys.stdout.write("\r\033[K" + line[:max(1, width - 1)])
        else:
            sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def finish(self):
        if self.tty and self.standalone:
            sys.stdout.write("\n")
        sys.stdout.flush()


def parse(argv):
    opts = {"benchmark_filter": "", "benchmark_min_time": "0.05", "benchmark_repetitions": "1",
            "out": "", "rows": "", "run_id": "", "progress": "", "list": None}
    for arg in argv:
        key, eq, value = arg.lstrip("-").partition("=")
        if key not in opts:
            sys.exit("cpython_bench.py: unknown argument %s" % arg)
        opts[key] = value if eq else True
    return opts


def main(argv):
    opts = parse(argv)
    min_time = float(opts["benchmark_min_time"].rstrip("s"))
    repetitions = max(1, int(opts["benchmark_repetitions"]))
    if opts["rows"]:
        with open(opts["rows"]) as f:
            wanted = [line.strip() for line in f if line.strip()]
        known = {name: (unit, setup) for name, unit, setup in all_rows()}
        missing = [name for name in wanted if name not in known]
        if missing:
            sys.exit("cpython_bench.py: no row %s" % missing[0])
        rows = [(name,) + known[name] for name in wanted]
    else:
        rows = [r for r in all_rows() if matches(r[0], opts["benchmark_filter"])]
    if opts["list"]:
        for name, _, _ in rows:
            print(name)
        return 0
    if opts["progress"]:
        done, total, started = opts["progress"].split("/")
        progress = Progress(int(done), int(total), float(started), False)
    else:
        progress = Progress(0, len(rows) * repetitions, time.time(), True)
    context = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "executable": sys.executable,
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "num_cpus": os.cpu_count(),
        "load_avg": list(os.getloadavg()),
    }
    if opts["run_id"]:
        context["mp_run_id"] = opts["run_id"]
    results = []
    failed = False
    for name, unit, setup in rows:
        runs = []
        try:
            op, items, teardown = setup()
            op()  # the row's parties are running; nothing starts while timed
            for index in range(repetitions):
                iterations, real, cpu = measure(op, min_time, 3)
                runs.append(entry(name, index, iterations, real, cpu, unit, items))
                progress.report(name, index + 1, repetitions, fmt_figure(real / iterations / items))
                if real >= SLOW_REPETITION and len(runs) >= SLOW_REPETITIONS:
                    progress.done += repetitions - len(runs)
                    break
            if teardown:
                teardown()
        except Exception as e:  # the row is reported as failed; the others run
            failed = True
            runs = [dict(entry(name, 0, 1, 1.0, 1.0, unit, 1), error_occurred=True,
                         error_message="%s: %s" % (type(e).__name__, e))]
            progress.report(name, 1, 1, "error: %s" % e)
        for run in runs:
            run["repetitions"] = len(runs)
        results.extend(runs)
    progress.finish()
    if opts["out"]:
        with open(opts["out"], "w") as f:
            json.dump({"context": context, "benchmarks": results}, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
