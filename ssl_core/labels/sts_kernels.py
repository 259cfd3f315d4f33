"""Compiled loops (numba) behind the fast :func:`ssl_core.labels.sts.compute_labels` and
:func:`ssl_core.labels.sts.curriculum_scores`.

Each kernel does the same floating-point arithmetic, in the same order, as the NumPy
reference it replaces (``flow_derivatives`` and the sums over fields,
``orientation_histogram``'s bincounts), or counts the same integers in another order
(``colour_iou``'s histograms, the modal triple and the colour-bin counts of
``dominant_colour``), so the labels stay bit-identical (the one exception, the per-field
magnitude sums of ``boundary_sums``, is an approximation that only decides beyond a
margin); large outputs
are written into buffers the caller reuses; ``tests/test_sts_labels.py`` compares the two
paths on seeded clips. ``cache=True`` keeps the compiled code beside this file: the first
process compiles (about 2.5 s), later ones load it.
"""
from __future__ import annotations

import numpy as np
from numba import njit

LOW_BITS = 13  # a packed 24-bit colour key splits into 11 high bits (its bucket) and 13 low bits
LOW_MASK = (1 << LOW_BITS) - 1
WAYS = 4  # interleaved bucket counters and fill pointers (see modal_key)


@njit(cache=True)
def modal_key(keys: np.ndarray, lows: np.ndarray) -> int:
    """The most frequent value of 24-bit ``keys`` (1-d, unsigned), the smallest on ties.

    A counting sort by the 11 high bits moves each key's 13 low bits into its bucket; then,
    bucket by bucket in ascending order, the low bits of each bucket that could still hold a
    more frequent key are counted, and the best (count, key) is kept as the counts rise: a
    key's count passes each value on its way to its total, so the largest total and, among
    equal totals, the smallest key win, whatever the order within a bucket. O(n), no sort.

    Key ``i`` is counted and placed through counter set ``i % WAYS``: with one set, runs of
    keys in the same bucket (flat colours) chain every update through memory; with four,
    four chains run side by side. ``lows``: uint16 scratch of at least ``keys.size``.
    """
    n = keys.size
    buckets = 1 << (24 - LOW_BITS)
    sizes = np.zeros((WAYS, buckets), np.int32)
    whole = n - n % WAYS
    for i in range(0, whole, WAYS):
        for way in range(WAYS):
            sizes[way, keys[i + way] >> LOW_BITS] += 1
    for i in range(whole, n):
        sizes[0, keys[i] >> LOW_BITS] += 1
    starts = np.empty(buckets + 1, np.int64)
    fill = np.empty((WAYS, buckets), np.int32)
    position = 0
    for b in range(buckets):
        starts[b] = position
        for way in range(WAYS):
            fill[way, b] = position
            position += sizes[way, b]
    starts[buckets] = position
    for i in range(0, whole, WAYS):
        for way in range(WAYS):
            key = keys[i + way]
            b = key >> LOW_BITS
            lows[fill[way, b]] = key & LOW_MASK
            fill[way, b] += 1
    for i in range(whole, n):
        b = keys[i] >> LOW_BITS
        lows[fill[0, b]] = keys[i] & LOW_MASK
        fill[0, b] += 1
    counts = np.zeros(1 << LOW_BITS, np.int32)
    best, best_key = 0, 0
    for b in range(buckets):
        if starts[b + 1] - starts[b] <= best:  # no key in it can beat, or tie with a smaller key than, the best
            continue
        base = b << LOW_BITS
        for i in range(starts[b], starts[b + 1]):
            low = lows[i]
            count = counts[low] + 1
            counts[low] = count
            if count > best or (count == best and (base | low) < best_key):
                best, best_key = count, base | low
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
    does) and, per field, the sum of ``sqrt(dx^2 + dy^2)`` taken in single precision (an
    approximation of the ``cartToPolar`` sums, within about 1e-7 relative of them, see
    ``_strongest_field``). Each field is padded as numpy's
    ``symmetric`` mode into one reused buffer."""
    count, height, width = flow.shape
    sum_dx = np.zeros((height, width))
    sum_dy = np.zeros((height, width))
    field_sums = np.zeros(count)
    padded = np.empty((height + 2, width + 2))
    row_sums = np.empty((height, width + 2))
    col_sums = np.empty((height + 2, width))
    magnitudes = np.empty(width, np.float32)
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
                magnitudes[x] = np.sqrt(np.float32(gx * gx + gy * gy))  # single precision: twice the lanes
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
def region_histograms(rgb: np.ndarray, atom_of: np.ndarray, indptr: np.ndarray, indices: np.ndarray,
                      atom_hist: np.ndarray, hist: np.ndarray, keys: np.ndarray) -> None:
    """Fill ``hist`` int32 ``(T, R, 3, 256)`` with the 256-bin histogram of each frame, region
    and channel of uint8 ``rgb`` ``(T, S, S, 3)``, and ``keys`` uint32 ``(T, S, S)`` with the
    packed colour keys ``B*65536 + G*256 + R``.

    Each pixel is counted once, in its atom's histogram (``atom_of`` ``(S, S)``; ``atom_hist``
    int32 ``(A, 3, 256)`` scratch), and each region's histogram is then the sum of its atoms'
    (``indices[indptr[r]:indptr[r + 1]]``): one count per pixel instead of one per region it
    lies in (three or four). The counts are integers, so the sums are exact."""
    frames, size = rgb.shape[0], rgb.shape[1]
    atoms, regions = atom_hist.shape[0], hist.shape[1]
    flat_atoms = atom_hist.reshape(atoms, 3 * 256)
    for t in range(frames):
        atom_hist[:] = 0
        for y in range(size):
            for x in range(size):
                red, green, blue = rgb[t, y, x, 0], rgb[t, y, x, 1], rgb[t, y, x, 2]
                keys[t, y, x] = (np.uint32(blue) << 16) | (np.uint32(green) << 8) | np.uint32(red)
                atom = atom_of[y, x]
                atom_hist[atom, 0, red] += 1
                atom_hist[atom, 1, green] += 1
                atom_hist[atom, 2, blue] += 1
        flat_regions = hist[t].reshape(regions, 3 * 256)
        for r in range(regions):
            out = flat_regions[r]
            out[:] = 0
            for j in range(indptr[r], indptr[r + 1]):
                source = flat_atoms[indices[j]]
                for v in range(3 * 256):
                    out[v] += source[v]


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
    R, G, B order. The minima and maxima run frame after frame over whole contiguous frames
    (vectorised); the sums are of integers, so exact in any order."""
    frames, regions = hist.shape[0], hist.shape[1]
    flat = hist.reshape(frames, -1)
    width = flat.shape[1]
    low = flat[0].copy()
    high = flat[0].copy()
    for t in range(1, frames):
        for i in range(width):
            value = flat[t, i]
            low[i] = min(low[i], value)
            high[i] = max(high[i], value)
    out = np.empty(regions)
    per_channel = np.empty(3)
    for r in range(regions):
        for c in range(3):
            inter, union = 0, 0
            first = (r * 3 + c) * 256
            for v in range(first, first + 256):
                inter += low[v]
                union += high[v]
            per_channel[c] = inter / union
        out[r] = (per_channel[0] + per_channel[1] + per_channel[2]) / 3.0
    return out


@njit(cache=True)
def _mod_45(angle: float, quotient: float) -> float:
    """``np.mod(angle, 45.0)`` of an angle >= 0 given ``quotient = floor(angle / 45)``, without
    ``fmod``'s library call: ``angle - n * 45`` is exact for the true ``n = trunc(angle / 45)``
    (``n * 45`` is exact and, for n >= 1, within a factor 2 of ``angle``: Sterbenz), and the
    rounded quotient is ``n``, or ``n + 1`` when ``angle / 45`` rounds up to the next integer,
    which leaves a negative remainder."""
    remainder = angle - quotient * 45.0
    if remainder < 0.0:
        remainder = angle - (quotient - 1.0) * 45.0
    return remainder


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
        quotient = np.floor(angle / 45.0)
        b = np.int64(quotient) % 8
        if split:
            frac = _mod_45(angle, quotient) / 45.0
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
