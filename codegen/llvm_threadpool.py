"""The thread pool parallel loops run on: LLVM IR JIT-compiled once per process.

A kernel runs a parallel loop as `tf_parallel_for(body, closure, extent, nthreads)`, where
`body(closure, begin, end)` runs iterations [begin, end). The pool cuts [0, extent) into
`min(extent, CHUNKS_PER_THREAD * threads)` chunks; the caller and up to `nthreads - 1`
persistent workers claim chunks from one atomic counter, and the call returns once every
chunk is done. The caller never waits for a worker that has not started: if the other cores
are busy it takes all the chunks itself (libgomp's static partition instead waits a whole
scheduler slice for a descheduled thread's share). Equivalent C:

    void tf_parallel_for(body, closure, extent, nthreads):
      if extent < 2 or nthreads < 2 or !try_lock(busy): body(closure, 0, extent); return
      helpers = start_workers(min(nthreads, MAX_THREADS) - 1)   # lazily, once per index
      job = {body, closure, extent, chunks}; active = helpers; done = 0
      claim = (claim.generation + 1) << 32 | chunks             # publish (seq_cst)
      wake += 1; if sleepers: futex_wake(&wake, all)
      run_chunks(); wait until done == chunks; unlock(busy)

    run_chunks():                                # caller and workers alike
      while (w = claim) & LOW32:                 # chunks left to claim in this generation
        if cmpxchg(claim, w, w - 1):             # took chunk `chunks - (w & LOW32)`
          read job; body(closure, chunk range); if ++done == chunks and waiting: futex_wake(&done)

    worker(index): forever: wait until index < active and claim & LOW32; run_chunks()

Waiting (`_wait`) spins SPIN_PAUSES pause instructions, then sleeps on a futex
(syscall(SYS_futex), private to the process) after announcing itself in a counter.

Races, and why each is safe:
- A late worker (woken, or rescheduled, after the job ended) sees no chunk left and claims
  nothing; it reads the job only after a successful claim, and a job cannot end (done ==
  chunks) while one of its chunks is claimed and unfinished, so the job it reads is the one
  it claimed from: the caller rewrites the job only after seeing every chunk done.
- A stale claim: the generation in the high 32 bits of the claim word makes a worker's
  compare-and-swap fail if the word was republished for a later job since its load (ABA).
- The done counter is reset before the claim word publishes a job, and every increment of
  the previous job happened before the caller saw done == chunks, so no late increment can
  reach the new job. After its increment a worker touches only pool state (`waiting`, and
  a possibly spurious futex wake), never the job's closure.
- Lost wake-ups: a sleeper increments its counter, reads the futex word, re-checks its
  condition and sleeps only if the word is unchanged; the waker changes the condition, then
  the word, then reads the counter. All seq_cst, so either the sleeper sees the condition or
  the waker sees the sleeper (and the futex word changed, so the sleep returns at once).
- Two callers (Python threads running modules at once, or a parallel loop reached from
  inside a pool body): `busy` is a try-lock; whoever does not get it runs its loop serially
  on its own thread. Parallel loops nested in a parallel loop are serial in codegen already.
- A thread-count change: workers are created up to the largest count asked for; a job sets
  `active`, and workers with a higher index sit it out. A failed pthread_create leaves fewer
  helpers. In a child forked from a process with workers, the workers do not exist: the
  caller, which never waits for a worker to start, runs every chunk itself.
"""

from __future__ import annotations

import sys
import threading
from typing import Callable

import llvmlite.binding as llvm
import llvmlite.ir as ir

from .llvm import I1, I32, I64, PARALLEL_FOR, PTR, CodegenError
from .target import Target

CHUNKS_PER_THREAD = 4   # chunks per thread: the caller can absorb a descheduled helper's share
MAX_THREADS = 256       # keeps the chunk count far inside the claim word's 32 bits
# Pause instructions (about 30 ns each on Zen 5: 1.5 ms) a waiter spins before it sleeps: a
# worker between jobs, the caller for chunks still running on workers. Waking a sleeper
# costs tens of microseconds: 0.1 ms spins made bert_mini's many short loops slower. Spinning
# on sched_yield after 60 us helped next to one busy process, but handed our cores to the
# background load of a shared machine and slowed bert_mini there.
SPIN_PAUSES = 50000
LOW32 = (1 << 32) - 1
# per architecture: SYS_futex, the spin-wait hint (an intrinsic and its arguments)
ARCH = {"x86_64": (202, "llvm.x86.sse2.pause", ()), "aarch64": (98, "llvm.aarch64.hint", (1,))}
FUTEX_WAIT, FUTEX_WAKE = 128, 129  # the _PRIVATE variants
BODY = ir.FunctionType(ir.VoidType(), [PTR, I64, I64])
ENTRY = ir.FunctionType(ir.VoidType(), [BODY.as_pointer(), PTR, I64, I32])

_engine = None
_lock = threading.Lock()


def load_threadpool() -> None:
    """JIT the pool once per process and make `tf_parallel_for` resolvable by kernels."""
    global _engine
    with _lock:
        if _engine is not None:
            return
        host = Target.host()
        arch = host.triple.split("-")[0]
        if not sys.platform.startswith("linux") or arch not in ARCH:
            raise CodegenError(f"parallel loops need the thread pool, which supports Linux on "
                               f"{', '.join(ARCH)}; this host is {host.triple}")
        module = llvm.parse_assembly(str(_Pool(host.triple, *ARCH[arch]).module))
        module.verify()
        engine = llvm.create_mcjit_compiler(module, host.owned_machine(2))
        engine.finalize_object()
        llvm.add_symbol(PARALLEL_FOR, engine.get_function_address(PARALLEL_FOR))
        _engine = engine  # kept for the process: its workers run its code


def _while(b: ir.IRBuilder, cond: Callable[[], ir.Value], body: Callable[[], None]) -> None:
    """while (cond()) body();"""
    head, loop, end = (b.function.append_basic_block(n) for n in ("while", "do", "done"))
    b.branch(head)
    b.position_at_end(head)
    b.cbranch(cond(), loop, end)
    b.position_at_end(loop)
    body()
    b.branch(head)
    b.position_at_end(end)


class _Pool:
    """Builds the pool module: its state as globals, each on its own cache line."""

    def __init__(self, triple: str, sys_futex: int, hint: str, hint_args: tuple):
        m = self.module = ir.Module(name="tf_threadpool")
        m.triple = triple
        self.sys_futex = sys_futex
        self.hint = ir.Function(m, ir.FunctionType(ir.VoidType(), [I32] * len(hint_args)), hint)
        self.hint_args = [ir.Constant(I32, a) for a in hint_args]
        state = {"claim": I64, "done": I32, "waiting": I32, "wake": I32, "sleepers": I32,
                 "busy": I32, "active": I32, "workers": I32, "job_body": PTR,
                 "job_closure": PTR, "job_extent": I64, "job_chunks": I64, "thread_id": I64}
        for name, ty in state.items():
            g = ir.GlobalVariable(m, ty, f"tf_pool.{name}")
            g.linkage, g.align = "internal", 64
            g.initializer = ir.Constant(ty, None)
            setattr(self, name, g)
        self.syscall = ir.Function(m, ir.FunctionType(I64, [I64], var_arg=True), "syscall")
        self.pthread_create = ir.Function(m, ir.FunctionType(I32, [PTR, PTR, PTR, PTR]),
                                          "pthread_create")
        self.run_chunks = self._function("run_chunks", ir.FunctionType(ir.VoidType(), []))
        self.worker = self._function("worker", ir.FunctionType(PTR, [PTR]))
        self.start_workers = self._function("start_workers", ir.FunctionType(I32, [I32]))
        self._emit_run_chunks()
        self._emit_worker()
        self._emit_start_workers()
        self._emit_parallel_for()

    def _function(self, name: str, ty: ir.FunctionType) -> ir.Function:
        fn = ir.Function(self.module, ty, f"tf_pool.{name}")
        fn.linkage = "internal"
        return fn

    # ------------------------------------------------------------ helpers
    @staticmethod
    def _var(b: ir.IRBuilder, ty: ir.Type, init) -> ir.Value:
        """A mutable local (an alloca; LLVM promotes it to registers)."""
        with b.goto_entry_block():
            slot = b.alloca(ty)
        b.store(init if isinstance(init, ir.Value) else ir.Constant(ty, init), slot)
        return slot

    def _futex(self, b, word, op: int, value):
        """syscall(SYS_futex, word, op, value, NULL): wait while *word == value, or wake
        `value` waiters."""
        b.call(self.syscall, [ir.Constant(I64, self.sys_futex), word, ir.Constant(I64, op),
                              b.zext(value, I64), ir.Constant(PTR, None)])

    def _wait(self, b, ready: Callable[[], ir.Value], word, announce) -> None:
        """Return once ready(): spin SPIN_PAUSES hints, then sleep on futex `word`, counted in
        `announce` while asleep (a waker reads it to decide whether to wake)."""
        spins = self._var(b, I32, 0)

        def step():
            n = b.load(spins)
            limit = ir.Constant(I32, SPIN_PAUSES)
            with b.if_else(b.icmp_unsigned("<", n, limit)) as (spin, sleep):
                with spin:
                    b.call(self.hint, self.hint_args)
                    b.store(b.add(n, ir.Constant(I32, 1)), spins)
                with sleep:
                    b.atomic_rmw("add", announce, ir.Constant(I32, 1), "seq_cst")
                    seen = _load(b, word)
                    with b.if_then(b.not_(ready())):
                        self._futex(b, word, FUTEX_WAIT, seen)
                    b.atomic_rmw("sub", announce, ir.Constant(I32, 1), "seq_cst")

        _while(b, lambda: b.not_(ready()), step)

    # ------------------------------------------------------------ functions
    def _emit_run_chunks(self):
        """Claim chunks until none is left; run each, then count it done."""
        b = ir.IRBuilder(self.run_chunks.append_basic_block("entry"))
        word = self._var(b, I64, 0)

        def chunks_left():
            w = _load(b, self.claim)
            b.store(w, word)
            return b.icmp_unsigned("!=", b.and_(w, ir.Constant(I64, LOW32)), ir.Constant(I64, 0))

        def claim_one():
            w = b.load(word)
            won = b.extract_value(b.cmpxchg(self.claim, w, b.sub(w, ir.Constant(I64, 1)),
                                            "seq_cst", "seq_cst"), 1)
            with b.if_then(won):
                chunks, extent = b.load(self.job_chunks), b.load(self.job_extent)
                index = b.sub(chunks, b.and_(w, ir.Constant(I64, LOW32)))
                q, r = b.udiv(extent, chunks), b.urem(extent, chunks)
                longer = b.icmp_unsigned("<", index, r)   # the first r chunks get q + 1
                begin = b.add(b.mul(index, q), b.select(longer, index, r))
                end = b.add(b.add(begin, q), b.zext(longer, I64))
                run = b.load(self.job_body, typ=BODY.as_pointer())
                b.call(run, [b.load(self.job_closure, typ=PTR), begin, end])
                total = b.add(b.atomic_rmw("add", self.done, ir.Constant(I32, 1), "seq_cst"),
                              ir.Constant(I32, 1))
                last = b.icmp_unsigned("==", b.zext(total, I64), chunks)
                with b.if_then(last):
                    waiting = _load(b, self.waiting)
                    with b.if_then(b.icmp_unsigned("!=", waiting, ir.Constant(I32, 0))):
                        self._futex(b, self.done, FUTEX_WAKE, ir.Constant(I32, 1))

        _while(b, chunks_left, claim_one)
        b.ret_void()

    def _has_work(self, b, index):
        mine = b.icmp_unsigned("<", index, _load(b, self.active, "monotonic"))
        left = b.and_(_load(b, self.claim), ir.Constant(I64, LOW32))
        return b.and_(mine, b.icmp_unsigned("!=", left, ir.Constant(I64, 0)))

    def _emit_worker(self):
        """Forever: wait for a job this worker takes part in, then claim its chunks."""
        b = ir.IRBuilder(self.worker.append_basic_block("entry"))
        index = b.trunc(b.ptrtoint(self.worker.args[0], I64), I32)

        def serve():
            self._wait(b, lambda: self._has_work(b, index), self.wake, self.sleepers)
            b.call(self.run_chunks, [])

        _while(b, lambda: ir.Constant(I1, 1), serve)
        b.unreachable()

    def _emit_start_workers(self):
        """Create workers up to `want` (under the busy lock); returns how many can help."""
        fn = self.start_workers
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        want = fn.args[0]
        n, stop = self._var(b, I32, b.load(self.workers)), self._var(b, I32, want)

        def create():
            k = b.load(n)
            rc = b.call(self.pthread_create, [self.thread_id, ir.Constant(PTR, None),
                                              self.worker, b.inttoptr(b.zext(k, I64), PTR)])
            ok = b.icmp_signed("==", rc, ir.Constant(I32, 0))
            b.store(b.add(k, b.zext(ok, I32)), n)
            b.store(b.select(ok, b.load(stop), k), stop)   # a failure ends the creating

        _while(b, lambda: b.icmp_unsigned("<", b.load(n), b.load(stop)), create)
        have = b.load(n)
        b.store(have, self.workers)
        b.ret(b.select(b.icmp_unsigned("<", have, want), have, want))

    def _emit_parallel_for(self):
        """The entry: serial unless there is more than one iteration and thread, and the
        pool is free."""
        fn = ir.Function(self.module, ENTRY, PARALLEL_FOR)
        body, closure, extent, nthreads = fn.args
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        cap = ir.Constant(I32, MAX_THREADS)
        threads = b.select(b.icmp_signed("<", nthreads, cap), nthreads, cap)
        shared = b.and_(b.icmp_signed(">", extent, ir.Constant(I64, 1)),
                        b.icmp_signed(">", threads, ir.Constant(I32, 1)))
        with b.if_then(shared):
            locked = b.extract_value(b.cmpxchg(self.busy, ir.Constant(I32, 0),
                                               ir.Constant(I32, 1), "acquire", "monotonic"), 1)
            with b.if_then(locked):
                self._run_job(b, body, closure, extent, threads)
                b.ret_void()
        b.call(body, [closure, ir.Constant(I64, 0), extent])   # serial, on this thread
        b.ret_void()

    def _run_job(self, b, body, closure, extent, threads):
        """Publish the job, wake sleeping workers, take chunks, wait for the rest."""
        helpers = b.call(self.start_workers, [b.sub(threads, ir.Constant(I32, 1))])
        most = b.mul(b.zext(b.add(helpers, ir.Constant(I32, 1)), I64),
                     ir.Constant(I64, CHUNKS_PER_THREAD))
        chunks = b.select(b.icmp_signed("<", extent, most), extent, most)
        b.store(body, self.job_body)
        b.store(closure, self.job_closure)
        b.store(extent, self.job_extent)
        b.store(chunks, self.job_chunks)
        _store(b, helpers, self.active, "monotonic")
        _store(b, ir.Constant(I32, 0), self.done, "monotonic")
        generation = b.and_(_load(b, self.claim), ir.Constant(I64, LOW32 << 32))
        _store(b, b.or_(b.add(generation, ir.Constant(I64, 1 << 32)), chunks), self.claim)
        b.atomic_rmw("add", self.wake, ir.Constant(I32, 1), "seq_cst")
        with b.if_then(b.icmp_unsigned("!=", _load(b, self.sleepers), ir.Constant(I32, 0))):
            self._futex(b, self.wake, FUTEX_WAKE, ir.Constant(I32, (1 << 31) - 1))
        b.call(self.run_chunks, [])
        all_done = lambda: b.icmp_unsigned("==", b.zext(_load(b, self.done), I64), chunks)
        self._wait(b, all_done, self.done, self.waiting)
        _store(b, ir.Constant(I32, 0), self.busy, "release")


def _load(b: ir.IRBuilder, g: ir.GlobalVariable, ordering: str = "seq_cst") -> ir.Value:
    return b.load_atomic(g, ordering, _size(g), typ=g.value_type)


def _store(b: ir.IRBuilder, value: ir.Value, g: ir.GlobalVariable, ordering: str = "seq_cst"):
    b.store_atomic(value, g, ordering, _size(g))


def _size(g: ir.GlobalVariable) -> int:
    ty = g.value_type
    return 8 if isinstance(ty, ir.PointerType) else ty.width // 8
