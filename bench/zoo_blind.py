#!/usr/bin/env python3
"""A scene-independent reading of the kernels, tried against step 2: blind kernel estimation from
predicted sharp edges (shock-filtered photos, their strongest gradients; least squares of the
photos' gradients on them, as in Cho & Lee 2009), per mirror-pooled cell of the 8x8 grid, in
both sets, and the relative kernel (sharp set's estimate at the same cell, or the middle's, to the
blurry set's). Scored against the zoo's true grid.

    LENSCAL_ZOO_WORK=bench_out/zoo_draw .venv/bin/python bench/zoo_blind.py CASE...

FLOOR (kernel values below this fraction of the peak dropped), COMP (1: keep the peak's connected
support) and LAM (ridge, relative to the normal matrix's mean diagonal) from the environment.
"""
import json, sys, time
from pathlib import Path
import numpy as np, torch
import torch.nn.functional as F
from scipy import ndimage as ndi
ROOT = Path(__file__).resolve().parents[1]; sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT / 'bench'))
import zoo, zoo_posthoc
from baselines import relative_grid
from lenscal.optics.psf import grid_report
torch.set_num_threads(2)
FLOOR = float(__import__('os').environ.get('FLOOR', 0)); COMPONENT = bool(int(__import__('os').environ.get('COMP', 0)))
LAM = float(__import__('os').environ.get('LAM', 1e-2))
K = 13; R = K // 2; N = 8; Q = N // 2

def shock(img, iters=8, dt=0.25, pre=0.6):
    I = ndi.gaussian_filter(img, pre)
    for _ in range(iters):
        Iy, Ix = np.gradient(I); Iyy, Iyx = np.gradient(Iy); Ixy, Ixx = np.gradient(Ix)
        g2 = Ix**2 + Iy**2 + 1e-12
        Inn = (Ix**2 * Ixx + 2 * Ix * Iy * Ixy + Iy**2 * Iyy) / g2
        I = I - dt * np.sign(Inn) * np.sqrt(g2)
    return I

def grads(I):
    gx = np.zeros_like(I); gy = np.zeros_like(I)
    gx[:, :-1] = I[:, 1:] - I[:, :-1]; gy[:-1] = I[1:] - I[:-1]
    return gx, gy

def cell_bounds(n, size, i):
    step = (size - 1) / (n - 1)
    lo = max(int(round((i - 0.5) * step)), 0); hi = min(int(round((i + 0.5) * step)) + 1, size)
    return lo, hi

def accumulate(photos, top=0.03):
    """A, b per canonical cell and channel from a list of HxWx3 images."""
    H, W = photos[0].shape[:2]
    A = np.zeros((Q, Q, 3, K * K, K * K)); b = np.zeros((Q, Q, 3, K * K))
    for img in photos:
        for c in range(3):
            ch = img[:, :, c].astype(np.float64)
            S = shock(ch); Sx, Sy = grads(S); Bx, By = grads(ch)
            for fy in (False, True):
                for fx in (False, True):
                    def fl(a):
                        a = a[::-1] if fy else a
                        return a[:, ::-1] if fx else a
                    sx, sy, bx, by = map(lambda a: np.ascontiguousarray(fl(a)), (Sx, Sy, Bx, By))
                    # gradients flip sign along flipped axes
                    if fx: sx, bx = -sx, -bx
                    if fy: sy, by = -sy, -by
                    for ci in range(Q):
                        y0, y1 = cell_bounds(N, H, ci)
                        for cj in range(Q):
                            x0, x1 = cell_bounds(N, W, cj)
                            ya, yb = max(y0 - R, 0), min(y1 + R, H); xa, xb = max(x0 - R, 0), min(x1 + R, W)
                            for s, t in ((sx, bx), (sy, by)):
                                ss = s[ya:yb, xa:xb].copy()
                                mag = np.abs(ss)
                                thr = np.quantile(mag, 1 - top)
                                ss[mag < thr] = 0
                                st = torch.from_numpy(ss)[None, None]
                                P = F.unfold(st, K)[0].T.numpy()  # (npix, K*K) patches at valid centres
                                hh, ww = ss.shape[0] - K + 1, ss.shape[1] - K + 1
                                tt = t[ya + R:ya + R + hh, xa + R:xa + R + ww].reshape(-1)
                                keep = np.abs(P).sum(1) > 0
                                P, tt = P[keep], tt[keep]
                                A[ci, cj, c] += P.T @ P; b[ci, cj, c] += P.T @ tt
    return A, b

def solve(A, b, lam=LAM):
    out = np.zeros(A.shape[:-1])
    for idx in np.ndindex(A.shape[:3]):
        a = A[idx]; s = np.trace(a) / a.shape[0]
        k = np.linalg.solve(a + lam * s * np.eye(a.shape[0]), b[idx])
        k = np.clip(k, 0, None)
        k[k < FLOOR * k.max()] = 0
        if COMPONENT:
            lab, _ = ndi.label(k.reshape(K, K) > 0)
            k = k * (lab.reshape(-1) == lab.reshape(-1)[np.argmax(k)])
        k = k.reshape(K, K)[::-1, ::-1]  # correlation -> convolution
        out[idx] = (k / max(k.sum(), 1e-12)).reshape(-1)
    return out.reshape(*A.shape[:3], K, K)

def expand(q):
    """(Q, Q, 3, K, K) canonical cells -> (N, N, 3, K, K) by mirror images."""
    g = np.zeros((N, N, 3, K, K))
    for i in range(N):
        for j in range(N):
            ci, cj = min(i, N - 1 - i), min(j, N - 1 - j)
            k = q[ci, cj]
            if i != ci: k = k[..., ::-1, :]
            if j != cj: k = k[..., :, ::-1]
            g[i, j] = k
    return g

if __name__ == '__main__':
    (ROOT / 'bench_out/zoo_blind').mkdir(parents=True, exist_ok=True)
    out = {}
    for name in sys.argv[1:]:
        t0 = time.time()
        case = zoo.find_case(name); folder = zoo.WORK / name / 'shoot'
        true8, _ = zoo.truth(case)
        cache = ROOT / f'bench_out/zoo_blind/ab_{name}.npz'  # the normal equations, to try solver settings again
        if cache.exists():
            z = np.load(cache); Ab, bb, As, bs = z['Ab'], z['bb'], z['As'], z['bs']
        else:
            sharp, blurry = zoo_posthoc.develop(folder)
            Ab, bb = accumulate(blurry); As, bs = accumulate(sharp)
            np.savez(cache, Ab=Ab, bb=bb, As=As, bs=bs)
        kb = solve(Ab, bb); ks = solve(As, bs)
        gb = expand(kb)
        # relative: per cell, sharp estimate's 9x9 centre as the sharp kernel
        rel = np.zeros_like(kb)
        for ci in range(Q):
            for cj in range(Q):
                rel[ci, cj] = relative_grid(ks[ci, cj][:, 2:11, 2:11], kb[ci, cj][None, None])[0, 0]
        gr = expand(rel)
        # one sharp kernel for all cells (the middle cells pooled)
        kmid = ks[Q - 1, Q - 1][:, 2:11, 2:11]
        gr1 = relative_grid(kmid, gb)
        res = {}
        for lab, g in (('blurry_abs', gb), ('rel_cell', gr), ('rel_mid', gr1)):
            rep = grid_report(g, true8)
            res[lab] = {'l2_ratio': round(rep['l2'] / rep['l2_gaussian'], 3), 'ncc': round(rep['ncc_mean'], 3)}
        from lenscal.optics.psf import second_moment
        res['m2_true_G_diag'] = [round(float(second_moment(torch.from_numpy(true8[i, i, 1]))), 2) for i in range(4)]
        res['m2_rel_G_diag'] = [round(float(second_moment(torch.from_numpy(gr1[i, i, 1]))), 2) for i in range(4)]
        res['m2_blur_G_diag'] = [round(float(second_moment(torch.from_numpy(gb[i, i, 1]))), 2) for i in range(4)]
        res['seconds'] = round(time.time() - t0)
        out[name] = res
        print(name, json.dumps(res), flush=True)
        np.savez(ROOT / f'bench_out/zoo_blind/blind_{name}.npz', gb=gb, gr=gr, gr1=gr1, true8=true8)
