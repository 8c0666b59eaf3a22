// The op table: one line per ATen function, named as in PyTorch (camelCase), no logic.
// `_` suffix = in-place (returns nothing; the TypeScript side returns the same tensor).
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/TensorIndexing.h>

#include "common.h"

namespace {
struct Entry {
  const char* name;
  winnow::OpFn fn;
};
std::vector<Entry>& table() {
  static std::vector<Entry> t;
  return t;
}
struct Reg {
  Reg(const char* n, winnow::OpFn f) { table().push_back({n, f}); }
};
}  // namespace

#define OP(NAME, ...)            \
  WINNOW_FN(NAME, __VA_ARGS__)   \
  static Reg reg_##NAME(#NAME, fn_##NAME);
#define UNARY(NAME, EXPR) OP(NAME, { auto& x = a.T(0); return a.ret(EXPR); })
#define INPLACE(NAME, STMT) OP(NAME, { auto& x = a.T(0); STMT; return a.none(); })

using at::indexing::TensorIndex;

// ---- views and joins ------------------------------------------------------------------
UNARY(reshape, x.reshape(a.IL(1)))
UNARY(view, x.view(a.IL(1)))
UNARY(permute, x.permute(a.IL(1)))
UNARY(transpose, x.transpose(a.I(1), a.I(2)))
UNARY(narrow, x.narrow(a.I(1), a.I(2), a.I(3)))
UNARY(slice, x.slice(a.I(1), a.OI(2), a.OI(3), a.I(4)))
UNARY(select, x.select(a.I(1), a.I(2)))
UNARY(indexSelect, x.index_select(a.I(1), a.T(2)))
UNARY(index, x.index({TensorIndex(a.T(1))}))
INPLACE(indexPut_, x.index_put_({TensorIndex(a.T(1))}, a.T(2)))
INPLACE(indexAdd_, x.index_add_(a.I(1), a.T(2), a.T(3)))
UNARY(gather, x.gather(a.I(1), a.T(2)))
UNARY(scatter, x.scatter(a.I(1), a.T(2), a.T(3)))
UNARY(scatterAdd, x.scatter_add(a.I(1), a.T(2), a.T(3)))
INPLACE(scatter_, x.scatter_(a.I(1), a.T(2), a.T(3)))
UNARY(maskedSelect, x.masked_select(a.T(1)))
UNARY(squeeze, a.has(1) ? x.squeeze(a.I(1)) : x.squeeze())
UNARY(unsqueeze, x.unsqueeze(a.I(1)))
UNARY(flatten, x.flatten(a.I(1), a.I(2)))
UNARY(expand, x.expand(a.IL(1)))
UNARY(repeat, x.repeat(a.IL(1)))
OP(cat, { return a.ret(at::cat(a.TL(0), a.I(1))); })
OP(stack, { return a.ret(at::stack(a.TL(0), a.I(1))); })
OP(split, { return a.ret(a.T(0).split(a.I(1), a.I(2))); })
OP(splitWithSizes, { return a.ret(a.T(0).split_with_sizes(a.IL(1), a.I(2))); })
OP(chunk, { return a.ret(a.T(0).chunk(a.I(1), a.I(2))); })
UNARY(flip, x.flip(a.IL(1)))
UNARY(roll, x.roll(a.IL(1), a.IL(2)))
UNARY(t, x.t())

// ---- arithmetic (tensor ⊕ tensor, tensor ⊕ scalar, in place) ----------------------------
UNARY(add, at::add(x, a.T(1), a.S(2)))
UNARY(addScalar, at::add(x, a.S(1)))
UNARY(sub, at::sub(x, a.T(1), a.S(2)))
UNARY(subScalar, at::sub(x, a.S(1)))
UNARY(rsubScalar, at::rsub(x, a.S(1)))
UNARY(mul, at::mul(x, a.T(1)))
UNARY(mulScalar, at::mul(x, a.S(1)))
UNARY(div, at::div(x, a.T(1)))
UNARY(divScalar, at::div(x, a.S(1)))
UNARY(remainderScalar, at::remainder(x, a.S(1)))
INPLACE(add_, x.add_(a.T(1), a.S(2)))
INPLACE(addScalar_, x.add_(a.S(1)))
INPLACE(sub_, x.sub_(a.T(1), a.S(2)))
INPLACE(mul_, x.mul_(a.T(1)))
INPLACE(mulScalar_, x.mul_(a.S(1)))
INPLACE(div_, x.div_(a.T(1)))
INPLACE(divScalar_, x.div_(a.S(1)))
INPLACE(addcmul_, x.addcmul_(a.T(1), a.T(2), a.S(3)))
INPLACE(addcdiv_, x.addcdiv_(a.T(1), a.T(2), a.S(3)))
INPLACE(lerpScalar_, x.lerp_(a.T(1), a.S(2)))
INPLACE(copy_, x.copy_(a.T(1), a.B(2)))
INPLACE(zero_, x.zero_())
INPLACE(fill_, x.fill_(a.S(1)))
INPLACE(clamp_, x.clamp_(a.OS(1), a.OS(2)))
INPLACE(sqrt_, x.sqrt_())
INPLACE(relu_, x.relu_())
INPLACE(uniform_, x.uniform_(a.D(1), a.D(2)))
INPLACE(normal_, x.normal_(a.D(1), a.D(2)))
INPLACE(bernoulli_, x.bernoulli_(a.D(1)))
UNARY(bernoulli, at::bernoulli(x))
UNARY(multinomial, at::multinomial(x, a.I(1), a.B(2)))

// ---- elementwise math -----------------------------------------------------------------
UNARY(neg, x.neg())
UNARY(exp, x.exp())
UNARY(log, x.log())
UNARY(log1p, x.log1p())
UNARY(expm1, x.expm1())
UNARY(powScalar, x.pow(a.S(1)))
UNARY(pow, x.pow(a.T(1)))
UNARY(sqrt, x.sqrt())
UNARY(rsqrt, x.rsqrt())
UNARY(abs, x.abs())
UNARY(sign, x.sign())
UNARY(clamp, x.clamp(a.OS(1), a.OS(2)))
UNARY(clampTensor, x.clamp(a.OT(1), a.OT(2)))
UNARY(floor, x.floor())
UNARY(ceil, x.ceil())
UNARY(round, x.round())
UNARY(trunc, x.trunc())
UNARY(frac, x.frac())
UNARY(reciprocal, x.reciprocal())
UNARY(sin, x.sin())
UNARY(cos, x.cos())
UNARY(atan2, x.atan2(a.T(1)))
UNARY(minimum, at::minimum(x, a.T(1)))
UNARY(maximum, at::maximum(x, a.T(1)))
UNARY(square, x.square())
UNARY(lerp, x.lerp(a.T(1), a.T(2)))

// ---- comparisons and logic ------------------------------------------------------------
UNARY(eq, x.eq(a.T(1)))
UNARY(eqScalar, x.eq(a.S(1)))
UNARY(ne, x.ne(a.T(1)))
UNARY(neScalar, x.ne(a.S(1)))
UNARY(lt, x.lt(a.T(1)))
UNARY(ltScalar, x.lt(a.S(1)))
UNARY(le, x.le(a.T(1)))
UNARY(leScalar, x.le(a.S(1)))
UNARY(gt, x.gt(a.T(1)))
UNARY(gtScalar, x.gt(a.S(1)))
UNARY(ge, x.ge(a.T(1)))
UNARY(geScalar, x.ge(a.S(1)))
UNARY(logicalAnd, x.logical_and(a.T(1)))
UNARY(logicalOr, x.logical_or(a.T(1)))
UNARY(logicalNot, x.logical_not())
UNARY(isnan, x.isnan())
UNARY(isfinite, x.isfinite())
UNARY(where, at::where(x, a.T(1), a.T(2)))
UNARY(maskedFill, x.masked_fill(a.T(1), a.S(2)))
INPLACE(maskedFill_, x.masked_fill_(a.T(1), a.S(2)))
UNARY(allclose, x.allclose(a.T(1), a.D(2), a.D(3)) ? at::ones({}, at::kBool) : at::zeros({}, at::kBool))

// ---- reductions -----------------------------------------------------------------------
UNARY(sumAll, x.sum(a.ODT(1)))
UNARY(sum, x.sum(a.IL(1), a.B(2), a.ODT(3)))
UNARY(meanAll, x.mean())
UNARY(mean, x.mean(a.IL(1), a.B(2)))
UNARY(std, at::std(x, at::IntArrayRef(a.IL(1)), a.B(2), a.B(3)))
UNARY(var, at::var(x, at::IntArrayRef(a.IL(1)), a.B(2), a.B(3)))
// Over all elements. (std/var with an empty dim list reduce everything in the forward pass, but
// libtorch 1.13's backward then divides by (1 - correction): infinite or NaN gradients.)
UNARY(stdAll, x.std(a.B(1)))
UNARY(varAll, x.var(a.B(1)))
UNARY(prodAll, x.prod())
UNARY(maxAll, x.max())
UNARY(minAll, x.min())
OP(maxDim, { return a.ret(a.T(0).max(a.I(1), a.B(2))); })
OP(minDim, { return a.ret(a.T(0).min(a.I(1), a.B(2))); })
UNARY(amax, x.amax(a.IL(1), a.B(2)))
UNARY(amin, x.amin(a.IL(1), a.B(2)))
UNARY(argmax, x.argmax(a.OI(1), a.B(2)))
UNARY(argmin, x.argmin(a.OI(1), a.B(2)))
UNARY(logsumexp, x.logsumexp(a.IL(1), a.B(2)))
UNARY(vectorNorm, at::linalg_vector_norm(x, a.S(1), at::IntArrayRef(a.IL(2)), a.B(3), c10::nullopt))
UNARY(vectorNormAll, at::linalg_vector_norm(x, a.S(1), c10::nullopt, false, c10::nullopt))
UNARY(cumsum, x.cumsum(a.I(1)))
UNARY(allAll, x.all())
UNARY(all, x.all(a.I(1), a.B(2)))
UNARY(anyAll, x.any())
UNARY(any, x.any(a.I(1), a.B(2)))
OP(topk, { return a.ret(a.T(0).topk(a.I(1), a.I(2), a.B(3), a.B(4))); })
OP(sort, { return a.ret(a.T(0).sort(a.I(1), a.B(2))); })
UNARY(argsort, x.argsort(a.I(1), a.B(2)))
UNARY(bincount, x.bincount(a.UT(1), a.I(2)))
UNARY(countNonzero, x.count_nonzero())
UNARY(nonzero, x.nonzero())

// ---- linear algebra -------------------------------------------------------------------
UNARY(matmul, x.matmul(a.T(1)))
UNARY(mm, x.mm(a.T(1)))
UNARY(bmm, x.bmm(a.T(1)))
UNARY(cdist, at::cdist(x, a.T(1), a.D(2)))
UNARY(dot, x.dot(a.T(1)))
UNARY(outer, x.outer(a.T(1)))
UNARY(addmm, at::addmm(x, a.T(1), a.T(2)))

// ---- neural-net functions -------------------------------------------------------------
OP(conv2d, {
  return a.ret(at::conv2d(a.T(0), a.T(1), a.OT(2), a.IL(3), a.IL(4), a.IL(5), a.I(6)));
})
OP(batchNorm, {
  // (input, weight?, bias?, runningMean?, runningVar?, training, momentum, eps)
  return a.ret(at::batch_norm(a.T(0), a.OT(1), a.OT(2), a.OT(3), a.OT(4), a.B(5), a.D(6), a.D(7), true));
})
OP(layerNorm, { return a.ret(at::layer_norm(a.T(0), a.IL(1), a.OT(2), a.OT(3), a.D(4), true)); })
OP(groupNorm, { return a.ret(at::group_norm(a.T(0), a.I(1), a.OT(2), a.OT(3), a.D(4), true)); })
OP(linear, { return a.ret(at::linear(a.T(0), a.T(1), a.OT(2))); })
UNARY(relu, x.relu())
UNARY(gelu, at::gelu(x, a.B(1) ? "tanh" : "none"))
UNARY(sigmoid, x.sigmoid())
UNARY(tanh, x.tanh())
UNARY(softplus, at::softplus(x, a.S(1), a.S(2)))
UNARY(leakyRelu, at::leaky_relu(x, a.S(1)))
UNARY(silu, at::silu(x))
OP(maxPool2d, { return a.ret(at::max_pool2d(a.T(0), a.IL(1), a.IL(2), a.IL(3), a.IL(4), a.B(5))); })
OP(avgPool2d, { return a.ret(at::avg_pool2d(a.T(0), a.IL(1), a.IL(2), a.IL(3), a.B(4), a.B(5), c10::nullopt)); })
UNARY(adaptiveAvgPool2d, at::adaptive_avg_pool2d(x, a.IL(1)))
UNARY(dropout, at::dropout(x, a.D(1), a.B(2)))
UNARY(softmax, x.softmax(a.I(1), a.ODT(2)))
UNARY(logSoftmax, x.log_softmax(a.I(1), a.ODT(2)))
OP(crossEntropy, {
  // (input, target, weight?, reduction 0 none|1 mean|2 sum, ignoreIndex, labelSmoothing)
  return a.ret(at::cross_entropy_loss(a.T(0), a.T(1), a.OT(2), a.I(3), a.I(4), a.D(5)));
})
OP(nllLoss, { return a.ret(at::nll_loss(a.T(0), a.T(1), a.OT(2), a.I(3), a.I(4))); })
OP(mseLoss, { return a.ret(at::mse_loss(a.T(0), a.T(1), a.I(2))); })
OP(oneHot, { return a.ret(at::one_hot(a.T(0), a.I(1))); })
// interpolate: mode 0 nearest, 1 bilinear, 2 bilinear antialiased (torch >= 1.11), 3 bicubic.
OP(interpolate, {
  auto& x = a.T(0);
  auto size = a.IL(1);
  int64_t mode = a.I(2);
  bool align = a.B(3);
  switch (mode) {
    case 0:
      return a.ret(at::upsample_nearest2d(x, size, c10::nullopt, c10::nullopt));
    case 1:
      return a.ret(at::upsample_bilinear2d(x, size, align, c10::nullopt, c10::nullopt));
    case 2:
      return a.ret(at::_upsample_bilinear2d_aa(x, size, align, c10::nullopt, c10::nullopt));
    case 3:
      return a.ret(at::upsample_bicubic2d(x, size, align, c10::nullopt, c10::nullopt));
    default:
      throw Napi::Error::New(a.env, "interpolate: unknown mode " + std::to_string(mode));
  }
})
OP(affineGrid, { return a.ret(at::affine_grid_generator(a.T(0), a.IL(1), a.B(2))); })
// gridSample: interpolation 0 bilinear|1 nearest|2 bicubic; padding 0 zeros|1 border|2 reflection.
OP(gridSample, { return a.ret(at::grid_sampler(a.T(0), a.T(1), a.I(2), a.I(3), a.B(4))); })
// pad: mode 0 constant, 1 reflect, 2 replicate (2-d spatial padding for the latter two).
OP(pad, {
  auto& x = a.T(0);
  auto p = a.IL(1);
  switch (a.I(2)) {
    case 0:
      return a.ret(at::constant_pad_nd(x, p, a.S(3)));
    case 1:
      return a.ret(at::reflection_pad2d(x, p));
    case 2:
      return a.ret(at::replication_pad2d(x, p));
    default:
      throw Napi::Error::New(a.env, "pad: unknown mode");
  }
})

// ---- fused pieces for selection loops (fewer kernels per pick) ------------------------------
// addmv(input, mat, vec, beta, alpha) = beta*input + alpha*(mat @ vec), one BLAS call.
UNARY(addmv, at::addmv(x, a.T(1), a.T(2), a.S(3), a.S(4)))
// minimum_(other): x = min(x, other) in place.
INPLACE(minimum_, at::minimum_out(x, x, a.T(1)))
INPLACE(indexFill_, x.index_fill_(a.I(1), a.T(2), a.S(3)))

// ---- seeded permutations -------------------------------------------------------------------
// randpermSeeded(n, seed): torch.randperm(n, generator=torch.Generator().manual_seed(seed)),
// int64 on the CPU; a private generator, so the global RNG stream is untouched
// (DistributedSampler's shuffle).
OP(randpermSeeded, {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(a.I(1)));
  return a.ret(at::randperm(a.I(0), gen, at::TensorOptions().dtype(at::kLong)));
})

namespace winnow {
void registerOps(Napi::Env env, Napi::Object exports) {
  for (const auto& e : table()) exports.Set(e.name, Napi::Function::New(env, e.fn, e.name));
}
}  // namespace winnow
