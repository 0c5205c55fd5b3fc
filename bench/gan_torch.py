#!/usr/bin/python3
"""The peer of bench_gan: the same DPOSG-OAdam training step of the same MLP GAN in PyTorch eager.

Only for the speed comparison in bench/README.md (not part of the project's results). Same
architecture (G: latent -> width x depth -> 2, D: 2 -> width x depth -> 1, ReLU, linear outputs),
non-saturating loss, m samples per worker from the 8-Gaussian ring, M workers batched on one
device with torch.bmm (one batched product per layer, like the engine), a ring W with 1/3 weights
applied as one (M x M) product per round, and the two-sequence optimistic Adam update of
core/step_rule.cpp:
    X <- X W;  Z = X - eta * dir_prev;  g = G(Z);  m, v <- Adam moments of g;
    dir = m_hat / (sqrt(v_hat) + eps);  X <- X - eta * dir
(separate eta for the generator and the discriminator). float64 on the CPU (the engine's
precision); --dtype float32 for the GPU comparison.

    /usr/bin/python3 bench/gan_torch.py [--workers M] [--iters N] [--width W] [--depth D] [--batch m]
                                        [--threads T] [--device cpu|cuda] [--dtype float64|float32]

Prints `steps_per_s <value>` (best of 3 timed runs of N iterations after a warm-up).
"""
import argparse
import math
import time

import torch


def layer_shapes(n_in, width, depth, n_out):
    sizes = [n_in] + [width] * depth + [n_out]
    return [(sizes[i + 1], sizes[i]) for i in range(len(sizes) - 1)]


def init_params(shapes, M, gen, dtype, device):
    params = []
    for k, (rows, cols) in enumerate(shapes):
        last = k == len(shapes) - 1
        bound = math.sqrt(6.0 / (cols + rows)) if last else math.sqrt(6.0 / cols)
        w = (torch.rand((rows, cols), generator=gen, dtype=dtype) * 2 - 1) * bound
        params.append(w.to(device).expand(M, rows, cols).clone().requires_grad_(True))
        params.append(torch.zeros((M, rows, 1), dtype=dtype, device=device, requires_grad=True))
    return params


def mlp(params, x):  # x: M x features x batch
    h = x
    n = len(params) // 2
    for k in range(n):
        h = torch.baddbmm(params[2 * k + 1], params[2 * k], h)
        if k < n - 1:
            h = torch.relu(h)
    return h


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--iters", type=int, default=500)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--latent", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float64")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    dtype = getattr(torch, a.dtype)
    dev = torch.device(a.device)
    M, B = a.workers, a.batch
    gen = torch.Generator().manual_seed(1)
    G = init_params(layer_shapes(a.latent, a.width, a.depth, 2), M, gen, dtype, dev)
    D = init_params(layer_shapes(2, a.width, a.depth, 1), M, gen, dtype, dev)
    params = G + D
    n_g = len(G)
    eta = [1e-4] * n_g + [5e-4] * len(D)
    b1, b2, eps = 0.5, 0.9, 1e-8
    X = [p.detach().clone() for p in params]
    mom = [torch.zeros_like(p) for p in X]
    vel = [torch.zeros_like(p) for p in X]
    direction = [torch.zeros_like(p) for p in X]
    W = torch.zeros((M, M), dtype=dtype, device=dev)
    for i in range(M):
        for j in (i - 1, i, i + 1):
            W[i, j % M] += 1.0 / 3.0
    angles = torch.arange(8, dtype=dtype, device=dev) * (2 * math.pi / 8)
    means = torch.stack([torch.cos(angles), torch.sin(angles)])  # 2 x 8
    count = [0]

    def mix(t):  # worker axis first: (M x ...) -> W (M x ...)
        if M == 1:
            return t
        return (W @ t.reshape(M, -1)).reshape(t.shape)

    def step():
        count[0] += 1
        c1 = 1 - b1 ** count[0]
        c2 = 1 - b2 ** count[0]
        with torch.no_grad():
            for k in range(len(X)):
                X[k] = mix(X[k])
                params[k].copy_(X[k] - eta[k] * direction[k])
        modes = torch.randint(0, 8, (M, B), device=dev)
        real = means[:, modes].permute(1, 0, 2) + 0.01 * torch.randn((M, 2, B), dtype=dtype, device=dev)
        z = torch.randn((M, a.latent, B), dtype=dtype, device=dev)
        fake = mlp(params[:n_g], z)
        logit_real = mlp(params[n_g:], real)
        logit_fake_d = mlp(params[n_g:], fake.detach())
        loss_d = (torch.nn.functional.softplus(-logit_real) + torch.nn.functional.softplus(logit_fake_d)).mean(dim=(1, 2)).sum()
        grads_d = torch.autograd.grad(loss_d, params[n_g:])
        logit_fake_g = mlp(params[n_g:], fake)
        loss_g = torch.nn.functional.softplus(-logit_fake_g).mean(dim=(1, 2)).sum()
        grads_g = torch.autograd.grad(loss_g, params[:n_g])
        grads = list(grads_g) + list(grads_d)
        with torch.no_grad():
            for k, g in enumerate(grads):
                mom[k].mul_(b1).add_(g, alpha=1 - b1)
                vel[k].mul_(b2).addcmul_(g, g, value=1 - b2)
                direction[k] = (mom[k] / c1) / ((vel[k] / c2).sqrt() + eps)
                X[k].sub_(eta[k] * direction[k])

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(max(5, a.iters // 10)):
        step()
    sync()
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(a.iters):
            step()
        sync()
        best = min(best, (time.perf_counter() - t0) / a.iters)
    print(f"gan_torch: torch {torch.__version__}, {a.device} {a.dtype}, {torch.get_num_threads()} threads, "
          f"M = {M}, m = {B}, width {a.width}, depth {a.depth}, {a.iters} iterations")
    print(f"steps_per_s {1.0 / best:.2f}")


if __name__ == "__main__":
    main()
