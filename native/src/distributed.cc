// c10d bound into the addon: a TCPStore for rendezvous, a ProcessGroupGloo over it, and the
// collectives the data-parallel trainer needs. Mechanical, like the op table: each entry point
// launches one c10d collective and waits for it. The wait blocks the calling JavaScript thread:
// every rank is its own process, so nothing else in that process has to run meanwhile (a first
// version; an AsyncWorker wait could come later). Every wait is bounded by the group's timeout
// and a failure (timeout, a peer that closed its connections) becomes a thrown JavaScript Error.
#include "common.h"

#if WINNOW_GLOO
// ProcessGroupGloo.hpp declares its class only when Gloo is enabled, as in libtorch's own build.
#define USE_C10D_GLOO
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

namespace {

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  std::chrono::milliseconds timeout{0};
  bool freed = false;
};

std::atomic<int64_t> g_live_groups{0};
const napi_type_tag kGroupTag = {0x77696e6e6f775f70ULL, 0x726f636772707067ULL};

void releaseGroup(Group* g) {
  if (g->freed) return;
  g->freed = true;
  // The group first: its destructor joins Gloo's worker threads, which may still use the store.
  g->pg.reset();
  g->store.reset();
  g_live_groups--;
}

Group* G(const winnow::Args& a, size_t i) {
  if (i >= a.info.Length() || !a.info[i].IsExternal()) {
    throw Napi::TypeError::New(a.env, "argument " + std::to_string(i) + ": expected a process group handle");
  }
  auto ext = a.info[i].As<Napi::External<Group>>();
  if (!ext.CheckTypeTag(&kGroupTag)) throw Napi::TypeError::New(a.env, "not a Winnow process group handle");
  Group* g = ext.Data();
  if (g->freed) throw Napi::Error::New(a.env, "process group used after destroy()");
  return g;
}

// Waits for one collective; Work::wait rethrows Gloo's error or throws "Operation timed out!".
void waitFor(const c10::intrusive_ptr<c10d::Work>& work, std::chrono::milliseconds timeout) {
  work->wait(timeout);
}

std::vector<std::string> splitList(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// lightly's gather_distributed (GatherLayer): forward all-gathers every rank's equally sized
// tensor and concatenates along dim 0; backward sums the incoming gradient over all ranks and
// returns this rank's slice, so a loss on any rank reaches the inputs of every rank.
struct GatherWithGrad : public torch::autograd::Function<GatherWithGrad> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& input,
                            c10::intrusive_ptr<c10d::ProcessGroup> pg, int64_t timeoutMs) {
    auto in = input.contiguous();
    std::vector<std::vector<at::Tensor>> out(1);
    for (int r = 0; r < pg->getSize(); r++) out[0].push_back(at::empty_like(in));
    std::vector<at::Tensor> ins{in};
    waitFor(pg->allgather(out, ins), std::chrono::milliseconds(timeoutMs));
    ctx->saved_data["pg"] = at::IValue::make_capsule(pg);
    ctx->saved_data["n"] = input.size(0);
    ctx->saved_data["timeout"] = timeoutMs;
    return at::cat(out[0], 0);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto pg = c10::static_intrusive_pointer_cast<c10d::ProcessGroup>(ctx->saved_data["pg"].toCapsule());
    int64_t n = ctx->saved_data["n"].toInt();
    // A copy: the reduction is in place and the incoming gradient may be shared.
    std::vector<at::Tensor> g{grads[0].contiguous().clone()};
    waitFor(pg->allreduce(g), std::chrono::milliseconds(ctx->saved_data["timeout"].toInt()));
    return {g[0].narrow(0, pg->getRank() * n, n), at::Tensor(), at::Tensor()};
  }
};

c10d::ReduceOp reduceOp(const winnow::Args& a, size_t i) {
  switch (a.has(i) ? a.I(i) : 0) {
    case 0: return c10d::ReduceOp(c10d::ReduceOp::SUM);
    case 2: return c10d::ReduceOp(c10d::ReduceOp::PRODUCT);
    case 3: return c10d::ReduceOp(c10d::ReduceOp::MIN);
    case 4: return c10d::ReduceOp(c10d::ReduceOp::MAX);
    default: throw Napi::RangeError::New(a.env, "reduce op: expected 0 (sum), 2 (product), 3 (min) or 4 (max)");
  }
}

}  // namespace

// pgNew(host, port, isServer, rank, worldSize, timeoutMs, deviceKind, deviceArg, threads):
// deviceKind "interface" (deviceArg: comma-separated names, as GLOO_SOCKET_IFNAME), "hostname"
// (an address to bind) or "default" (c10d's: this machine's hostname, else loopback).
WINNOW_FN(pgNew, {
  std::string host = a.Str(0);
  int64_t port = a.I(1);
  bool isServer = a.B(2);
  int rank = static_cast<int>(a.I(3));
  int size = static_cast<int>(a.I(4));
  std::chrono::milliseconds timeout(a.I(5));
  std::string kind = a.Str(6);
  std::string arg = a.has(7) ? a.Str(7) : "";
  int threads = a.has(8) ? static_cast<int>(a.I(8)) : 0;
  if (port < 0 || port > 65535) throw Napi::RangeError::New(a.env, "pgNew: port must be in 0..65535");

  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(port);
  so.isServer = isServer;
  so.numWorkers = static_cast<std::size_t>(size);
  so.waitWorkers = true;
  so.timeout = timeout;
  auto store = c10::make_intrusive<c10d::TCPStore>(host, so);

  auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
  if (kind == "interface") {
    for (const auto& name : splitList(arg)) opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name));
  } else if (kind == "hostname") {
    opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(arg));
  } else {
    opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  }
  if (threads > 0) opts->threads = threads;
  auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, size, opts);

  auto* g = new Group();
  g->store = store;
  g->pg = pg;
  g->timeout = timeout;
  g_live_groups++;
  auto ext = Napi::External<Group>::New(a.env, g, [](Napi::Env, Group* p) {
    releaseGroup(p);
    delete p;
  });
  ext.TypeTag(&kGroupTag);
  return ext;
})
WINNOW_FN(pgDestroy, {
  if (!info[0].IsExternal()) throw Napi::TypeError::New(a.env, "pgDestroy: expected a process group handle");
  auto ext = info[0].As<Napi::External<Group>>();
  if (!ext.CheckTypeTag(&kGroupTag)) throw Napi::TypeError::New(a.env, "pgDestroy: not a process group handle");
  releaseGroup(ext.Data());
  return a.none();
})
WINNOW_FN(pgLiveGroups, { return a.ret(static_cast<int64_t>(g_live_groups.load())); })
WINNOW_FN(pgRank, { return a.ret(static_cast<int64_t>(G(a, 0)->pg->getRank())); })
WINNOW_FN(pgSize, { return a.ret(static_cast<int64_t>(G(a, 0)->pg->getSize())); })

// pgAllreduce(pg, t, op): in place on one tensor.
WINNOW_FN(pgAllreduce, {
  Group* g = G(a, 0);
  std::vector<at::Tensor> ts{a.T(1)};
  c10d::AllreduceOptions o;
  o.reduceOp = reduceOp(a, 2);
  waitFor(g->pg->allreduce(ts, o), g->timeout);
  return a.none();
})
// pgAllreduceCoalesced(pg, [t...], op): one reduction over several tensors of one dtype (a bucket).
WINNOW_FN(pgAllreduceCoalesced, {
  Group* g = G(a, 0);
  auto ts = a.TL(1);
  c10d::AllreduceCoalescedOptions o;
  o.reduceOp = reduceOp(a, 2);
  waitFor(g->pg->allreduce_coalesced(ts, o), g->timeout);
  return a.none();
})
// pgBroadcast(pg, t, root): in place.
WINNOW_FN(pgBroadcast, {
  Group* g = G(a, 0);
  std::vector<at::Tensor> ts{a.T(1)};
  c10d::BroadcastOptions o;
  o.rootRank = a.I(2);
  waitFor(g->pg->broadcast(ts, o), g->timeout);
  return a.none();
})
// pgAllgather(pg, [out per rank...], input): fills the outputs.
WINNOW_FN(pgAllgather, {
  Group* g = G(a, 0);
  std::vector<std::vector<at::Tensor>> outs{a.TL(1)};
  std::vector<at::Tensor> ins{a.T(2)};
  waitFor(g->pg->allgather(outs, ins), g->timeout);
  return a.none();
})
WINNOW_FN(pgBarrier, {
  Group* g = G(a, 0);
  waitFor(g->pg->barrier(), g->timeout);
  return a.none();
})
// pgAllgatherWithGrad(pg, t): cat of every rank's t along dim 0, differentiable (see above).
WINNOW_FN(pgAllgatherWithGrad, {
  Group* g = G(a, 0);
  c10::intrusive_ptr<c10d::ProcessGroup> pg = g->pg;
  return a.ret(GatherWithGrad::apply(a.T(1), pg, static_cast<int64_t>(g->timeout.count())));
})

#else
// Built without Gloo's headers (scripts/torch-config.mjs found none): every entry point refuses.
#define WINNOW_NO_GLOO(NAME)                                                                       \
  WINNOW_FN(NAME, {                                                                                \
    throw Napi::Error::New(a.env, "this engine was built without Gloo (c10d's CPU backend): install " \
                                  "libgloo-dev (Debian) and rebuild it (npm run build:native)");    \
  })
WINNOW_NO_GLOO(pgNew)
WINNOW_NO_GLOO(pgDestroy)
WINNOW_NO_GLOO(pgRank)
WINNOW_NO_GLOO(pgSize)
WINNOW_NO_GLOO(pgAllreduce)
WINNOW_NO_GLOO(pgAllreduceCoalesced)
WINNOW_NO_GLOO(pgBroadcast)
WINNOW_NO_GLOO(pgAllgather)
WINNOW_NO_GLOO(pgBarrier)
WINNOW_NO_GLOO(pgAllgatherWithGrad)
WINNOW_FN(pgLiveGroups, { return a.ret(static_cast<int64_t>(0)); })
#endif  // WINNOW_GLOO

namespace winnow {
void registerDistributed(Napi::Env env, Napi::Object exports) {
  WINNOW_EXPORT(pgNew);
  WINNOW_EXPORT(pgDestroy);
  WINNOW_EXPORT(pgLiveGroups);
  WINNOW_EXPORT(pgRank);
  WINNOW_EXPORT(pgSize);
  WINNOW_EXPORT(pgAllreduce);
  WINNOW_EXPORT(pgAllreduceCoalesced);
  WINNOW_EXPORT(pgBroadcast);
  WINNOW_EXPORT(pgAllgather);
  WINNOW_EXPORT(pgBarrier);
  WINNOW_EXPORT(pgAllgatherWithGrad);
}
}  // namespace winnow
