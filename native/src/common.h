// Shared helpers of the Winnow libtorch addon: tensor handles and argument conversion.
// The binding is deliberately mechanical: every entry point converts JavaScript values to
// ATen arguments, calls one ATen function and wraps the result. Intelligence lives in TypeScript.
#pragma once

#include <ATen/ATen.h>
#include <napi.h>

#include <atomic>
#include <string>
#include <vector>

// scripts/torch-config.mjs defines it: 1 when Gloo's headers were found (native/src/distributed.cc).
#ifndef WINNOW_GLOO
#define WINNOW_GLOO 0
#endif

namespace winnow {

// A JavaScript handle owns one at::Tensor. dispose() resets it early; the External's finalizer
// is only the backstop for handles nobody disposed.
struct Holder {
  at::Tensor t;
  int64_t bytes = 0;
  bool freed = false;
  // Whether `bytes` is currently reported to V8 as external memory. Only tensors that no scope
  // owns are reported: those are the ones only the garbage collector might free. Reporting the
  // scope-owned activations of a training step made V8 run a full GC every step.
  bool reported = false;
};

extern std::atomic<int64_t> g_live;
extern std::atomic<int64_t> g_live_bytes;
extern const napi_type_tag kTensorTag;

Napi::Value wrap(Napi::Env env, at::Tensor t);
void release(Napi::Env env, Holder* h);

// Converts a c++ exception into a JavaScript Error carrying libtorch's message.
[[noreturn]] void rethrow(Napi::Env env);

struct Args {
  const Napi::CallbackInfo& info;
  Napi::Env env;
  explicit Args(const Napi::CallbackInfo& i) : info(i), env(i.Env()) {}

  bool has(size_t i) const { return i < info.Length() && !info[i].IsUndefined() && !info[i].IsNull(); }

  Holder* H(size_t i) const {
    if (i >= info.Length() || !info[i].IsExternal()) {
      throw Napi::TypeError::New(env, "argument " + std::to_string(i) + ": expected a tensor handle");
    }
    auto ext = info[i].As<Napi::External<Holder>>();
    if (!ext.CheckTypeTag(&kTensorTag)) {
      throw Napi::TypeError::New(env, "argument " + std::to_string(i) + ": not a Winnow tensor handle");
    }
    Holder* h = ext.Data();
    if (h->freed) throw Napi::Error::New(env, "Tensor used after dispose()");
    return h;
  }
  at::Tensor& T(size_t i) const { return H(i)->t; }
  c10::optional<at::Tensor> OT(size_t i) const {
    if (!has(i)) return c10::nullopt;
    return T(i);
  }
  // An undefined tensor where ATen takes `const Tensor&` that may be absent.
  at::Tensor UT(size_t i) const { return has(i) ? T(i) : at::Tensor(); }
  std::vector<at::Tensor> TL(size_t i) const {
    auto arr = info[i].As<Napi::Array>();
    std::vector<at::Tensor> out;
    out.reserve(arr.Length());
    for (uint32_t k = 0; k < arr.Length(); k++) {
      Napi::Value v = arr[k];
      if (!v.IsExternal()) throw Napi::TypeError::New(env, "expected a list of tensor handles");
      auto ext = v.As<Napi::External<Holder>>();
      if (!ext.CheckTypeTag(&kTensorTag)) throw Napi::TypeError::New(env, "not a Winnow tensor handle");
      if (ext.Data()->freed) throw Napi::Error::New(env, "Tensor used after dispose()");
      out.push_back(ext.Data()->t);
    }
    return out;
  }
  int64_t I(size_t i) const {
    if (i >= info.Length() || !info[i].IsNumber()) {
      throw Napi::TypeError::New(env, "argument " + std::to_string(i) + ": expected an integer");
    }
    return info[i].As<Napi::Number>().Int64Value();
  }
  c10::optional<int64_t> OI(size_t i) const {
    if (!has(i)) return c10::nullopt;
    return I(i);
  }
  double D(size_t i) const {
    if (i >= info.Length() || !info[i].IsNumber()) {
      throw Napi::TypeError::New(env, "argument " + std::to_string(i) + ": expected a number");
    }
    return info[i].As<Napi::Number>().DoubleValue();
  }
  c10::optional<double> OD(size_t i) const {
    if (!has(i)) return c10::nullopt;
    return D(i);
  }
  bool B(size_t i) const { return i < info.Length() && info[i].ToBoolean().Value(); }
  std::string Str(size_t i) const { return info[i].ToString().Utf8Value(); }
  // JS numbers that are integers become integral Scalars (as Python ints do), others doubles.
  at::Scalar S(size_t i) const {
    if (i < info.Length() && info[i].IsBoolean()) return at::Scalar(info[i].As<Napi::Boolean>().Value());
    double d = D(i);
    if (std::isfinite(d) && d == static_cast<double>(static_cast<int64_t>(d)) && std::abs(d) < 9.007199254740992e15) {
      return at::Scalar(static_cast<int64_t>(d));
    }
    return at::Scalar(d);
  }
  c10::optional<at::Scalar> OS(size_t i) const {
    if (!has(i)) return c10::nullopt;
    return S(i);
  }
  std::vector<int64_t> IL(size_t i) const {
    if (i >= info.Length() || !info[i].IsArray()) {
      throw Napi::TypeError::New(env, "argument " + std::to_string(i) + ": expected an array of integers");
    }
    auto arr = info[i].As<Napi::Array>();
    std::vector<int64_t> out(arr.Length());
    for (uint32_t k = 0; k < arr.Length(); k++) {
      Napi::Value v = arr[k];
      if (!v.IsNumber()) throw Napi::TypeError::New(env, "argument " + std::to_string(i) + ": expected integers");
      out[k] = v.As<Napi::Number>().Int64Value();
    }
    return out;
  }
  at::ScalarType DT(size_t i) const { return static_cast<at::ScalarType>(I(i)); }
  c10::optional<at::ScalarType> ODT(size_t i) const {
    if (!has(i)) return c10::nullopt;
    return DT(i);
  }
  at::Device Dev(size_t i) const { return has(i) ? at::Device(Str(i)) : at::Device(at::kCPU); }
  at::TensorOptions Opt(size_t dtypeIdx, size_t devIdx) const {
    return at::TensorOptions().dtype(has(dtypeIdx) ? DT(dtypeIdx) : at::kFloat).device(Dev(devIdx));
  }

  Napi::Value ret(at::Tensor t) const { return wrap(env, std::move(t)); }
  Napi::Value ret(const std::tuple<at::Tensor, at::Tensor>& p) const {
    auto arr = Napi::Array::New(env, 2);
    arr.Set(0u, wrap(env, std::get<0>(p)));
    arr.Set(1u, wrap(env, std::get<1>(p)));
    return arr;
  }
  Napi::Value ret(const std::vector<at::Tensor>& v) const {
    auto arr = Napi::Array::New(env, v.size());
    for (size_t k = 0; k < v.size(); k++) arr.Set(static_cast<uint32_t>(k), wrap(env, v[k]));
    return arr;
  }
  Napi::Value ret(bool b) const { return Napi::Boolean::New(env, b); }
  Napi::Value ret(double d) const { return Napi::Number::New(env, d); }
  Napi::Value ret(int64_t d) const { return Napi::Number::New(env, static_cast<double>(d)); }
  Napi::Value ret(const std::vector<int64_t>& v) const {
    auto arr = Napi::Array::New(env, v.size());
    for (size_t k = 0; k < v.size(); k++) arr.Set(static_cast<uint32_t>(k), Napi::Number::New(env, static_cast<double>(v[k])));
    return arr;
  }
  Napi::Value none() const { return env.Undefined(); }
};

using OpFn = Napi::Value (*)(const Napi::CallbackInfo&);
void registerOps(Napi::Env env, Napi::Object exports);
void registerCpuCache(Napi::Env env, Napi::Object exports);
void registerDistributed(Napi::Env env, Napi::Object exports);

}  // namespace winnow

// Defines one exported entry point; BODY sees `a` (Args) and returns a Napi::Value.
// Every c++ exception (c10::Error, std::runtime_error, ...) becomes a JavaScript Error.
#define WINNOW_FN(NAME, ...)                                         \
  static Napi::Value fn_##NAME(const Napi::CallbackInfo& info) {      \
    winnow::Args a(info);                                             \
    try {                                                             \
      __VA_ARGS__                                                     \
    } catch (const Napi::Error&) {                                    \
      throw;                                                          \
    } catch (...) {                                                   \
      winnow::rethrow(a.env);                                         \
    }                                                                 \
  }
#define WINNOW_EXPORT(NAME) exports.Set(#NAME, Napi::Function::New(env, fn_##NAME, #NAME))
