"""Low-level kernels of the batched model: grouped matrix products and the fused activation + dropout.

These are the only places where the model does anything clever for speed; every function here has a plain PyTorch
meaning written in its docstring, and the tests compare the two.

Memory layout. Every grouped activation is a ``(rows, groups, channels)`` tensor (``rows`` = frames of all windows).
Flattened to ``(rows, groups * channels)`` it is exactly what :func:`torch.nn.functional.batch_norm` wants for one
BatchNorm over all groups at once (the fast channels-last CPU kernel), and every group's ``(rows, channels)`` slice is a
plain BLAS matrix with a leading dimension, so the per-group matrix products read and write it in place, without the
transposing copies a ``(groups, rows, channels)`` layout would need around each BatchNorm.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["grouped_matmul", "grouped_matmul_keep_tap", "leaky_relu_dropout", "leaky_relu_dropout_",
           "bernoulli_keep_mask", "LEAKY_SLOPE"]

#: Negative slope of every LeakyReLU in the temporal and fully connected blocks.
LEAKY_SLOPE = 0.2


# ---------------------------------------------------------------------------------------------------------------------
# grouped matrix product (taps x groups), used for strided convolutions and fully connected layers


class _GroupedMatmul(torch.autograd.Function):
    """``out[r, g] = init[r, g] (or bias[g]) + sum_j x[r, j, g] @ weight[g, j]`` with hand-written backward.

    One BLAS call per (group, tap) on strided views; nothing is copied. ``weight`` may have a single group that all
    groups share (its gradient is then summed over the groups).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, init):  # noqa: D401 - autograd signature
        rows, taps, groups, _ = x.shape
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        ctx.bias_shape = None if bias is None else bias.shape
        ctx.has_init = init is not None
        if rows <= SMALL_ROWS:
            return _grouped_matmul_few_rows(x, weight, bias, init)
        n_out = weight.shape[-1]
        shared = weight.shape[0] == 1 and groups > 1
        out = torch.empty(rows, groups, n_out, dtype=x.dtype, device=x.device)
        for g in range(groups):
            w = weight[0 if shared else g]
            if init is not None:
                start = init[:, g]
            elif bias is not None:
                start = bias[0 if bias.shape[0] == 1 else g]
            else:
                start = None
            if start is None:
                torch.mm(x[:, 0, g], w[0], out=out[:, g])
            else:
                torch.addmm(start, x[:, 0, g], w[0], out=out[:, g])
            for j in range(1, taps):
                out[:, g].addmm_(x[:, j, g], w[j])
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        need_x, need_w, need_b, need_init = ctx.needs_input_grad
        grad_x, grad_w = _grouped_matmul_backward(x, weight, grad_out, need_x, need_w)
        grad_b = grad_init = None
        if need_b and ctx.has_bias:
            grad_b = grad_out.sum(0)
            if ctx.bias_shape[0] == 1:
                grad_b = grad_b.sum(0, keepdim=True)
        if need_init and ctx.has_init:
            grad_init = grad_out
        return grad_x, grad_w, grad_b, grad_init


#: Up to this many rows the product is one batched call (:func:`_grouped_matmul_few_rows`): with a few rows (one
#: streaming window, a short chunk) the per-(group, tap) calls cost more in dispatch than they save in copies; with
#: many rows (training batches: at least 256 windows give 256 rows in the last layer) the copy-free loop is faster.
#: Measured on 5 groups of 148 channels, 3 taps: 4.7x faster at 1 row, 1.2x at 81, 0.9x from 243 rows on.
SMALL_ROWS = 128


def _grouped_matmul_few_rows(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                             init: torch.Tensor | None) -> torch.Tensor:
    """The same product as one ``torch.baddbmm`` over the groups (copies ``x`` into ``(groups, rows, taps * in)``)."""
    rows, taps, groups, n_in = x.shape
    n_out = weight.shape[-1]
    stacked = x.permute(2, 0, 1, 3).reshape(groups, rows, taps * n_in)
    weights = weight.reshape(weight.shape[0], taps * n_in, n_out).expand(groups, -1, -1)
    if init is not None:
        start = init.transpose(0, 1)
    elif bias is not None:
        start = bias.unsqueeze(1).expand(groups, 1, n_out)
    else:
        return torch.bmm(stacked, weights).transpose(0, 1).contiguous()
    return torch.baddbmm(start, stacked, weights).transpose(0, 1).contiguous()


def _grouped_matmul_backward(x: torch.Tensor, weight: torch.Tensor, grad_out: torch.Tensor, need_x: bool,
                             need_w: bool) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Gradients of :class:`_GroupedMatmul`'s product with respect to ``x`` and ``weight`` (``None`` if not needed)."""
    rows, taps, groups, n_in = x.shape
    shared = weight.shape[0] == 1 and groups > 1
    grad_x = grad_w = None
    if need_x:
        grad_x = torch.empty(rows, taps, groups, n_in, dtype=x.dtype, device=x.device)
        for g in range(groups):
            w = weight[0 if shared else g]
            for j in range(taps):
                torch.mm(grad_out[:, g], w[j].t(), out=grad_x[:, j, g])
    if need_w:
        grad_w = torch.zeros_like(weight) if shared else torch.empty_like(weight)
        for g in range(groups):
            for j in range(taps):
                if shared:
                    grad_w[0, j].addmm_(x[:, j, g].t(), grad_out[:, g])
                else:
                    torch.mm(x[:, j, g].t(), grad_out[:, g], out=grad_w[g, j])
    return grad_x, grad_w


class _GroupedMatmulKeepTap(torch.autograd.Function):
    """``(grouped_matmul(x, weight), x[:, tap])`` where the second output's gradient is added to the first's ``x``
    gradient in place, instead of autograd building a full-size zero tensor for the selected tap and adding it."""

    @staticmethod
    def forward(ctx, x, weight, tap):  # noqa: D401 - autograd signature
        out = _GroupedMatmul.forward(ctx, x, weight, None, None)
        ctx.tap = tap
        return out, x[:, tap].clone()

    @staticmethod
    def backward(ctx, grad_out, grad_tap):
        x, weight = ctx.saved_tensors
        need_x, need_w, _ = ctx.needs_input_grad
        grad_x, grad_w = _grouped_matmul_backward(x, weight, grad_out.contiguous(), need_x, need_w)
        if grad_x is not None and grad_tap is not None:
            grad_x[:, ctx.tap].add_(grad_tap)
        return grad_x, grad_w, None


def _checked_operands(name: str, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Check the shapes of a grouped product's operands; returns ``x`` with a contiguous last dimension."""
    if x.dim() != 4 or weight.dim() != 4:
        raise ValueError(f"{name} expects x (rows, taps, groups, in) and weight (groups, taps, in, out), "
                         f"got {tuple(x.shape)} and {tuple(weight.shape)}")
    if x.shape[1] != weight.shape[1] or x.shape[3] != weight.shape[2] or weight.shape[0] not in (1, x.shape[2]):
        raise ValueError(f"{name}: x {tuple(x.shape)} does not match weight {tuple(weight.shape)}")
    return x if x.stride(-1) == 1 else x.contiguous()


def grouped_matmul(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    init: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-group linear map over several taps: ``out[r, g] = b + sum_j x[r, j, g] @ weight[g, j]``.

    Args:
        x: ``(rows, taps, groups, in)``; any strides as long as the last dimension is contiguous (a strided
            convolution with kernel ``k`` and stride ``k`` is ``x.view(rows // k, k, groups, in)``: no copy).
        weight: ``(groups, taps, in, out)``, or ``(1, taps, in, out)`` shared by all groups.
        bias: ``(groups, out)`` or ``(1, out)``; ignored when ``init`` is given.
        init: ``(rows, groups, out)`` added to the product (for example a shared input's contribution).

    Returns:
        ``(rows, groups, out)``, contiguous. Equal to
        ``torch.einsum("rjgi,gjio->rgo", x, weight) + (init or bias)``.
    """
    x = _checked_operands("grouped_matmul", x, weight)
    if init is not None:
        if init.stride(-1) != 1:
            init = init.contiguous()
        bias = None
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, weight, bias, init)):
        return _GroupedMatmul.apply(x, weight, bias, init)
    with torch.no_grad():
        return _GroupedMatmul.forward(_NoContext(), x, weight, bias, init)


def grouped_matmul_keep_tap(x: torch.Tensor, weight: torch.Tensor, tap: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(grouped_matmul(x, weight), x[:, tap])``: a strided convolution and the input frame its residual uses.

    Same values and gradients as computing the two separately; the backward pass adds the residual's gradient into
    the product's input gradient in place (a plain ``x[:, tap]`` makes autograd allocate, zero and add a tensor the
    size of ``x``). The second output is a copy, ``(rows, groups, in)``.
    """
    x = _checked_operands("grouped_matmul_keep_tap", x, weight)
    if not 0 <= tap < x.shape[1]:
        raise ValueError(f"grouped_matmul_keep_tap: tap must satisfy 0 <= tap < taps = {x.shape[1]}, got {tap}")
    if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad):
        return _GroupedMatmulKeepTap.apply(x, weight, tap)
    with torch.no_grad():
        return _GroupedMatmul.forward(_NoContext(), x, weight, None, None), x[:, tap]


class _NoContext:
    """Stand-in for autograd's ctx when the product runs without gradients."""

    needs_input_grad = (False, False, False, False)

    def save_for_backward(self, *tensors):
        pass


# ---------------------------------------------------------------------------------------------------------------------
# dropout masks and the fused LeakyReLU + dropout


def bernoulli_keep_mask(shape: tuple[int, ...], keep_probability: float, device=None,
                        generator: torch.Generator | None = None, dtype: torch.dtype = torch.bool) -> torch.Tensor:
    """Mask, each entry 1 (True) with probability ``keep_probability`` and 0 otherwise, from raw random bytes.

    ``torch.bernoulli`` draws one 32-bit float per entry; here each entry costs 8 random bits when
    ``keep_probability * 256`` is a whole number (exact, for example 0.75 for the default dropout 0.25), else 16 bits
    (the probability is then rounded to the nearest 1/65536, a change below 1e-5). On this project's CPU that makes
    dropout about ten times cheaper than :func:`torch.nn.functional.dropout`, with the same distribution.

    ``dtype`` other than ``torch.bool`` (for example ``torch.float32``) writes the comparison straight into a tensor
    of that type: a float mask multiplies float activations without the per-use conversion a ``bool``/``uint8``
    mask costs (PyTorch converts it to a temporary float tensor in every ``mul_``).
    """
    if not 0.0 <= keep_probability <= 1.0:
        raise ValueError(f"keep probability must lie in [0, 1], got {keep_probability}")
    if keep_probability >= 1.0:
        return torch.ones(shape, dtype=dtype, device=device)
    if keep_probability <= 0.0:
        return torch.zeros(shape, dtype=dtype, device=device)
    numel = 1
    for s in shape:
        numel *= int(s)
    eight_bit = abs(keep_probability * 256 - round(keep_probability * 256)) < 1e-9
    bytes_needed = numel * (1 if eight_bit else 2)
    words = torch.empty((bytes_needed + 7) // 8, dtype=torch.int64, device=device)
    words.random_(-(2 ** 63), 2 ** 63 - 1, generator=generator)
    if eight_bit:
        raw = words.view(torch.uint8)[:numel]
        threshold = int(round((1.0 - keep_probability) * 256))
    else:
        raw = words.view(torch.int16)[:numel]
        threshold = int(round((1.0 - keep_probability) * 65536)) - 32768
    mask = torch.empty(numel, dtype=dtype, device=device)
    return torch.ge(raw, threshold, out=mask).view(shape)


class _LeakyReluDropout(torch.autograd.Function):
    """``dropout(leaky_relu(z, 0.2), p)`` in two passes forward and two backward."""

    @staticmethod
    def forward(ctx, z, p):
        keep = bernoulli_keep_mask(tuple(z.shape), 1.0 - p, device=z.device, dtype=z.dtype)
        y = F.leaky_relu(z, LEAKY_SLOPE)
        y.mul_(keep).mul_(1.0 / (1.0 - p))
        ctx.save_for_backward(y, keep)
        ctx.scale = 1.0 / (1.0 - p)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        y, keep = ctx.saved_tensors
        # y > 0 exactly where z > 0 and the entry was kept; dropped entries get zero gradient from the mask anyway.
        grad = torch.ops.aten.leaky_relu_backward(grad_y, y, LEAKY_SLOPE, False)
        grad.mul_(keep).mul_(ctx.scale)
        return grad, None


def leaky_relu_dropout(z: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """``F.dropout(F.leaky_relu(z, 0.2), p, training)`` with a cheaper mask (see :func:`bernoulli_keep_mask`)."""
    if not training or p == 0.0:
        return F.leaky_relu(z, LEAKY_SLOPE)
    if p >= 1.0:
        return torch.zeros_like(z)
    if torch.is_grad_enabled() and z.requires_grad:
        return _LeakyReluDropout.apply(z, p)
    keep = bernoulli_keep_mask(tuple(z.shape), 1.0 - p, device=z.device, dtype=z.dtype)
    return F.leaky_relu(z, LEAKY_SLOPE).mul_(keep).mul_(1.0 / (1.0 - p))


class _LeakyReluDropMaskInplace(torch.autograd.Function):
    """In place: ``z <- leaky_relu(z, 0.2) * keep`` (no rescaling, see the caller).

    The mask is a 0/1 tensor of ``z``'s own dtype, applied by multiplication (``masked_fill_`` is several times slower
    here, and a ``bool``/``uint8`` mask would be converted to a temporary float tensor on every use, forward and
    backward).
    """

    @staticmethod
    def forward(ctx, z, p):
        keep = bernoulli_keep_mask(tuple(z.shape), 1.0 - p, device=z.device, dtype=z.dtype)
        F.leaky_relu_(z, LEAKY_SLOPE)
        z.mul_(keep)
        ctx.mark_dirty(z)
        ctx.save_for_backward(z, keep)
        return z

    @staticmethod
    def backward(ctx, grad_y):
        y, keep = ctx.saved_tensors
        grad = torch.ops.aten.leaky_relu_backward(grad_y, y, LEAKY_SLOPE, False)
        grad.mul_(keep)
        return grad, None


def leaky_relu_dropout_(z: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """In-place LeakyReLU(0.2) + dropout *without* the ``1 / (1 - p)`` rescaling, for a tensor the caller owns.

    The caller folds the rescaling into the preceding BatchNorm's scale and shift (LeakyReLU is positively
    homogeneous: ``leaky(z) / (1 - p) = leaky(z / (1 - p))``), which saves a pass over the activations; together
    this is exactly ``F.dropout(F.leaky_relu(bn(x)), p)``. ``z`` must not be needed by anything else (a fresh
    BatchNorm output is fine: BatchNorm's backward uses its input, not its output).
    """
    if not training or p == 0.0:
        return F.leaky_relu(z, LEAKY_SLOPE, inplace=True)
    if p >= 1.0:
        return z.zero_()
    if torch.is_grad_enabled() and z.requires_grad:
        return _LeakyReluDropMaskInplace.apply(z, p)
    keep = bernoulli_keep_mask(tuple(z.shape), 1.0 - p, device=z.device, dtype=z.dtype)
    return F.leaky_relu_(z, LEAKY_SLOPE).mul_(keep)
