// Core of the addon: handles, memory accounting, data in/out, autograd, threads, devices, RNG.
#include "common.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <c10/core/GradMode.h>
#include <torch/version.h>

#include <cstring>
#include <thread>

namespace winnow {

std::atomic<int64_t> g_live{0};
std::atomic<int64_t> g_live_bytes{0};
const napi_type_tag kTensorTag = {0x77696e6e6f775f74ULL, 0x656e736f72686e64ULL};

static int64_t accountedBytes(const at::Tensor& t) {
  if (!t.defined() || !t.device().is_cpu()) return 0;
  return static_cast<int64_t>(t.numel()) * static_cast<int64_t>(t.element_size());
}

void release(Napi::Env env, Holder* h) {
  if (h->freed) return;
  h->freed = true;
  h->t = at::Tensor();
  g_live--;
  g_live_bytes -= h->bytes;
  if (h->reported && h->bytes) Napi::MemoryManagement::AdjustExternalMemory(env, -h->bytes);
  h->reported = false;
  h->bytes = 0;
}

Napi::Value wrap(Napi::Env env, at::Tensor t) {
  if (!t.defined()) return env.Null();
  auto* h = new Holder();
  h->t = std::move(t);
  h->bytes = accountedBytes(h->t);
  g_live++;
  g_live_bytes += h->bytes;
  auto ext = Napi::External<Holder>::New(env, h, [](Napi::Env e, Holder* p) {
    release(e, p);
    delete p;
  });
  ext.TypeTag(&kTensorTag);
  return ext;
}

[[noreturn]] void rethrow(Napi::Env env) {
  try {
    throw;
  } catch (const c10::Error& e) {
    throw Napi::Error::New(env, e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  } catch (...) {
    throw Napi::Error::New(env, "unknown native error");
  }
}

}  // namespace winnow

using winnow::Args;

// ---- handles and metadata -------------------------------------------------------------
WINNOW_FN(dispose, {
  if (!info[0].IsExternal()) throw Napi::TypeError::New(a.env, "dispose: expected a tensor handle");
  auto ext = info[0].As<Napi::External<winnow::Holder>>();
  if (!ext.CheckTypeTag(&winnow::kTensorTag)) throw Napi::TypeError::New(a.env, "dispose: not a tensor handle");
  winnow::release(a.env, ext.Data());
  return a.none();
})
// reportExternal(handle, on): report (or stop reporting) the tensor's bytes to V8.
WINNOW_FN(reportExternal, {
  winnow::Holder* h = a.H(0);
  bool on = a.B(1);
  if (on != h->reported && h->bytes) {
    Napi::MemoryManagement::AdjustExternalMemory(a.env, on ? h->bytes : -h->bytes);
  }
  h->reported = on;
  return a.none();
})
WINNOW_FN(liveTensors, { return Napi::Number::New(a.env, static_cast<double>(winnow::g_live.load())); })
WINNOW_FN(liveBytes, { return Napi::Number::New(a.env, static_cast<double>(winnow::g_live_bytes.load())); })
WINNOW_FN(shape, { return a.ret(a.T(0).sizes().vec()); })
WINNOW_FN(stride, { return a.ret(a.T(0).strides().vec()); })
WINNOW_FN(dtype, { return Napi::Number::New(a.env, static_cast<int>(a.T(0).scalar_type())); })
WINNOW_FN(device, { return Napi::String::New(a.env, a.T(0).device().str()); })
WINNOW_FN(numel, { return a.ret(static_cast<int64_t>(a.T(0).numel())); })
WINNOW_FN(dim, { return a.ret(static_cast<int64_t>(a.T(0).dim())); })
WINNOW_FN(storageOffset, { return a.ret(static_cast<int64_t>(a.T(0).storage_offset())); })
WINNOW_FN(isContiguous, {
  auto fmt = a.B(1) ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  return a.ret(a.T(0).is_contiguous(fmt));
})
WINNOW_FN(sameStorage, {
  return a.ret(a.T(0).storage().unsafeGetStorageImpl() == a.T(1).storage().unsafeGetStorageImpl());
})

// ---- data in and out ------------------------------------------------------------------
// fromBuffer(typedArray|ArrayBuffer view, shape, dtype): copies the bytes into a new CPU tensor.
WINNOW_FN(fromBuffer, {
  auto shape = a.IL(1);
  auto dt = a.DT(2);
  if (!info[0].IsTypedArray() && !info[0].IsBuffer()) throw Napi::TypeError::New(a.env, "fromBuffer: expected a typed array");
  auto ta = info[0].As<Napi::TypedArray>();
  const uint8_t* src = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  size_t nbytes = ta.ByteLength();
  auto t = at::empty(shape, at::TensorOptions().dtype(dt));
  size_t need = static_cast<size_t>(t.numel()) * t.element_size();
  if (need != nbytes) {
    throw Napi::RangeError::New(a.env, "fromBuffer: shape needs " + std::to_string(need) + " bytes of " +
                                           std::string(c10::toString(dt)) + " but the array has " + std::to_string(nbytes));
  }
  if (nbytes) std::memcpy(t.data_ptr(), src, nbytes);
  return a.ret(t);
})
// toBuffer(t): a fresh ArrayBuffer with the tensor's values, contiguous, on the CPU.
WINNOW_FN(toBuffer, {
  auto t = a.T(0).detach().to(at::kCPU).contiguous();
  size_t nbytes = static_cast<size_t>(t.numel()) * t.element_size();
  auto buf = Napi::ArrayBuffer::New(a.env, nbytes);
  if (nbytes) std::memcpy(buf.Data(), t.data_ptr(), nbytes);
  return buf;
})
WINNOW_FN(item, {
  auto& t = a.T(0);
  if (t.numel() != 1) throw Napi::Error::New(a.env, "item(): a Tensor with " + std::to_string(t.numel()) + " elements cannot be converted to a number");
  auto s = t.item();
  if (s.isBoolean()) return Napi::Boolean::New(a.env, s.toBool());
  return Napi::Number::New(a.env, s.toDouble());
})

// ---- creation -------------------------------------------------------------------------
WINNOW_FN(empty, { return a.ret(at::empty(a.IL(0), a.Opt(1, 2))); })
WINNOW_FN(zeros, { return a.ret(at::zeros(a.IL(0), a.Opt(1, 2))); })
WINNOW_FN(ones, { return a.ret(at::ones(a.IL(0), a.Opt(1, 2))); })
WINNOW_FN(full, { return a.ret(at::full(a.IL(0), a.S(1), a.Opt(2, 3))); })
WINNOW_FN(arange, { return a.ret(at::arange(a.S(0), a.S(1), a.S(2), a.Opt(3, 4))); })
WINNOW_FN(linspace, { return a.ret(at::linspace(a.S(0), a.S(1), a.I(2), a.Opt(3, 4))); })
WINNOW_FN(eye, { return a.ret(at::eye(a.I(0), a.I(1), a.Opt(2, 3))); })
WINNOW_FN(rand, { return a.ret(at::rand(a.IL(0), a.Opt(1, 2))); })
WINNOW_FN(randn, { return a.ret(at::randn(a.IL(0), a.Opt(1, 2))); })
WINNOW_FN(randint, { return a.ret(at::randint(a.I(0), a.I(1), a.IL(2), a.Opt(3, 4))); })
WINNOW_FN(randperm, { return a.ret(at::randperm(a.I(0), a.Opt(1, 2))); })
WINNOW_FN(emptyLike, { return a.ret(at::empty_like(a.T(0))); })
WINNOW_FN(zerosLike, { return a.ret(at::zeros_like(a.T(0))); })
WINNOW_FN(onesLike, { return a.ret(at::ones_like(a.T(0))); })
WINNOW_FN(fullLike, { return a.ret(at::full_like(a.T(0), a.S(1))); })
WINNOW_FN(randLike, { return a.ret(at::rand_like(a.T(0))); })
WINNOW_FN(randnLike, { return a.ret(at::randn_like(a.T(0))); })
WINNOW_FN(manualSeed, {
  at::manual_seed(static_cast<uint64_t>(a.I(0)));
  return a.none();
})

// ---- conversion -----------------------------------------------------------------------
WINNOW_FN(toDtype, { return a.ret(a.T(0).to(a.DT(1))); })
WINNOW_FN(toDevice, { return a.ret(a.T(0).to(a.Dev(1), /*non_blocking=*/a.B(2))); })
WINNOW_FN(contiguous, {
  auto fmt = a.B(1) ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  return a.ret(a.T(0).contiguous(fmt));
})
WINNOW_FN(clone, { return a.ret(a.T(0).clone()); })
WINNOW_FN(asStrided, { return a.ret(a.T(0).as_strided(a.IL(1), a.IL(2), a.I(3))); })

// ---- autograd -------------------------------------------------------------------------
WINNOW_FN(requiresGrad, { return a.ret(a.T(0).requires_grad()); })
WINNOW_FN(setRequiresGrad, {
  a.T(0).set_requires_grad(a.B(1));
  return a.none();
})
WINNOW_FN(isLeaf, { return a.ret(a.T(0).is_leaf()); })
WINNOW_FN(grad, {
  const at::Tensor& g = a.T(0).grad();
  if (!g.defined()) return a.env.Null();
  return a.ret(g);
})
WINNOW_FN(setGrad, {
  a.T(0).mutable_grad() = a.has(1) ? a.T(1) : at::Tensor();
  return a.none();
})
WINNOW_FN(retainGrad, {
  a.T(0).retain_grad();
  return a.none();
})
WINNOW_FN(backward, {
  c10::optional<bool> retain = a.has(2) ? c10::optional<bool>(a.B(2)) : c10::nullopt;
  a.T(0).backward(a.UT(1), retain, /*create_graph=*/false);
  return a.none();
})
WINNOW_FN(detach, { return a.ret(a.T(0).detach()); })
WINNOW_FN(isGradEnabled, { return a.ret(c10::GradMode::is_enabled()); })
WINNOW_FN(setGradEnabled, {
  c10::GradMode::set_enabled(a.B(0));
  return a.none();
})

// ---- threads, devices, build info -----------------------------------------------------
WINNOW_FN(setNumThreads, {
  at::set_num_threads(static_cast<int>(a.I(0)));
  return a.none();
})
WINNOW_FN(getNumThreads, { return a.ret(static_cast<int64_t>(at::get_num_threads())); })
WINNOW_FN(cudaIsAvailable, { return a.ret(at::hasCUDA()); })
WINNOW_FN(setCudnnBenchmark, {
  at::globalContext().setBenchmarkCuDNN(a.B(0));
  return a.none();
})
// TF32 in cuDNN convolutions (PyTorch's default: on). Off for bit-level CPU/CUDA comparisons.
WINNOW_FN(setAllowTF32, {
  at::globalContext().setAllowTF32CuDNN(a.B(0));
  at::globalContext().setAllowTF32CuBLAS(a.B(0));
  return a.none();
})
WINNOW_FN(buildInfo, {
  auto o = Napi::Object::New(a.env);
  o.Set("torchVersion", std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
                            std::to_string(TORCH_VERSION_PATCH));
  o.Set("cuda", Napi::Boolean::New(a.env, WINNOW_CUDA != 0));
  o.Set("gloo", Napi::Boolean::New(a.env, WINNOW_GLOO != 0));
  o.Set("cxx11Abi", Napi::Number::New(a.env, _GLIBCXX_USE_CXX11_ABI));
  o.Set("parallelInfo", at::get_parallel_info());
  return o;
})

// Autocast: the API became per-device in torch 2.4; both forms are supported.
static void setAutocastImpl(at::DeviceType type, bool enabled, at::ScalarType dt) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  at::autocast::set_autocast_enabled(type, enabled);
  at::autocast::set_autocast_dtype(type, dt);
#else
  if (type == at::kCUDA) {
    at::autocast::set_enabled(enabled);
    at::autocast::set_autocast_gpu_dtype(dt);
  } else {
    at::autocast::set_cpu_enabled(enabled);
    at::autocast::set_autocast_cpu_dtype(dt);
  }
#endif
  if (enabled) {
    at::autocast::increment_nesting();
  } else if (at::autocast::decrement_nesting() == 0) {
    at::autocast::clear_cache();
  }
}
WINNOW_FN(setAutocast, {
  at::DeviceType type = a.Str(0) == "cuda" ? at::kCUDA : at::kCPU;
  setAutocastImpl(type, a.B(1), a.has(2) ? a.DT(2) : at::kBFloat16);
  return a.none();
})

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // Use every core for intra-op parallelism (libtorch's default here is 1).
  unsigned hc = std::thread::hardware_concurrency();
  if (hc > 0) at::set_num_threads(static_cast<int>(hc));
  WINNOW_EXPORT(dispose);
  WINNOW_EXPORT(liveTensors);
  WINNOW_EXPORT(reportExternal);
  WINNOW_EXPORT(liveBytes);
  WINNOW_EXPORT(shape);
  WINNOW_EXPORT(stride);
  WINNOW_EXPORT(dtype);
  WINNOW_EXPORT(device);
  WINNOW_EXPORT(numel);
  WINNOW_EXPORT(dim);
  WINNOW_EXPORT(storageOffset);
  WINNOW_EXPORT(isContiguous);
  WINNOW_EXPORT(sameStorage);
  WINNOW_EXPORT(fromBuffer);
  WINNOW_EXPORT(toBuffer);
  WINNOW_EXPORT(item);
  WINNOW_EXPORT(empty);
  WINNOW_EXPORT(zeros);
  WINNOW_EXPORT(ones);
  WINNOW_EXPORT(full);
  WINNOW_EXPORT(arange);
  WINNOW_EXPORT(linspace);
  WINNOW_EXPORT(eye);
  WINNOW_EXPORT(rand);
  WINNOW_EXPORT(randn);
  WINNOW_EXPORT(randint);
  WINNOW_EXPORT(randperm);
  WINNOW_EXPORT(emptyLike);
  WINNOW_EXPORT(zerosLike);
  WINNOW_EXPORT(onesLike);
  WINNOW_EXPORT(fullLike);
  WINNOW_EXPORT(randLike);
  WINNOW_EXPORT(randnLike);
  WINNOW_EXPORT(manualSeed);
  WINNOW_EXPORT(toDtype);
  WINNOW_EXPORT(toDevice);
  WINNOW_EXPORT(contiguous);
  WINNOW_EXPORT(clone);
  WINNOW_EXPORT(asStrided);
  WINNOW_EXPORT(requiresGrad);
  WINNOW_EXPORT(setRequiresGrad);
  WINNOW_EXPORT(isLeaf);
  WINNOW_EXPORT(grad);
  WINNOW_EXPORT(setGrad);
  WINNOW_EXPORT(retainGrad);
  WINNOW_EXPORT(backward);
  WINNOW_EXPORT(detach);
  WINNOW_EXPORT(isGradEnabled);
  WINNOW_EXPORT(setGradEnabled);
  WINNOW_EXPORT(setNumThreads);
  WINNOW_EXPORT(getNumThreads);
  WINNOW_EXPORT(cudaIsAvailable);
  WINNOW_EXPORT(setCudnnBenchmark);
  WINNOW_EXPORT(buildInfo);
  WINNOW_EXPORT(setAllowTF32);
  WINNOW_EXPORT(setAutocast);
  winnow::registerOps(env, exports);
  winnow::registerCpuCache(env, exports);
  winnow::registerDistributed(env, exports);
  return exports;
}

NODE_API_MODULE(winnow_native, Init)
