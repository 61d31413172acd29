"""Pure-NumPy reference optimizers, written line by line from PyTorch's documented algorithms.

These are the test oracle for the compiled kernels and the "pure NumPy" baseline of the
benchmarks.  They favour readability over speed: each step allocates temporaries like a plain
NumPy user would.  Arithmetic follows PyTorch's single-tensor implementation operation by
operation, in the parameter's dtype (a Python float meeting a float32 array is rounded to float32
first, as PyTorch does with a scalar), so with correctly rounded ``+ - * / sqrt`` the compiled
kernels agree with these to the last bit.

The classes share the public API of :mod:`fastlr.optim` (constructor arguments,
``step(grads)``, ``param_groups``, ``state``, ``step_count``).  A row gradient (any object with
``indices`` and ``values``, e.g. :class:`fastlr.RowGrad`) is applied lazily: duplicate rows are
summed, and the dense formula runs on the touched rows only.
"""
from __future__ import annotations

import numbers
from typing import Any, Iterable, Sequence

import numpy as np

from fastlr.reference.rows import _rowwise_adagrad_block as rowwise_adagrad_block
from fastlr.reference.rows import coalesce_rows

__all__ = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "RowwiseAdagrad"]


def _lerp(start: np.ndarray, end: np.ndarray, weight: float) -> np.ndarray:
    """PyTorch's lerp: ``start + w (end - start)`` for ``|w| < 0.5``, else from the far end."""
    w = start.dtype.type(weight)
    if abs(w) < 0.5:
        return start + w * (end - start)
    return end - (end - start) * (start.dtype.type(1) - w)


def _python_scalars(group: dict) -> dict:
    """The group with its numbers as Python floats (bools and callables untouched).

    PyTorch turns every hyper-parameter into a Python scalar, which meets a tensor in the
    tensor's dtype; a NumPy float64 scalar would instead promote a float32 array to float64.
    """
    def plain(v):
        if isinstance(v, (bool, np.bool_, np.ndarray)) or callable(v):
            return v
        if isinstance(v, (tuple, list)):
            return type(v)(plain(x) for x in v)
        return float(v) if isinstance(v, numbers.Real) else v
    return {k: plain(v) for k, v in group.items()}


class _Reference:
    """Param groups, state and the step loop shared by the reference optimizers."""

    _state_names: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]):
        self.defaults = dict(defaults)
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        self.param_groups = []
        for g in groups:
            g = dict(g)
            g["params"] = list(g["params"])
            for k, v in self.defaults.items():
                g.setdefault(k, v)
            self.param_groups.append(g)
        self.state: dict[int, dict[str, Any]] = {}
        self.step_count = 0

    def _hyper(self, group: dict, key: str) -> Any:
        v = group[key]
        return v(self.step_count) if callable(v) else v

    def _lr(self, group: dict) -> float:
        lr = float(self._hyper(group, "lr"))
        scale = group.get("lr_scale", 1.0)
        if scale != 1.0:
            lr = max(lr * scale, min(lr, group.get("lr_min", 0.0)))
        return lr

    def step(self, grads: Sequence[Any]) -> None:
        params = [p for g in self.param_groups for p in g["params"]]
        if len(grads) != len(params):
            raise ValueError(f"expected {len(params)} gradients, got {len(grads)}")
        i = 0
        for group in self.param_groups:
            group = _python_scalars(group)
            lr = self._lr(group)
            for p in group["params"]:
                grad = grads[i]
                if grad is not None:
                    state = self.state.setdefault(i, {})
                    if not state:
                        state["step"] = 0
                        self._init_state(state, p, group)
                    state["step"] += 1
                    if hasattr(grad, "indices") and hasattr(grad, "values"):
                        self._rows_step(p, grad, state, group, lr)
                    else:
                        self._update(p, np.asarray(grad), state, group, lr, state["step"])
                i += 1
        self.step_count += 1

    def _rows_step(self, p: np.ndarray, grad: Any, state: dict, group: dict, lr: float) -> None:
        rows, g = coalesce_rows(grad.indices, np.asarray(grad.values, dtype=p.dtype))
        sub = {k: (v[rows] if isinstance(v, np.ndarray) else v) for k, v in state.items()}
        p_rows = p[rows]
        self._update(p_rows, g, sub, group, lr, state["step"])
        p[rows] = p_rows
        for k, v in sub.items():
            if isinstance(v, np.ndarray):
                if k not in state:          # a buffer the update created (SGD momentum)
                    state[k] = np.zeros_like(p)
                state[k][rows] = v

    def _init_state(self, state: dict, p: np.ndarray, group: dict) -> None:
        for name in self._state_names:
            state[name] = np.zeros_like(p)

    def _update(self, p: np.ndarray, grad: np.ndarray, state: dict, group: dict, lr: float,
                step: int) -> None:
        raise NotImplementedError


class SGD(_Reference):
    """``torch.optim.SGD``: momentum, dampening, Nesterov, weight decay, maximize."""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _update(self, p, grad, state, group, lr, step):
        momentum = self._hyper(group, "momentum")
        g = -grad if group["maximize"] else grad
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p
        if momentum != 0 or callable(group["momentum"]):
            if "momentum_buffer" not in state:
                buf = g.copy()
            else:
                buf = state["momentum_buffer"] * momentum + (1 - group["dampening"]) * g
            state["momentum_buffer"] = buf
            g = g + momentum * buf if group["nesterov"] else buf
        p[...] = p + (-lr) * g


class Adam(_Reference):
    """``torch.optim.Adam`` (and AdamW with ``decoupled_weight_decay``), with AMSGrad."""

    _state_names = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, maximize=False, decoupled_weight_decay=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _init_state(self, state, p, group):
        super()._init_state(state, p, group)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = np.zeros_like(p)

    def _update(self, p, grad, state, group, lr, step):
        beta1, beta2 = group["betas"]
        beta1 = float(beta1(self.step_count)) if callable(beta1) else beta1
        wd = group["weight_decay"]
        g = -grad if group["maximize"] else grad
        param = p
        if wd != 0:
            if group["decoupled_weight_decay"]:
                param = param * (1 - lr * wd)
            else:
                g = g + wd * param
        m = _lerp(state["exp_avg"], g, 1 - beta1)
        v = state["exp_avg_sq"] * beta2 + (1 - beta2) * g * g
        state["exp_avg"][...] = m
        state["exp_avg_sq"][...] = v
        bias_correction1 = 1 - beta1 ** step
        bias_correction2 = 1 - beta2 ** step
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2 ** 0.5
        if group["amsgrad"]:
            v = np.maximum(state["max_exp_avg_sq"], v)
            state["max_exp_avg_sq"][...] = v
        denom = np.sqrt(v) / bias_correction2_sqrt + eps_of(group, p)
        p[...] = param + (-step_size) * m / denom


def eps_of(group: dict, p: np.ndarray):
    """``eps`` rounded to the parameter's dtype (how PyTorch adds a scalar)."""
    return p.dtype.type(group["eps"])


class AdamW(Adam):
    """``torch.optim.AdamW``: Adam with decoupled weight decay (default 1e-2)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=True)


class RMSprop(_Reference):
    """``torch.optim.RMSprop``: centered, momentum, weight decay, maximize."""

    _state_names = ("square_avg",)

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, *, maximize=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def _init_state(self, state, p, group):
        super()._init_state(state, p, group)
        if group["momentum"] > 0:
            state["momentum_buffer"] = np.zeros_like(p)
        if group["centered"]:
            state["grad_avg"] = np.zeros_like(p)

    def _update(self, p, grad, state, group, lr, step):
        alpha = group["alpha"]
        g = -grad if group["maximize"] else grad
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p
        square_avg = state["square_avg"] * alpha + (1 - alpha) * g * g
        state["square_avg"][...] = square_avg
        if group["centered"]:
            grad_avg = _lerp(state["grad_avg"], g, 1 - alpha)
            state["grad_avg"][...] = grad_avg
            avg = np.sqrt(square_avg + (-grad_avg) * grad_avg)
        else:
            avg = np.sqrt(square_avg)
        avg = avg + eps_of(group, p)
        if group["momentum"] > 0:
            buf = state["momentum_buffer"] * group["momentum"] + g / avg
            state["momentum_buffer"][...] = buf
            p[...] = p + (-lr) * buf
        else:
            p[...] = p + (-lr) * g / avg


class Adagrad(_Reference):
    """``torch.optim.Adagrad``: lr decay, initial accumulator, weight decay, maximize."""

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, *, maximize=False):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize))

    def _init_state(self, state, p, group):
        state["sum"] = np.full_like(p, group["initial_accumulator_value"])

    def _update(self, p, grad, state, group, lr, step):
        g = -grad if group["maximize"] else grad
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p
        clr = lr / (1 + (step - 1) * group["lr_decay"])
        state_sum = state["sum"] + g * g
        state["sum"][...] = state_sum
        std = np.sqrt(state_sum) + eps_of(group, p)
        p[...] = p + (-clr) * g / std


class Adadelta(_Reference):
    """``torch.optim.Adadelta``: rho, eps, lr, weight decay, maximize."""

    _state_names = ("square_avg", "acc_delta")

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, *, maximize=False):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def _update(self, p, grad, state, group, lr, step):
        rho = group["rho"]
        eps = eps_of(group, p)
        g = -grad if group["maximize"] else grad
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p
        square_avg = state["square_avg"] * rho + (1 - rho) * g * g
        state["square_avg"][...] = square_avg
        std = np.sqrt(square_avg + eps)
        delta = np.sqrt(state["acc_delta"] + eps) / std * g
        state["acc_delta"][...] = state["acc_delta"] * rho + (1 - rho) * delta * delta
        p[...] = p + (-lr) * delta


class RowwiseAdagrad(Adagrad):
    """:class:`fastlr.RowwiseAdagrad`: Adagrad with one accumulator per row (axis 0)."""

    def _init_state(self, state, p, group):
        state["sum"] = np.full(p.shape[0], group["initial_accumulator_value"], dtype=p.dtype)

    def _update(self, p, grad, state, group, lr, step):
        clr = lr / (1 + (step - 1) * group["lr_decay"])
        table = p.reshape(len(p), -1)
        new_p, new_sum = rowwise_adagrad_block(
            table, state["sum"], grad.reshape(len(p), -1), clr=clr,
            weight_decay=group["weight_decay"], eps=group["eps"], maximize=group["maximize"],
            param=table)
        state["sum"][...] = new_sum
        p[...] = new_p.reshape(p.shape)
