// CUDA C as host C++: what codegen/cuda.py emits, run one block at a time on one OS thread.
// Every CUDA thread of a block is a fiber; __syncthreads() and the warp intrinsics
// switch to the scheduler, which resumes the fibers once all of them (the block, or the warp)
// wait at the same kind of point. So runs are deterministic, and a barrier some threads never
// reach is reported instead of hanging. Kernels without barriers or shuffles run as a plain
// loop over threads (tf_launch's plain_loop, chosen by emulator.py from the source), faster.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <algorithm>
#include <type_traits>
#include <utility>
#include <vector>

// ------------------------------------------------------------------ fiber switching
// x86-64: a hand-written switch (callee-saved registers, MXCSR and x87 control word, stack
// pointer), ~100x cheaper than swapcontext, which makes a signal-mask system call each time.
// Elsewhere: ucontext.
#if defined(__x86_64__)
struct TfContext { void* sp; };
extern "C" __attribute__((visibility("hidden"))) void tf_switch(TfContext* from, TfContext* to);
asm(R"(
.text
.globl tf_switch
.hidden tf_switch
.type tf_switch, @function
tf_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq (%rsi), %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
.size tf_switch, .-tf_switch
)");
// A new fiber's stack, as tf_switch leaves one: control words, six registers, then `entry`
// as the return address, above it a null one (entry never returns) keeping the ABI alignment.
static void tf_start(TfContext* c, char* stack, size_t size, void (*entry)()) {
  uintptr_t top = ((uintptr_t)(stack + size)) & ~(uintptr_t)15;
  void** sp = (void**)top;
  *--sp = nullptr;
  *--sp = (void*)entry;
  for (int k = 0; k < 6; k++) *--sp = nullptr;
  --sp;
  unsigned int mxcsr;
  unsigned short fpucw;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fpucw));
  memcpy((char*)sp, &mxcsr, 4);
  memcpy((char*)sp + 4, &fpucw, 2);
  c->sp = sp;
}
#else
#include <ucontext.h>
struct TfContext { ucontext_t uc; };
static inline void tf_switch(TfContext* from, TfContext* to) { swapcontext(&from->uc, &to->uc); }
static void tf_start(TfContext* c, char* stack, size_t size, void (*entry)()) {
  getcontext(&c->uc);
  c->uc.uc_stack.ss_sp = stack;
  c->uc.uc_stack.ss_size = size;
  c->uc.uc_link = nullptr;
  makecontext(&c->uc, entry, 0);
}
#endif

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

struct uint3 { unsigned x = 0, y = 0, z = 0; };
struct dim3 { unsigned x = 1, y = 1, z = 1; };
static thread_local uint3 threadIdx, blockIdx;
static thread_local dim3 blockDim, gridDim;
static const int warpSize = 32;

struct __align__(16) float4 { float x, y, z, w; };
struct __align__(16) int4 { int x, y, z, w; };
static inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
static inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }

#define __expf expf  // glibc declares these names itself: macros, not functions
#define __logf logf
#define __log2f log2f
static inline float __fdividef(float a, float b) { return a / b; }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline double rsqrt(double x) { return 1.0 / sqrt(x); }
static inline float __int_as_float(unsigned bits) { float f; memcpy(&f, &bits, 4); return f; }
static inline double __longlong_as_double(long long bits) {
  double d; memcpy(&d, &bits, 8); return d;
}
template <typename A, typename B> static inline auto min(A a, B b) { return b < a ? b : a; }
template <typename A, typename B> static inline auto max(A a, B b) { return a < b ? b : a; }
template <typename T> static inline T __ldg(const T* p) { return *p; }
static inline void __threadfence_block() {}
static inline void __threadfence() {}
// One OS thread runs a block's fibers one after another: atomics need no locking.
template <typename T> static inline T atomicAdd(T* p, T v) { T old = *p; *p = old + v; return old; }

// ------------------------------------------------------------------ fibers and barriers
enum TfWait { TF_RUNNING, TF_BLOCK_BARRIER, TF_WARP_BARRIER, TF_DONE };
struct TfFiber { TfContext ctx; uint3 idx; TfWait wait; };
static const size_t TF_STACK = 64 * 1024;  // per CUDA thread: local arrays are small
static thread_local std::vector<TfFiber>* tf_fibers;
static thread_local int tf_current;
static thread_local TfContext tf_scheduler;
static thread_local unsigned long long tf_exchange[1024];  // one slot per thread of the block

static inline void tf_wait(TfWait why) {
  TfFiber& f = (*tf_fibers)[tf_current];
  f.wait = why;
  tf_switch(&f.ctx, &tf_scheduler);
}
static inline void __syncthreads() { tf_wait(TF_BLOCK_BARRIER); }
static inline void __syncwarp(unsigned = 0xffffffffu) { tf_wait(TF_WARP_BARRIER); }

static inline int tf_lane() { return tf_current % 32; }
template <typename T> static inline T tf_shuffle(T v, int src_lane) {
  static_assert(sizeof(T) <= 8, "shuffles move at most 8 bytes");
  unsigned long long slot = 0;
  memcpy(&slot, &v, sizeof(T));
  tf_exchange[tf_current] = slot;
  __syncwarp();  // every lane has written
  int base = tf_current - tf_lane(), n = (int)tf_fibers->size();
  int src = base + src_lane;
  slot = (src_lane >= 0 && src_lane < 32 && src < n) ? tf_exchange[src] : tf_exchange[tf_current];
  __syncwarp();  // every lane has read before the next shuffle overwrites
  T out;
  memcpy(&out, &slot, sizeof(T));
  return out;
}
template <typename T> static inline T __shfl_sync(unsigned, T v, int lane, int width = 32) {
  return tf_shuffle(v, tf_lane() / width * width + lane % width);
}
template <typename T> static inline T __shfl_xor_sync(unsigned, T v, int mask, int width = 32) {
  int lane = tf_lane() ^ mask;
  return tf_shuffle(v, lane / width == tf_lane() / width ? lane : tf_lane());
}
template <typename T> static inline T __shfl_down_sync(unsigned, T v, unsigned d, int width = 32) {
  int lane = tf_lane() + (int)d;
  return tf_shuffle(v, lane / width == tf_lane() / width ? lane : tf_lane());
}
template <typename T> static inline T __shfl_up_sync(unsigned, T v, unsigned d, int width = 32) {
  int lane = tf_lane() - (int)d;
  return tf_shuffle(v, lane >= 0 && lane / width == tf_lane() / width ? lane : tf_lane());
}

// ------------------------------------------------------------------ launching
template <typename T> static T tf_arg(void* slot) {
  if constexpr (std::is_pointer_v<T>) return (T) * (void**)slot;
  else if constexpr (std::is_floating_point_v<T>) return (T) * (double*)slot;
  else return (T) * (long long*)slot;
}
template <typename... A, size_t... I>
static void tf_call(void (*kernel)(A...), void** args, std::index_sequence<I...>) {
  kernel(tf_arg<A>(args[I])...);
}

static thread_local void (*tf_body)(void**);
static thread_local void** tf_args;
static thread_local const char* tf_error;

static void tf_fiber_main() {
  tf_body(tf_args);
  (*tf_fibers)[tf_current].wait = TF_DONE;
  tf_switch(&(*tf_fibers)[tf_current].ctx, &tf_scheduler);
}

static void tf_index(unsigned flat, const dim3& dims, uint3& idx) {
  idx.x = flat % dims.x;
  idx.y = flat / dims.x % dims.y;
  idx.z = flat / (dims.x * dims.y);
}

// Runs one block's fibers until all are done; false (with tf_error set) on a divergent barrier.
static bool tf_run_block(std::vector<TfFiber>& fibers) {
  for (;;) {
    for (int t = 0; t < (int)fibers.size(); t++) {
      if (fibers[t].wait != TF_RUNNING) continue;
      tf_current = t;
      threadIdx = fibers[t].idx;
      tf_switch(&tf_scheduler, &fibers[t].ctx);
    }
    int done = 0, at_block = 0;
    for (auto& f : fibers) { done += f.wait == TF_DONE; at_block += f.wait == TF_BLOCK_BARRIER; }
    if (done == (int)fibers.size()) return true;
    if (at_block == (int)fibers.size()) {
      for (auto& f : fibers) f.wait = TF_RUNNING;
      continue;
    }
    bool released = false;  // a warp whose live lanes all wait at a warp barrier goes on
    for (size_t w = 0; w < fibers.size(); w += 32) {
      size_t end = std::min(fibers.size(), w + 32), waiting = 0, live = 0;
      for (size_t t = w; t < end; t++) {
        live += fibers[t].wait != TF_DONE;
        waiting += fibers[t].wait == TF_WARP_BARRIER;
      }
      if (live && waiting == live) {
        for (size_t t = w; t < end; t++)
          if (fibers[t].wait == TF_WARP_BARRIER) fibers[t].wait = TF_RUNNING;
        released = true;
      }
    }
    if (!released) break;
  }
  tf_error = "deadlock: some threads of the block wait at __syncthreads()/a warp shuffle that "
             "others never reach (exited or waiting elsewhere)";
  return false;
}

static const char* tf_launch(void (*body)(void**), bool plain_loop, const unsigned* g,
                             const unsigned* b, void** args) {
  gridDim = dim3{g[0], g[1], g[2]};
  blockDim = dim3{b[0], b[1], b[2]};
  unsigned blocks = g[0] * g[1] * g[2], threads = b[0] * b[1] * b[2];
  if (threads > 1024) return "more than 1024 threads per block";
  tf_body = body;
  tf_args = args;
  tf_error = nullptr;
  std::vector<TfFiber> fibers(plain_loop ? 0 : threads);
  std::unique_ptr<char[]> stacks(new char[plain_loop ? 0 : threads * TF_STACK]);  // untouched
  tf_fibers = &fibers;
  for (unsigned blk = 0; blk < blocks; blk++) {
    tf_index(blk, gridDim, blockIdx);
    if (plain_loop) {
      for (unsigned t = 0; t < threads; t++) {
        tf_index(t, blockDim, threadIdx);
        body(args);
      }
      continue;
    }
    for (unsigned t = 0; t < threads; t++) {
      TfFiber& f = fibers[t];
      tf_index(t, blockDim, f.idx);
      f.wait = TF_RUNNING;
      tf_start(&f.ctx, stacks.get() + t * TF_STACK, TF_STACK, tf_fiber_main);
    }
    if (!tf_run_block(fibers)) return tf_error;
  }
  return nullptr;
}
