"""Compiled loops (numba) behind the fast :func:`ssl_core.labels.sts.compute_labels` and
:func:`ssl_core.labels.sts.curriculum_scores`.

Each kernel does the same arithmetic, in the same order, as the NumPy reference it replaces
(``flow_derivatives`` and the sums over fields, ``orientation_histogram``'s bincounts,
``colour_iou``, the modal triple and the colour-bin counts of ``dominant_colour``), so the
labels stay bit-identical (the one exception, the per-field magnitude sums of
``boundary_sums``, is an approximation that only decides beyond a margin); large outputs
are written into buffers the caller reuses; ``tests/test_sts_labels.py`` compares the two
paths on seeded clips. ``cache=True`` keeps the compiled code beside this file: the first
process compiles (about 2.5 s), later ones load it.
"""
from __future__ import annotations

import numpy as np
from numba import njit

HIGH_BITS = 12  # a packed 24-bit colour key splits into 12 high and 12 low bits
LOW_MASK = (1 << HIGH_BITS) - 1


@njit(cache=True)
def modal_key(keys: np.ndarray, lows: np.ndarray) -> int:
    """The most frequent value of 24-bit ``keys`` (1-d, unsigned), the smallest on ties.

    Counting by the 12 high bits, then, bucket by bucket in ascending order, counting the 12
    low bits of the buckets that could still hold a more frequent key: O(n), no sort.
    ``lows``: uint16 scratch of at least ``keys.size`` (the low bits sorted by bucket).
    """
    n = keys.size
    buckets = 1 << HIGH_BITS
    sizes = np.zeros(buckets, np.int64)
    for i in range(n):
        sizes[keys[i] >> HIGH_BITS] += 1
    starts = np.zeros(buckets + 1, np.int64)
    for b in range(buckets):
        starts[b + 1] = starts[b] + sizes[b]
    fill = starts[:buckets].copy()
    for i in range(n):
        b = keys[i] >> HIGH_BITS
        lows[fill[b]] = keys[i] & LOW_MASK
        fill[b] += 1
    counts = np.zeros(buckets, np.int32)
    best, best_key = 0, 0
    for b in range(buckets):
        if sizes[b] <= best:  # no key in it can beat, or tie with a smaller key than, the best
            continue
        for i in range(starts[b], starts[b + 1]):
            counts[lows[i]] += 1
        for i in range(starts[b], starts[b + 1]):
            count, key = counts[lows[i]], (b << HIGH_BITS) | lows[i]
            if count > best or (count == best and key < best_key):
                best, best_key = count, key
        for i in range(starts[b], starts[b + 1]):
            counts[lows[i]] = 0
    return best_key


@njit(cache=True)
def _three_sums(field: np.ndarray, padded: np.ndarray, row_sums: np.ndarray, col_sums: np.ndarray) -> None:
    """``flow_derivatives``' first steps for one field ``(H, W)``: pad it as numpy's
    ``symmetric`` mode into ``padded`` ``(H+2, W+2)``, then sum three rows into ``row_sums``
    ``(H, W+2)`` and three columns into ``col_sums`` ``(H+2, W)``, left to right as NumPy adds."""
    height, width = field.shape
    for y in range(height):
        for x in range(width):
            padded[y + 1, x + 1] = field[y, x]
    for x in range(width):
        padded[0, x + 1] = field[0, x]
        padded[height + 1, x + 1] = field[height - 1, x]
    for y in range(height + 2):
        padded[y, 0] = padded[y, 1]
        padded[y, width + 1] = padded[y, width]
    for y in range(height):
        for x in range(width + 2):
            row_sums[y, x] = (padded[y, x] + padded[y + 1, x]) + padded[y + 2, x]
    for y in range(height + 2):
        for x in range(width):
            col_sums[y, x] = (padded[y, x] + padded[y, x + 1]) + padded[y, x + 2]


@njit(cache=True)
def boundary_sums(flow: np.ndarray, negate: bool):
    """What the motion labels need from one flow component ``(N, H, W)`` (any float dtype,
    read as float64), without storing the ``(N, H, W)`` derivatives: the derivatives summed
    over the fields (``dx.sum(axis=0)``, ``dy.sum(axis=0)``, added field after field as NumPy
    does) and, per field, the sum of ``sqrt(dx^2 + dy^2)`` (an approximation of the
    ``cartToPolar`` sums, see ``_strongest_field``). Each field is padded as numpy's
    ``symmetric`` mode into one reused buffer."""
    count, height, width = flow.shape
    sum_dx = np.zeros((height, width))
    sum_dy = np.zeros((height, width))
    field_sums = np.zeros(count)
    padded = np.empty((height + 2, width + 2))
    row_sums = np.empty((height, width + 2))
    col_sums = np.empty((height + 2, width))
    magnitudes = np.empty(width)
    sign = -1.0 if negate else 1.0
    for k in range(count):
        _three_sums(flow[k], padded, row_sums, col_sums)
        # the magnitudes go to a row buffer and are summed in four interleaved partial sums:
        # one running sum would chain every add (the order only moves the approximation's
        # last bits, far below GLOBAL_MARGIN)
        partial = np.zeros(4)
        for y in range(height):
            for x in range(width):
                gx = sign * (row_sums[y, x] - row_sums[y, x + 2])
                gy = sign * (col_sums[y, x] - col_sums[y + 2, x])
                sum_dx[y, x] += gx
                sum_dy[y, x] += gy
                magnitudes[x] = np.sqrt(gx * gx + gy * gy)
            for x in range(width):
                partial[x & 3] += magnitudes[x]
        field_sums[k] = (partial[0] + partial[1]) + (partial[2] + partial[3])
    return sum_dx, sum_dy, field_sums


@njit(cache=True)
def clip_derivative_sums(flow: np.ndarray, clips: np.ndarray, negate: bool) -> np.ndarray:
    """``flow_derivatives`` of every field of one flow component ``(P, H, W)`` (read as
    float64), each field computed once, summed over the fields of each clip: ``clips``
    ``(C, K)`` int64 field indices -> ``(C, 2, H, W)`` (index 0: the x-derivatives' sum, 1: the
    y-derivatives'), added field after field in the order of ``clips[c]``, as NumPy's
    ``dx[rows].sum(axis=0)`` does."""
    count, height, width = flow.shape
    dx = np.empty((count, height, width))
    dy = np.empty((count, height, width))
    padded = np.empty((height + 2, width + 2))
    row_sums = np.empty((height, width + 2))
    col_sums = np.empty((height + 2, width))
    sign = -1.0 if negate else 1.0
    for k in range(count):
        _three_sums(flow[k], padded, row_sums, col_sums)
        for y in range(height):
            for x in range(width):
                dx[k, y, x] = sign * (row_sums[y, x] - row_sums[y, x + 2])
                dy[k, y, x] = sign * (col_sums[y, x] - col_sums[y + 2, x])
    sums = np.empty((clips.shape[0], 2, height, width))
    for c in range(clips.shape[0]):
        first = clips[c, 0]
        for y in range(height):
            for x in range(width):
                sums[c, 0, y, x] = dx[first, y, x]
                sums[c, 1, y, x] = dy[first, y, x]
        for j in range(1, clips.shape[1]):
            k = clips[c, j]
            for y in range(height):
                for x in range(width):
                    sums[c, 0, y, x] += dx[k, y, x]
                    sums[c, 1, y, x] += dy[k, y, x]
    return sums


@njit(cache=True)
def region_histograms(rgb: np.ndarray, region_of: np.ndarray, hist: np.ndarray, keys: np.ndarray) -> None:
    """One pass over uint8 ``rgb`` ``(T, S, S, 3)``, filling ``hist`` int32 ``(T, R, 3, 256)``
    with the 256-bin histogram of each frame, region and channel (``region_of`` ``(S, S, K)``
    lists the regions each pixel belongs to, -1: none, so all patterns are counted at once)
    and ``keys`` uint32 ``(T, S, S)`` with the packed colour keys ``B*65536 + G*256 + R``."""
    frames, size = rgb.shape[0], rgb.shape[1]
    hist[:] = 0
    for t in range(frames):
        for y in range(size):
            for x in range(size):
                red, green, blue = rgb[t, y, x, 0], rgb[t, y, x, 1], rgb[t, y, x, 2]
                keys[t, y, x] = (np.uint32(blue) << 16) | (np.uint32(green) << 8) | np.uint32(red)
                for j in range(region_of.shape[2]):
                    region = region_of[y, x, j]
                    if region >= 0:
                        hist[t, region, 0, red] += 1
                        hist[t, region, 1, green] += 1
                        hist[t, region, 2, blue] += 1


@njit(cache=True)
def gather_region(keys: np.ndarray, pixels: np.ndarray, out: np.ndarray) -> int:
    """Copy the keys ``(T, P)`` (P pixels per frame, row-major) of the pixels listed in
    ``pixels`` (ascending flat indices) into ``out``, frame by frame: the order of
    ``keys[:, mask].ravel()``; returns how many."""
    count = pixels.size
    for t in range(keys.shape[0]):
        for i in range(count):
            out[t * count + i] = keys[t, pixels[i]]
    return keys.shape[0] * count


@njit(cache=True)
def ious(hist: np.ndarray) -> np.ndarray:
    """``colour_iou`` from region histograms ``(T, R, 3, 256)``: per channel the sum over
    bins of the min over frames divided by the sum of the max; the channels' mean, summed in
    R, G, B order."""
    frames, regions = hist.shape[0], hist.shape[1]
    out = np.empty(regions)
    low = np.empty(256, np.int64)
    high = np.empty(256, np.int64)
    for r in range(regions):
        per_channel = np.empty(3)
        for c in range(3):
            for v in range(256):
                low[v] = hist[0, r, c, v]
                high[v] = hist[0, r, c, v]
            for t in range(1, frames):
                for v in range(256):
                    value = hist[t, r, c, v]
                    low[v] = min(low[v], value)
                    high[v] = max(high[v], value)
            inter, union = 0, 0
            for v in range(256):
                inter += low[v]
                union += high[v]
            per_channel[c] = inter / union
        out[r] = (per_channel[0] + per_channel[1] + per_channel[2]) / 3.0
    return out


@njit(cache=True)
def orientation_votes(mag: np.ndarray, ang: np.ndarray, pixels: np.ndarray, split: bool) -> np.ndarray:
    """``orientation_histogram(mag.ravel()[pixels], ang.ravel()[pixels])`` -> float64 ``(8,)``
    for ``mag`` / ``ang`` float64 ``(S, S)`` (angles in degrees, 0..360) and ascending flat
    ``pixels``: ``split`` (official) accumulates the two ``bincount`` passes (each vote's
    ``1 - r/45`` share to its bin, ``r/45`` to the next) separately, in pixel order, and adds
    them at the end; otherwise one hard-vote pass. The same sums, in the same order."""
    flat_mag, flat_ang = mag.ravel(), ang.ravel()
    lower, upper = np.zeros(8), np.zeros(8)
    for i in range(pixels.size):
        angle, weight = flat_ang[pixels[i]], flat_mag[pixels[i]]
        b = np.int64(np.floor(angle / 45.0)) % 8
        if split:
            frac = np.mod(angle, 45.0) / 45.0
            lower[b] += weight * (1.0 - frac)
            upper[(b + 1) % 8] += weight * frac
        else:
            lower[b] += weight
    return lower + upper if split else lower


@njit(cache=True)
def colour_code_counts(keys: np.ndarray) -> np.ndarray:
    """How many of the packed keys ``B*65536 + G*256 + R`` fall in each colour code
    ``4*(R >= 128) + 2*(G >= 128) + (B >= 128)`` -> int64 ``(8,)``."""
    counts = np.zeros(8, np.int64)
    for i in range(keys.size):
        key = keys[i]
        counts[4 * ((key & 255) >= 128) + 2 * (((key >> 8) & 255) >= 128) + ((key >> 16) >= 128)] += 1
    return counts
