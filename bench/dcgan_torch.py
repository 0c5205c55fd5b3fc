#!/usr/bin/python3
"""The peer of `bench_gan --arch dcgan`: the same DPOSG-OAdam step of the same DCGAN WGAN-GP in PyTorch eager.

Only for the speed comparison in bench/README.md. Same networks as gan/conv_net.hpp for a 28 x 28
image in a 32 x 32 canvas (G: latent -ConvT k4 s1-> 4w@4 -> 2w@8 -> w@16 -> 1@32, tanh, centre crop
to 28; D: pad with -1 to 32, Conv k4 s2 p1 w@16 -> 2w@8 -> 4w@4, Conv k4 -> 1; leaky ReLU 0.2, no
normalisation), the WGAN-GP operator g = [grad_u f, -grad_v f] with the penalty's exact double
backward (autograd, create_graph=True) and x^ not detached from the generator, M workers each with
its own parameters (a loop over workers, the usual eager form), ring mixing with 1/3 weights, the
two-sequence optimistic Adam of core/step_rule.cpp. float64 (the engine's precision) by default.

    /usr/bin/python3 bench/dcgan_torch.py [--workers M] [--batch m] [--iters N] [--width W] [--latent L]
                                          [--threads T] [--dtype float64|float32]

Prints `steps_per_s <value>` (best of 3 timed runs of N iterations after a warm-up).
"""
import argparse
import math
import time

import torch
import torch.nn.functional as F


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--latent", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--dtype", default="float64")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    dt = getattr(torch, a.dtype)
    M, B, w, nz = a.workers, a.batch, a.width, a.latent
    gen = torch.Generator().manual_seed(1)

    def uniform(shape, bound):
        return ((torch.rand(shape, generator=gen, dtype=dt) * 2 - 1) * bound)

    # (kind, c_in, c_out, stride, pad); weights in PyTorch's layouts, the engine's parameter order.
    g_layers = [("t", nz, 4 * w, 1, 0), ("t", 4 * w, 2 * w, 2, 1), ("t", 2 * w, w, 2, 1), ("t", w, 1, 2, 1)]
    d_layers = [("c", 1, w, 2, 1), ("c", w, 2 * w, 2, 1), ("c", 2 * w, 4 * w, 2, 1), ("c", 4 * w, 1, 1, 0)]

    def init(layers):
        out = []
        for k, (kind, ci, co, s, _) in enumerate(layers):
            shape = (ci, co, 4, 4) if kind == "t" else (co, ci, 4, 4)
            fan_in = ci * (16 if kind == "c" else 4 if s == 2 else 1)
            bound = math.sqrt(6.0 / fan_in)
            out += [uniform(shape, bound), torch.zeros(co, dtype=dt)]
        return out

    base = init(g_layers) + init(d_layers)
    n_g = 2 * len(g_layers)
    params = [[p.clone().requires_grad_(True) for p in base] for _ in range(M)]
    X = [[p.detach().clone() for p in base] for _ in range(M)]
    mom = [[torch.zeros_like(p) for p in base] for _ in range(M)]
    vel = [[torch.zeros_like(p) for p in base] for _ in range(M)]
    direction = [[torch.zeros_like(p) for p in base] for _ in range(M)]
    eta, b1, b2, eps, lam = 2e-4, 0.5, 0.9, 1e-8, 10.0
    count = [0]

    def generator(p, z):
        h = z.view(B, nz, 1, 1)
        for k, (_, _, _, s, pad) in enumerate(g_layers):
            h = F.conv_transpose2d(h, p[2 * k], p[2 * k + 1], stride=s, padding=pad)
            h = torch.tanh(h) if k == len(g_layers) - 1 else F.leaky_relu(h, 0.2)
        return h[:, :, 2:30, 2:30]

    def critic(p, x):
        h = F.pad(x, (2, 2, 2, 2), value=-1.0)
        for k, (_, _, _, s, pad) in enumerate(d_layers):
            h = F.conv2d(h, p[n_g + 2 * k], p[n_g + 2 * k + 1], stride=s, padding=pad)
            if k < len(d_layers) - 1:
                h = F.leaky_relu(h, 0.2)
        return h.view(-1)

    def operator(p, real, z, e):
        fake = generator(p, z)
        xh = e * real + (1 - e) * fake
        s = torch.autograd.grad(critic(p, xh).sum(), xh, create_graph=True)[0]
        penalty = ((s.flatten(1).norm(dim=1) - 1) ** 2).mean()
        loss_d = -critic(p, real).mean() + critic(p, fake).mean() + lam * penalty  # = -f
        grads = torch.autograd.grad(loss_d, p)
        return [-g for g in grads[:n_g]] + list(grads[n_g:])  # [grad_u f, -grad_v f]

    def mix(i, k):
        if M == 1:
            return X[i][k]
        return (X[(i - 1) % M][k] + X[i][k] + X[(i + 1) % M][k]) / 3.0

    def step():
        count[0] += 1
        c1, c2 = 1 - b1 ** count[0], 1 - b2 ** count[0]
        with torch.no_grad():
            mixed = [[mix(i, k) for k in range(len(base))] for i in range(M)]
            for i in range(M):
                X[i] = mixed[i]
                for k in range(len(base)):
                    params[i][k].copy_(X[i][k] - eta * direction[i][k])
        for i in range(M):
            real = torch.rand((B, 1, 28, 28), dtype=dt) * 2 - 1
            z = torch.randn((B, nz), dtype=dt)
            e = torch.rand((B, 1, 1, 1), dtype=dt)
            grads = operator(params[i], real, z, e)
            with torch.no_grad():
                for k, g in enumerate(grads):
                    mom[i][k].mul_(b1).add_(g, alpha=1 - b1)
                    vel[i][k].mul_(b2).addcmul_(g, g, value=1 - b2)
                    direction[i][k] = (mom[i][k] / c1) / ((vel[i][k] / c2).sqrt() + eps)
                    X[i][k].sub_(eta * direction[i][k])

    for _ in range(max(2, a.iters // 10)):
        step()
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(a.iters):
            step()
        best = min(best, (time.perf_counter() - t0) / a.iters)
    d = sum(p.numel() for p in base)
    print(f"dcgan_torch: torch {torch.__version__}, cpu {a.dtype}, {torch.get_num_threads()} threads, M = {M}, "
          f"m = {B}, width {w}, latent {nz}, d = {d}, {a.iters} iterations")
    print(f"steps_per_s {1.0 / best:.3f}")


if __name__ == "__main__":
    main()
