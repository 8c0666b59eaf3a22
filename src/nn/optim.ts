// Optimizers over in-place tensor ops, run without grad recording. Each one performs the same
// tensor operations, in the same order, as its PyTorch (1.13, single-tensor path) or lightly
// counterpart, so the same gradients give the same parameters.
//
// Optimizer state tensors (momentum buffers, Adam moments) are owned by the optimizer:
// `dispose()` frees them. Parameters are referenced, not owned: build the optimizer after any
// `module.to(...)`, which replaces parameter tensors.
import * as torch from "../torch/index.js";
import type { Tensor } from "../torch/index.js";
import type { Module } from "./module.js";
import { isNormLayer } from "./layers.js";

export interface GroupOptions {
  lr: number;
}
/** A parameter group: its tensors plus its own hyper-parameters (missing ones take the defaults). */
export type ParamGroupSpec<O> = { params: Tensor[] } & Partial<O>;
export type ParamGroup<O> = { params: Tensor[] } & O;
export type ParamsArg<O> = Tensor[] | ParamGroupSpec<O>[];

type StateValue = Tensor | number;
export type ParamState = Record<string, StateValue>;

/** What `Optimizer.stateDict()` returns (PyTorch's layout: params referenced by index). */
export interface OptimizerStateDict<O> {
  state: Map<number, ParamState>;
  paramGroups: (O & { params: number[] })[];
}

export abstract class Optimizer<O extends GroupOptions> {
  readonly paramGroups: ParamGroup<O>[] = [];
  readonly state = new Map<Tensor, ParamState>();
  readonly defaults: O;

  constructor(params: ParamsArg<O>, defaults: O) {
    this.defaults = defaults;
    const list = params as (Tensor | ParamGroupSpec<O>)[];
    if (list.length === 0) throw new Error("optimizer got an empty parameter list");
    const groups: ParamGroupSpec<O>[] = isGroupList(list) ? list : [{ params: list as Tensor[] } as ParamGroupSpec<O>];
    for (const g of groups) this.addParamGroup(g);
  }

  addParamGroup(spec: ParamGroupSpec<O>): void {
    const seen = new Set(this.paramGroups.flatMap((g) => g.params));
    for (const p of spec.params) {
      if (seen.has(p)) throw new Error("some parameters appear in more than one parameter group");
    }
    const group = { ...this.defaults, ...spec, params: [...spec.params] } as ParamGroup<O>;
    for (const [k, v] of Object.entries(group)) {
      if (v === undefined) throw new Error(`parameter group didn't specify a value of required optimization parameter ${k}`);
    }
    this.paramGroups.push(group);
  }

  /** Sets every parameter's grad to null (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(setToNone = true): void {
    torch.noGrad(() => {
      for (const g of this.paramGroups) {
        for (const p of g.params) {
          if (setToNone) {
            p.grad = null;
          } else {
            const gr = p.grad;
            if (gr) {
              gr.zero_();
              gr.dispose();
            }
          }
        }
      }
    });
  }

  /** One update from the current gradients. */
  step(): void {
    torch.noGrad(() => torch.scope(() => this.update()));
  }

  /** The update itself; runs inside a scope with grad recording off. */
  protected abstract update(): void;

  /** Sets the learning rate of every group (one number) or of each group (a list). */
  setLr(lr: number | number[]): void {
    const lrs = Array.isArray(lr) ? lr : this.paramGroups.map(() => lr);
    if (lrs.length !== this.paramGroups.length) throw new Error(`setLr: ${lrs.length} values for ${this.paramGroups.length} parameter groups`);
    this.paramGroups.forEach((g, i) => (g.lr = lrs[i]));
  }
  getLr(): number[] {
    return this.paramGroups.map((g) => g.lr);
  }

  /** The state of parameter `p`, created empty on first use. */
  protected stateOf(p: Tensor): ParamState {
    let s = this.state.get(p);
    if (!s) {
      s = {};
      this.state.set(p, s);
    }
    return s;
  }

  /** A copy of the state (tensors cloned, caller owns them) and hyper-parameters, PyTorch's layout. */
  stateDict(): OptimizerStateDict<O> {
    const index = new Map<Tensor, number>();
    const paramGroups = this.paramGroups.map((g) => {
      const { params, ...rest } = g;
      return { ...(rest as unknown as O), params: params.map((p) => {
        if (!index.has(p)) index.set(p, index.size);
        return index.get(p)!;
      }) };
    });
    const state = new Map<number, ParamState>();
    for (const [p, s] of this.state) {
      const i = index.get(p);
      if (i === undefined) continue;
      const copy: ParamState = {};
      for (const [k, v] of Object.entries(s)) copy[k] = typeof v === "number" ? v : torch.keep(torch.noGrad(() => v.clone()));
      state.set(i, copy);
    }
    return { state, paramGroups };
  }

  /** Restores what `stateDict()` returned (tensors are copied; the dict stays the caller's). */
  loadStateDict(sd: OptimizerStateDict<O>): void {
    if (sd.paramGroups.length !== this.paramGroups.length) throw new Error("loaded state dict has a different number of parameter groups");
    const byIndex: Tensor[] = [];
    sd.paramGroups.forEach((g, gi) => {
      const mine = this.paramGroups[gi];
      if (g.params.length !== mine.params.length) throw new Error("loaded state dict contains a parameter group that doesn't match the size of optimizer's group");
      g.params.forEach((idx, j) => (byIndex[idx] = mine.params[j]));
      const { params: _ignored, ...hyper } = g;
      Object.assign(mine, hyper);
    });
    this.disposeState();
    for (const [i, s] of sd.state) {
      const p = byIndex[i];
      if (!p) continue;
      const copy: ParamState = {};
      for (const [k, v] of Object.entries(s)) {
        copy[k] = typeof v === "number" ? v : torch.keep(torch.noGrad(() => v.to({ device: p.device, dtype: torch.isFloating(v.dtype) ? p.dtype : v.dtype })));
      }
      this.state.set(p, copy);
    }
  }

  private disposeState(): void {
    for (const s of this.state.values()) for (const v of Object.values(s)) if (typeof v !== "number") v.dispose();
    this.state.clear();
  }

  /** Frees the optimizer's state tensors (not the parameters). */
  dispose(): void {
    this.disposeState();
  }
}

function isGroupList<O>(l: (Tensor | ParamGroupSpec<O>)[]): l is ParamGroupSpec<O>[] {
  const first = l[0] as { params?: unknown };
  return first !== null && typeof first === "object" && Array.isArray(first.params);
}

/** A new state tensor owned by the optimizer. */
const own = (t: Tensor): Tensor => torch.keep(t);

/** The hyper-parameters SGD and LARS share. */
interface MomentumOptions extends GroupOptions {
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

function checkMomentumOptions(o: MomentumOptions): void {
  if (o.lr < 0) throw new Error(`Invalid learning rate: ${o.lr}`);
  if (o.momentum < 0) throw new Error(`Invalid momentum value: ${o.momentum}`);
  if (o.weightDecay < 0) throw new Error(`Invalid weight_decay value: ${o.weightDecay}`);
  if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0)) {
    throw new Error("Nesterov momentum requires a momentum and zero dampening");
  }
}

/**
 * PyTorch's SGD momentum on update `dp`: the buffer starts as a copy of the first update, then
 * buf = momentum·buf + (1 − dampening)·dp; returns the step direction (Nesterov or plain).
 */
function momentumStep(st: ParamState, dp: Tensor, g: MomentumOptions): Tensor {
  let buf = st.momentum_buffer as Tensor | undefined;
  if (!buf) {
    buf = st.momentum_buffer = own(dp.clone());
  } else {
    buf.mul_(g.momentum).add_(dp, 1 - g.dampening);
  }
  return g.nesterov ? dp.add(buf, g.momentum) : buf;
}

// ---- SGD ------------------------------------------------------------------------------------------
export interface SGDOptions extends MomentumOptions {
  maximize: boolean;
}

/** torch.optim.SGD (momentum buffer starts as a copy of the first update, as PyTorch's). */
export class SGD extends Optimizer<SGDOptions> {
  constructor(params: ParamsArg<SGDOptions>, opts: Partial<SGDOptions> & { lr: number }) {
    const defaults: SGDOptions = { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, ...opts };
    checkMomentumOptions(defaults);
    super(params, defaults);
  }

  protected update(): void {
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        const grad = p.grad;
        if (!grad) continue;
        let dp = g.maximize ? grad.neg() : grad;
        if (g.weightDecay !== 0) dp = dp.add(p, g.weightDecay);
        if (g.momentum !== 0) dp = momentumStep(this.stateOf(p), dp, g);
        p.add_(dp, -g.lr);
      }
    }
  }
}

// ---- LARS (lightly.utils.lars.LARS) --------------------------------------------------------------
export interface LARSOptions extends MomentumOptions {
  trustCoefficient: number;
  eps: number;
}

/**
 * SGD with layer-wise LR scaling ("Large batch training of convolutional networks"), with
 * lightly's semantics: for a parameter with weight decay ≠ 0 and non-zero parameter and
 * gradient norms, the update (grad + wd·p) is scaled by
 * trust_coefficient · ‖p‖ / (‖g‖ + wd·‖p‖ + eps) before momentum. Parameters in groups with
 * weight decay 0 (put biases and BatchNorm parameters there) are neither decayed nor scaled.
 */
export class LARS extends Optimizer<LARSOptions> {
  constructor(params: ParamsArg<LARSOptions>, opts: Partial<LARSOptions> & { lr: number }) {
    const defaults: LARSOptions = {
      momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, trustCoefficient: 0.001, eps: 1e-8, ...opts,
    };
    checkMomentumOptions(defaults);
    super(params, defaults);
  }

  protected update(): void {
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        const grad = p.grad;
        if (!grad) continue;
        let dp = grad;
        if (g.weightDecay !== 0) {
          const pNorm = p.norm();
          const gNorm = grad.norm();
          if (pNorm.item() !== 0 && gNorm.item() !== 0) {
            const larsLr = pNorm.div(gNorm.add(pNorm.mul(g.weightDecay)).add(g.eps));
            larsLr.mul_(g.trustCoefficient);
            dp = dp.add(p, g.weightDecay);
            dp.mul_(larsLr);
          }
        }
        if (g.momentum !== 0) dp = momentumStep(this.stateOf(p), dp, g);
        p.add_(dp, -g.lr);
      }
    }
  }
}

// ---- AdamW ----------------------------------------------------------------------------------------
export interface AdamWOptions extends GroupOptions {
  betas: [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
}

/** torch.optim.AdamW: decoupled weight decay, bias-corrected moments. */
export class AdamW extends Optimizer<AdamWOptions> {
  constructor(params: ParamsArg<AdamWOptions>, opts: Partial<AdamWOptions> = {}) {
    const defaults: AdamWOptions = {
      lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false, maximize: false, ...opts,
    };
    if (defaults.lr < 0) throw new Error(`Invalid learning rate: ${defaults.lr}`);
    if (defaults.eps < 0) throw new Error(`Invalid epsilon value: ${defaults.eps}`);
    for (const [i, b] of defaults.betas.entries()) {
      if (b < 0 || b >= 1) throw new Error(`Invalid beta parameter at index ${i}: ${b}`);
    }
    if (defaults.weightDecay < 0) throw new Error(`Invalid weight_decay value: ${defaults.weightDecay}`);
    super(params, defaults);
  }

  protected update(): void {
    for (const g of this.paramGroups) {
      const [beta1, beta2] = g.betas;
      for (const p of g.params) {
        const rawGrad = p.grad;
        if (!rawGrad) continue;
        const grad = g.maximize ? rawGrad.neg() : rawGrad;
        const st = this.stateOf(p);
        if (st.step === undefined) {
          st.step = 0;
          st.exp_avg = own(torch.zerosLike(p));
          st.exp_avg_sq = own(torch.zerosLike(p));
          if (g.amsgrad) st.max_exp_avg_sq = own(torch.zerosLike(p));
        }
        const expAvg = st.exp_avg as Tensor;
        const expAvgSq = st.exp_avg_sq as Tensor;
        const step = (st.step as number) + 1;
        st.step = step;
        p.mul_(1 - g.lr * g.weightDecay);
        expAvg.mul_(beta1).add_(grad, 1 - beta1);
        expAvgSq.mul_(beta2).addcmul_(grad, grad, 1 - beta2);
        const bc1 = 1 - beta1 ** step;
        const bc2 = 1 - beta2 ** step;
        const stepSize = g.lr / bc1;
        const bc2Sqrt = Math.sqrt(bc2);
        let second = expAvgSq;
        if (g.amsgrad) {
          const maxSq = st.max_exp_avg_sq as Tensor;
          maxSq.copy_(torch.scope(() => maxSq.maximum(expAvgSq)));
          second = maxSq;
        }
        const denom = second.sqrt().div(bc2Sqrt).add_(g.eps);
        p.addcdiv_(expAvg, denom, -stepSize);
      }
    }
  }
}

/**
 * Splits parameters into [decayed, not decayed] as lightly's get_weight_decay_parameters: by
 * default the parameters of normalization layers and every parameter named "bias" get no weight
 * decay. Typical use: `[{ params: decay }, { params: noDecay, weightDecay: 0 }]` (with LARS this also
 * excludes them from the layer-wise scaling).
 */
export function getWeightDecayParameters(
  modules: Module[], opts: { decayNorm?: boolean; decayBias?: boolean } = {},
): [Tensor[], Tensor[]] {
  const params: Tensor[] = [];
  const noDecay: Tensor[] = [];
  for (const module of modules) {
    for (const mod of module.modules()) {
      if (isNormLayer(mod)) {
        (opts.decayNorm ? params : noDecay).push(...mod.parameters(false));
      } else {
        for (const [name, p] of mod.namedParameters("", false)) {
          (!opts.decayBias && name.endsWith("bias") ? noDecay : params).push(p);
        }
      }
    }
  }
  return [params, noDecay];
}
