"""STS statistical labels (``ssl_core.labels.sts``): expected values are worked out by hand from
``shared/spec/sts_labels.md`` (comments give the derivation), not taken from the code."""
import numpy as np
import pytest

from ssl_core.labels import sts, sts_kernels
from ssl_core.labels.sts import compute_labels, pattern_masks

M = {name: i for i, name in enumerate(sts.LABEL_NAMES_MOTION)}
A = {name: i for i, name in enumerate(sts.LABEL_NAMES_APPEARANCE)}


# ----------------------------------------------------------------------------- patterns
@pytest.mark.parametrize("S", [112, 64])
def test_pattern1_blocks(S):
    p1 = pattern_masks(S)[1]
    assert p1.shape == (16, S, S) and p1.dtype == bool
    assert (p1.sum(axis=(1, 2)) == (S // 4) ** 2).all()
    assert (p1.sum(axis=0) == 1).all()  # partition
    q = S // 4
    # block 7 = row 1, col 2 (zero-based)
    expected = np.zeros((S, S), bool)
    expected[q:2 * q, 2 * q:3 * q] = True
    assert (p1[6] == expected).all()
    assert p1[0, 0, 0] and p1[3, 0, S - 1] and p1[12, S - 1, 0] and p1[15, S - 1, S - 1]


@pytest.mark.parametrize("S", [112, 64])
def test_pattern2_rings(S):
    p2 = pattern_masks(S)[2]
    e = S // 8
    assert p2.shape == (4, S, S)
    areas = [(2 * e) ** 2, (4 * e) ** 2 - (2 * e) ** 2, (6 * e) ** 2 - (4 * e) ** 2, S * S - (6 * e) ** 2]
    assert p2.sum(axis=(1, 2)).tolist() == areas
    assert (p2.sum(axis=0) == 1).all()
    c = S // 2
    assert p2[0, c, c] and p2[0, 3 * e, 3 * e] and p2[1, 3 * e - 1, 3 * e]
    assert p2[2, e, c] and p2[3, e - 1, c] and p2[3, 0, 0] and p2[1, 6 * e - 1, 6 * e - 1]


@pytest.mark.parametrize("S", [112, 64])
def test_pattern3_triangles(S):
    p3 = pattern_masks(S)[3]
    h = S // 2
    assert p3.shape == (8, S, S)
    r, c = np.mgrid[0:S, 0:S]
    lr, lc = r % h, c % h
    same_diag = ((r < h) == (c < h))  # TL / BR quadrants: main diagonal; TR / BL: anti-diagonal
    on_diag = np.where(same_diag, lr == lc, lr + lc == h - 1)
    count = p3.sum(axis=0)
    assert (count[on_diag] == 2).all() and (count[~on_diag] == 1).all()
    assert (p3.sum(axis=(1, 2)) == h * (h + 1) // 2).all()

    def members(y, x):
        return sorted(int(k) + 1 for k in np.flatnonzero(p3[:, y, x]))

    assert members(0, 1) == [2]            # TL, right of diagonal: touches the top edge
    assert members(1, 0) == [1]            # TL, left edge
    assert members(0, 0) == [1, 2]         # on the diagonal: both
    assert members(0, S - 2) == [3]        # TR, top edge
    assert members(1, S - 1) == [4]        # TR, right edge
    assert members(0, S - 1) == [3, 4]
    assert members(S - 2, 0) == [5]        # BL, left edge
    assert members(S - 1, 1) == [6]        # BL, bottom edge
    assert members(S - 1, S - 2) == [7]    # BR, bottom edge
    assert members(S - 2, S - 1) == [8]    # BR, right edge
    assert members(h, h) == [7, 8]         # centre pixel: BR quadrant's diagonal
    assert members(h - 1, h - 1) == [1, 2]


def test_pattern_masks_bad_size():
    with pytest.raises(ValueError):
        pattern_masks(20)


# ----------------------------------------------------------------------------- motion helpers
def test_derivative_sign_conventions():
    # u = column index: the plain gradient is +2 * 3 rows = 6 in the interior (paper);
    # the true convolution flips the kernel -> -6 (official). Reflect border: edge repeated.
    u = np.tile(np.arange(8, dtype=np.float32), (8, 1))[None]
    dx_p, dy_p = sts.flow_derivatives(u, "paper")
    dx_o, dy_o = sts.flow_derivatives(u, "official")
    assert np.allclose(dx_p[0, :, 1:-1], 6) and np.allclose(dx_o[0, :, 1:-1], -6)
    # column 0 with symmetric padding: f[1] - f[0] = 1 per row -> 3 (paper)
    assert np.allclose(dx_p[0, :, 0], 3) and np.allclose(dx_p[0, :, -1], 3)
    assert np.allclose(dy_p, 0) and np.allclose(dy_o, 0)


def test_magnitude_angle_axes():
    mag, ang = sts.magnitude_angle(np.array([[3.0, 0.0, -1.0, 0.0]]), np.array([[-4.0, 2.0, 0.0, -1.0]]))
    assert np.allclose(mag, [[5, 2, 1, 1]])
    assert np.allclose(ang[0, 1:], [90, 180, 270])  # +y row axis = 90 degrees
    assert 360 - 53.2 < ang[0, 0] < 360 - 52.9      # atan2(-4, 3) = -53.13 deg


def test_orientation_vote_official_split_vs_paper_hard():
    # one pixel at 30 deg: paper -> bin 0 (label 1); official -> 1/3 to bin 0, 2/3 to bin 1
    h_p = sts.orientation_histogram(np.array([1.0]), np.array([30.0]), "paper")
    h_o = sts.orientation_histogram(np.array([1.0]), np.array([30.0]), "official")
    assert np.allclose(h_p, [1, 0, 0, 0, 0, 0, 0, 0])
    assert np.allclose(h_o, [1 / 3, 2 / 3, 0, 0, 0, 0, 0, 0])
    # 350 deg: bin 7 (315..360), r = 35 -> 10/45 to bin 7, 35/45 wraps to bin 0
    h_o = sts.orientation_histogram(np.array([9.0]), np.array([350.0]), "official")
    assert np.allclose(h_o[[7, 0]], [9 * 10 / 45, 9 * 35 / 45]) and np.isclose(h_o.sum(), 9)
    assert np.argmax(h_o) == 0 and np.argmax(sts.orientation_histogram([9.0], [350.0], "paper")) == 7


# ----------------------------------------------------------------------------- motion labels
S = 112


def _patch_flow(u_val, v_val, num_fields=3, size=S):
    """Flow (u_val, v_val) on a 10 x (S/4 - 4) patch sitting in the bottom-left corner of
    pattern-1 block 7 (rows [S/2 - 10, S/2), cols [S/2, S/2 + S/4 - 4)), zero elsewhere."""
    u = np.zeros((num_fields, size, size), np.float32)
    v = np.zeros_like(u)
    r0, r1, c0, c1 = size // 2 - 10, size // 2, size // 2, size // 2 + size // 4 - 4
    u[:, r0:r1, c0:c1] = u_val
    v[:, r0:r1, c0:c1] = v_val
    return u, v


def test_patch_moving_down_left_location_and_orientation():
    # Patch moving down-left: u = -2 (left), v = +2 (down, rows grow).
    # Inside block 7 the patch's top edge (2 response rows x 24 px, |grad| = 3*2 = 6) dominates:
    # the right edge has 2 cols x 10 px, the bottom and left edges leave one response row/col
    # in block 7 (the other lies in blocks 11 / 6) -> block 7 is the largest, orientation = the
    # top edge's direction.
    # Top edge of u: paper gradient d/dy = u[below] - u[above] = -2 - 0 < 0 -> 270 deg -> bin 6
    # -> label 7; official (negated) -> 90 deg -> bin 2 -> label 3.
    # Top edge of v: d/dy = +2 -> paper 90 deg (label 3), official 270 deg (label 7).
    u, v = _patch_flow(-2.0, 2.0)
    lab = {impl: sts.motion_labels(u, v, impl) for impl in ("paper", "official")}
    for impl in lab:
        assert lab[impl][M["u_loc1"]] == 7 and lab[impl][M["v_loc1"]] == 7
    assert lab["paper"][M["u_ori1"]] == 7 and lab["official"][M["u_ori1"]] == 3
    assert lab["paper"][M["v_ori1"]] == 3 and lab["official"][M["v_ori1"]] == 7
    # paper and official orientations are opposite bins (differ by 4)
    assert (lab["paper"][M["u_ori1"]] - lab["official"][M["u_ori1"]]) % 8 == 4
    # Mu signs at a top-edge pixel (row S/2 - 10, interior column): official dy = +6 per field
    Mu, Mv = sts.motion_boundaries(u, v, "official")
    assert Mu.shape == (2, S, S) and np.isclose(Mu[1, S // 2 - 10, S // 2 + 5], 3 * 6)
    Mu_p, _ = sts.motion_boundaries(u, v, "paper")
    assert np.allclose(Mu_p, -Mu)


@pytest.mark.parametrize("impl", ["paper", "official"])
def test_pattern2_location_is_the_largest_mean_and_its_orientation_counts_only_that_ring(impl):
    # S = 16, e = 2: centre [6:10]^2 = 16 px, ring 2 = [4:12]^2 - centre = 48 px, ring 3 =
    # [2:14]^2 - [4:12]^2 = 80 px, outer = 256 - 144 = 112 px. Magnitude 1 everywhere, 2 on
    # ring 2: sums 16, 96, 80, 112 (a sum would pick the outer ring, 4); means 1, 2, 1, 1 ->
    # ring 2 (label 2). Angles: 100 deg on ring 2 (bin 2; official split 35/45 to bin 2,
    # 10/45 to bin 3 -> bin 2) -> orientation 3; 300 deg elsewhere (bin 6), which would win
    # (weight 208 against 96) if pixels outside the ring counted.
    S, e = 16, 2
    ring2 = np.zeros((S, S), bool)
    ring2[2 * e:6 * e, 2 * e:6 * e] = True
    ring2[3 * e:5 * e, 3 * e:5 * e] = False
    mag = np.where(ring2, 2.0, 1.0)
    ang = np.where(ring2, 100.0, 300.0)
    assert sts.location_orientation(mag, ang, 2, impl) == (2, 3)
    # pattern 3 sums: the 8 triangles of 36 px (diagonals in two) hold ring-2 pixels unevenly,
    # but with magnitude 0 off the top-left quadrant's lower triangle, that triangle (1) wins
    # and its angles decide: 200 deg -> bin 4 (official 20/45 to bin 5, 25/45 to bin 4) -> 5.
    tri1 = pattern_masks(S)[3][0]
    assert sts.location_orientation(np.where(tri1, 1.0, 0.0), np.where(tri1, 200.0, 10.0), 3, impl) == (1, 5)
    # official pattern 1: every block sum zero -> (0, 0); paper: the first block, bin 1
    zero = np.zeros((S, S))
    assert sts.location_orientation(zero, zero, 1, impl) == ((0, 0) if impl == "official" else (1, 1))


def test_static_clip_labels():
    T = 4
    rgb = np.zeros((T, S, S, 3), np.uint8)
    rgb[:] = (200, 30, 30)
    zeros = np.zeros((T - 1, S, S), np.float32)
    off = compute_labels(rgb, zeros, zeros)  # default = official
    # official pattern 1: all magnitudes zero -> 0 for both labels; everything else: ties ->
    # first region / first bin / first field -> 1
    assert off["motion"].tolist() == [0, 0, 0, 0] + [1] * 10
    pap = compute_labels(rgb, zeros, zeros, label_impl="paper")
    assert pap["motion"].tolist() == [1] * 14
    # colour IoU = 1 everywhere -> diverse = consistent = region 1; (200,30,30) -> label 7
    for res in (off, pap):
        assert res["appearance"].tolist() == [1, 7, 1, 7] * 3 + [7]


def test_global_motion_label():
    T = 6
    u = np.zeros((T - 1, 32, 32), np.float32)
    v = np.zeros_like(u)
    u[3, 10:20, 10:20] = 1.5   # only field k = 3 moves in u -> label 4
    v[1, 5:9, 20:30] = -3.0    # only field 1 in v -> label 2
    for impl in ("official", "paper"):
        assert sts.global_motion_labels(u, v, impl).tolist() == [4, 2]
        lab = sts.motion_labels(u, v, impl)
        assert lab[M["u_global"]] == 4 and lab[M["v_global"]] == 2


def test_curriculum_score():
    u = np.zeros((2, 64, 64), np.float32)
    v = np.zeros_like(u)
    assert sts.curriculum_score(u, v) == 0.0
    u[:, 4:10, 4:10] = 1.0       # one square deep inside block 1: all of Mu's magnitude there
    assert np.isclose(sts.curriculum_score(u, v), 1.0)
    u[:, 52:58, 52:58] = 1.0     # an identical square inside block 16: half of the magnitude
    assert np.isclose(sts.curriculum_score(u, v, "paper"), 0.5)
    v[:, 20:26, 4:10] = 1.0      # v: one square in block 5 -> ratio 1 -> max(0.5, 1) = 1
    assert np.isclose(sts.curriculum_score(u, v), 1.0)



def test_curriculum_scores_of_many_clips_equal_each_clip_scored_alone():
    """Each field differentiated once (compiled) for every clip that holds it, against
    :func:`curriculum_score` of each clip's fields on their own: bit-identical on seeded
    float32 and float64 flows, fields in any order and repeated, both conventions; the hand
    case above gives its scores for clips of its fields."""
    rng = np.random.default_rng(7)
    for case in range(150):
        fields, size = int(rng.integers(2, 30)), 8 * int(rng.integers(1, 6))
        u, v = rng.normal(0, 5, (2, fields, size, size)).astype((np.float32, np.float64)[case % 2])
        length = int(rng.integers(1, min(fields, 16) + 1))
        clips = [rng.choice(fields, length, replace=bool(case % 3 == 0)) for _ in range(int(rng.integers(1, 6)))]
        label_impl = ("official", "paper")[case % 4 // 2]
        expected = [sts.curriculum_score(u[rows], v[rows], label_impl) for rows in clips]
        got = sts.curriculum_scores(u, v, clips, label_impl)
        assert got.dtype == np.float64 and got.tolist() == expected, case
        if case % 10 == 1:  # (float64) the summed derivatives themselves, which the score can round away
            dx, dy = sts.flow_derivatives(u, label_impl)
            sums = sts_kernels.clip_derivative_sums(u.astype(np.float64), np.array(clips), label_impl == "paper")
            for c, rows in enumerate(clips):
                assert np.array_equal(sums[c, 0], dx[rows].sum(axis=0)) and np.array_equal(sums[c, 1], dy[rows].sum(axis=0))
    u = np.zeros((3, 64, 64), np.float32)
    v = np.zeros_like(u)
    u[1, 4:10, 4:10] = 1.0  # field 1 only: all of its magnitude in block 1
    assert sts.curriculum_scores(u, v, [[0, 2], [0, 1], [1, 2]]).tolist() == [0.0, 1.0, 1.0]


def test_curriculum_scores_refuse_bad_clips_and_conventions():
    u = v = np.zeros((4, 16, 16), np.float32)
    with pytest.raises(IndexError, match="0..3"):
        sts.curriculum_scores(u, v, [[2, 4]])
    with pytest.raises(IndexError):
        sts.curriculum_scores(u, v, [[-1, 0]])
    with pytest.raises(ValueError, match="label_impl"):
        sts.curriculum_scores(u, v, [[0, 1]], "neither")
    assert sts.curriculum_scores(u, v, []).shape == (0,)


# ----------------------------------------------------------------------------- appearance
def test_dominant_colour_bins():
    assert sts.dominant_colour(np.full((5, 4, 3), (200, 30, 30), np.uint8)) == 7  # R>=128 only
    table = {(10, 10, 200): 1, (10, 200, 200): 2, (200, 10, 200): 3, (200, 200, 200): 4,
             (10, 10, 10): 5, (10, 200, 10): 6, (200, 10, 10): 7, (200, 200, 10): 8,
             (127, 127, 128): 1, (128, 127, 127): 7}
    for rgb, label in table.items():
        for impl in ("official", "paper"):
            assert sts.dominant_colour(np.array([rgb], np.uint8), impl) == label


def _white_and_dark_blue(n, rng):
    """n pixels: 40% exactly white, 60% distinct dark-blue triples (R, G < 128, B >= 128)."""
    n_white = int(0.4 * n)
    codes = rng.choice(128 * 128 * 128, size=n - n_white, replace=False)
    blue = np.stack([codes // (128 * 128), (codes // 128) % 128, 128 + codes % 128], axis=1)
    px = np.concatenate([np.full((n_white, 3), 255), blue]).astype(np.uint8)
    return px[rng.permutation(n)]


def test_dominant_colour_official_vs_paper():
    rng = np.random.default_rng(0)
    px = _white_and_dark_blue(1000, rng)
    assert sts.dominant_colour(px, "official") == 4   # modal triple (255,255,255) -> all >= 128
    assert sts.dominant_colour(px, "paper") == 1      # 60% of the votes: R,G<128, B>=128
    # end to end: the global colour label (last) of a clip made of such pixels
    T, s = 2, 16
    rgb = _white_and_dark_blue(T * s * s, rng).reshape(T, s, s, 3)
    zeros = np.zeros((T - 1, s, s), np.float32)
    assert compute_labels(rgb, zeros, zeros, "official")["appearance"][A["global_col"]] == 4
    assert compute_labels(rgb, zeros, zeros, "paper")["appearance"][A["global_col"]] == 1


def test_diverse_and_consistent_block():
    # grey clip; block 7 is red in frames 0, 1 and blue in frame 2 -> its R and B IoU are 0,
    # G IoU 1 -> mean 1/3; every other block IoU 1 -> diverse = 7, consistent = 1 (first).
    T, q = 3, S // 4
    rgb = np.full((T, S, S, 3), 100, np.uint8)
    rgb[:2, q:2 * q, 2 * q:3 * q] = (200, 30, 30)
    rgb[2, q:2 * q, 2 * q:3 * q] = (30, 30, 200)
    iou = sts.colour_iou(rgb, pattern_masks(S)[1])
    assert np.isclose(iou[6], 1 / 3) and np.allclose(np.delete(iou, 6), 1)
    for impl in ("official", "paper"):
        lab = sts.appearance_labels(rgb, impl)
        assert lab[A["div_loc1"]] == 7 and lab[A["div_col1"]] == 7   # 2/3 red pixels
        assert lab[A["con_loc1"]] == 1 and lab[A["con_col1"]] == 5   # grey: all < 128


def test_colour_iou_counts_only_region_pixels():
    # A ring-2 region whose own pixels never change has IoU 1 even though pixels outside
    # it (ring 1) change colour every frame.
    T, e = 3, S // 8
    rgb = np.full((T, S, S, 3), 50, np.uint8)
    for t in range(T):
        rgb[t, 3 * e:5 * e, 3 * e:5 * e] = 80 * t
    iou = sts.colour_iou(rgb, pattern_masks(S)[2])
    assert np.allclose(iou[1:], 1) and iou[0] < 0.5
    assert sts.appearance_labels(rgb)[A["div_loc2"]] == 1


# ----------------------------------------------------------------------------- flip
def test_flip_semantics():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    u = rng.normal(size=(2, 16, 16)).astype(np.float32)
    v = rng.normal(size=(2, 16, 16)).astype(np.float32)
    r_o, u_o, v_o = sts.flip_clip(rgb, u, v, "official")
    r_p, u_p, v_p = sts.flip_clip(rgb, u, v, "paper")
    assert np.array_equal(r_o, rgb[:, :, ::-1]) and np.array_equal(r_p, rgb[:, :, ::-1])
    assert np.array_equal(u_o, u[:, :, ::-1])        # official: u keeps its sign
    assert np.array_equal(u_p, -u[:, :, ::-1])       # paper: u negated
    assert np.array_equal(v_o, v[:, :, ::-1]) and np.array_equal(v_p, v[:, :, ::-1])


def test_flip_changes_orientation_in_paper_variant():
    # Rightward patch (u = +2) in block 7. Top edge of u: paper gradient +2 -> 90 deg -> label 3
    # (official: 270 deg -> 7). After a flip the patch lies in block 6 (mirror of block 7).
    # paper flip negates u -> u = -2 -> top edge 270 deg -> label 7;
    # official flip keeps u = +2 -> label stays 7.
    u, v = _patch_flow(2.0, 0.0)
    rgb = np.zeros((u.shape[0] + 1, S, S, 3), np.uint8)
    before_p = sts.motion_labels(u, v, "paper")
    before_o = sts.motion_labels(u, v, "official")
    assert before_p[M["u_loc1"]] == 7 and before_p[M["u_ori1"]] == 3
    assert before_o[M["u_loc1"]] == 7 and before_o[M["u_ori1"]] == 7
    _, u_p, v_p = sts.flip_clip(rgb, u, v, "paper")
    _, u_o, v_o = sts.flip_clip(rgb, u, v, "official")
    after_p = sts.motion_labels(u_p, v_p, "paper")
    after_o = sts.motion_labels(u_o, v_o, "official")
    assert after_p[M["u_loc1"]] == 6 and after_p[M["u_ori1"]] == 7
    assert after_o[M["u_loc1"]] == 6 and after_o[M["u_ori1"]] == 7


# ----------------------------------------------------------------------------- contract
@pytest.mark.parametrize("impl", ["official", "paper"])
def test_compute_labels_shapes_and_ranges(impl):
    rng = np.random.default_rng(2)
    T, s = 16, 112
    rgb = rng.integers(0, 256, (T, s, s, 3), dtype=np.uint8)
    u = rng.normal(size=(T - 1, s, s)).astype(np.float32)
    v = rng.normal(size=(T - 1, s, s)).astype(np.float32)
    out = compute_labels(rgb, u, v, label_impl=impl)
    assert set(out) == {"motion", "appearance"}
    assert out["motion"].shape == (14,) and out["appearance"].shape == (13,)
    assert np.issubdtype(out["motion"].dtype, np.integer)
    assert np.issubdtype(out["appearance"].dtype, np.integer)
    assert len(sts.LABEL_NAMES_MOTION) == 14 and len(sts.LABEL_NAMES_APPEARANCE) == 13
    for names, values in ((sts.LABEL_NAMES_MOTION, out["motion"]), (sts.LABEL_NAMES_APPEARANCE, out["appearance"])):
        for name, value in zip(names, values):
            assert 1 <= value <= sts.NUM_CLASSES[name], (name, value)
    assert sts.NUM_CLASSES["u_global"] == 15 and sts.num_classes(8)["v_global"] == 7
    assert sts.NUM_CLASSES["u_loc1"] == 16 and sts.NUM_CLASSES["v_loc2"] == 4
    assert sts.NUM_CLASSES["u_loc3"] == 8 and sts.NUM_CLASSES["div_col2"] == 8


def test_compute_labels_validation():
    T, s = 3, 16
    rgb = np.zeros((T, s, s, 3), np.uint8)
    f = np.zeros((T - 1, s, s), np.float32)
    with pytest.raises(ValueError, match="rgb"):
        compute_labels(np.zeros((T, s, 24, 3), np.uint8), f, f)             # H != W
    with pytest.raises(ValueError, match="rgb"):
        compute_labels(np.zeros((T, 20, 20, 3), np.uint8), f[:, :20, :20], f[:, :20, :20])  # 20 % 8
    with pytest.raises(ValueError, match="rgb"):
        compute_labels(rgb.astype(np.float32), f, f)                        # dtype
    with pytest.raises(ValueError, match="rgb"):
        compute_labels(rgb[..., 0], f, f)                                   # no channel axis
    with pytest.raises(ValueError, match="flow_u"):
        compute_labels(rgb, f[:1], f)                                       # wrong T-1
    with pytest.raises(ValueError, match="flow_v"):
        compute_labels(rgb, f, np.zeros((T - 1, 8, 8), np.float32))         # wrong size
    with pytest.raises(ValueError, match="label_impl"):
        compute_labels(rgb, f, f, label_impl="nope")
    with pytest.raises(ValueError, match="label_impl"):
        sts.flip_clip(rgb, f, f, "bogus")


@pytest.mark.parametrize("label_impl", ["official", "paper"])
def test_fast_labels_equal_the_reference_on_seeded_random_clips(label_impl):
    """compute_labels (shared derivatives, one packed-key sort per modal colour) against
    compute_labels_reference on 300 seeded clips: random sizes, few colours (ties in the modal
    triple and the region scores), flows with zero, constant and random fields."""
    from ssl_core.labels.sts import compute_labels_reference

    rng = np.random.default_rng(2026)
    for case in range(300):
        size = int(rng.choice([8, 16, 24, 32])) if case % 30 else 112  # every 30th at the papers' size
        frames = int(rng.integers(3, 9))
        palette = rng.integers(0, 256, (int(rng.integers(1, 6)), 3), dtype=np.uint8)
        rgb = palette[rng.integers(0, len(palette), (frames, size, size))]
        kind = case % 3
        flow = [rng.normal(0, 2, (frames - 1, size, size)).astype(np.float32) for _ in range(2)]
        if kind == 1:
            flow = [np.zeros_like(f) for f in flow]
        elif kind == 2:
            flow = [np.round(f) for f in flow]  # integer flows: many equal magnitudes
        fast = compute_labels(rgb, *flow, label_impl=label_impl)
        reference = compute_labels_reference(rgb, *flow, label_impl=label_impl)
        for key in ("motion", "appearance"):
            np.testing.assert_array_equal(fast[key], reference[key], err_msg=f"case {case}, {key}")


def test_modal_key_counts_like_unique_and_breaks_ties_to_the_smallest_key():
    from ssl_core.labels.sts_kernels import modal_key

    scratch = np.full(3000, 0xFFFF, np.uint16)  # reused, never cleared: the kernel must not read stale values

    def modal(keys):
        return modal_key(np.asarray(keys, np.uint32), scratch)

    assert modal([5, 3, 3, 5, 9]) == 3  # 3 and 5 twice each: the smaller
    assert modal([0xFFFFFF, 0x000FFF, 0x001000, 0x001000]) == 0x001000
    assert modal([0x123456, 0x003456, 0x123456, 0x003456]) == 0x003456  # across buckets
    rng = np.random.default_rng(11)
    for case in range(200):
        keys = rng.integers(0, int(rng.choice([4, 300, 5000, 1 << 24])), int(rng.integers(1, 3000))).astype(np.uint32)
        values, counts = np.unique(keys, return_counts=True)
        assert modal(keys) == int(values[np.argmax(counts)]), case


def test_gather_region_takes_the_region_pixels_frame_by_frame_like_boolean_indexing():
    from ssl_core.labels.sts import pattern_masks
    from ssl_core.labels.sts_kernels import gather_region

    keys = np.random.default_rng(3).integers(0, 1 << 24, (5, 16, 16)).astype(np.uint32)
    out = np.full(keys.size, 7, np.uint32)
    for pattern, masks in pattern_masks(16).items():
        for region in masks:
            n = gather_region(keys.reshape(5, -1), np.flatnonzero(region), out)
            np.testing.assert_array_equal(out[:n], keys[:, region].ravel(), err_msg=f"pattern {pattern}")


@pytest.mark.parametrize("impl", ["paper", "official"])
def test_compiled_orientation_votes_equal_numpy_bincounts_bit_for_bit(impl):
    """The fast path's histogram against :func:`orientation_histogram` (NumPy bincounts) on
    seeded magnitudes and angles: random, at bin edges (multiples of 45, 360) and with zeros;
    every region of every pattern. Compared bit for bit (a reassociated sum fails)."""
    from ssl_core.labels.sts_kernels import orientation_votes

    rng = np.random.default_rng(5)
    for case in range(60):
        S = int(rng.choice([8, 16, 24]))
        mag = rng.exponential(rng.choice([1e-3, 1.0, 1e3]), (S, S)) * (rng.random((S, S)) > 0.2)
        ang = rng.uniform(0, 360, (S, S))
        edges = rng.random((S, S)) < 0.2
        ang[edges] = 45.0 * rng.integers(0, 9, int(edges.sum()))
        for pattern, masks in pattern_masks(S).items():
            for region in masks:
                expected = sts.orientation_histogram(mag[region], ang[region], impl)
                got = orientation_votes(mag, ang, np.flatnonzero(region), impl == "official")
                assert got.tobytes() == expected.tobytes(), (case, pattern)
        for pattern in (1, 2, 3):
            assert (sts.location_orientation(mag, ang, pattern, impl, compiled=True)
                    == sts.location_orientation(mag, ang, pattern, impl)), (case, pattern)


def test_the_strongest_field_falls_back_to_cartToPolar_when_the_sums_are_close():
    """Two identical fields: the reference's sums tie exactly and it answers the first field.
    Approximate sums that differ by less than the margin must not decide; ones that differ by
    more do (the margin is what keeps the fast label equal to the reference's)."""
    from ssl_core.labels.sts import GLOBAL_MARGIN, _strongest_field, global_motion_labels

    field = np.random.default_rng(0).normal(0, 1, (16, 16)).astype(np.float32)
    flow = np.stack([field, field])
    assert global_motion_labels(flow, flow)[0] == 1
    assert _strongest_field(flow, np.array([10.0, 10.0 * (1 + GLOBAL_MARGIN / 10)]), "official") == 1
    assert _strongest_field(flow, np.array([10.0, 10.0 * (1 + GLOBAL_MARGIN * 10)]), "official") == 2


def test_the_approximate_field_sums_stay_far_inside_the_margin():
    """The fast path trusts its single-precision magnitude sums whenever their top two differ by
    more than GLOBAL_MARGIN; that is sound only if each sum is much closer than the margin to
    the reference's ``cartToPolar`` sum. Checked on smooth, noisy and integer flows of both signs."""
    from ssl_core.labels.sts import GLOBAL_MARGIN, flow_derivatives, magnitude_angle
    from ssl_core.labels.sts_kernels import boundary_sums

    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:32, 0:32] / 32.0
    flows = [rng.normal(0, 3, (6, 32, 32)), np.round(rng.normal(0, 2, (6, 32, 32))),
             np.stack([np.sin(6 * x + k) * (k + 1) + 0.01 * rng.normal(size=x.shape) for k in range(6)])]
    for case, flow in enumerate(flows):
        flow = flow.astype(np.float32)
        for negate, impl in ((False, "official"), (True, "paper")):
            _, _, approximate = boundary_sums(flow, negate)
            magnitudes, _ = magnitude_angle(*flow_derivatives(flow, impl))
            reference = magnitudes.reshape(len(flow), -1).sum(axis=1)
            assert np.all(np.abs(approximate - reference) <= GLOBAL_MARGIN / 100 * reference), case


def test_the_compiled_remainder_mod_45_equals_numpys_on_every_kind_of_angle():
    from ssl_core.labels.sts_kernels import _mod_45

    multiples = np.arange(0, 361, 45.0)
    angles = np.concatenate([np.random.default_rng(2).uniform(0, 360, 20000), multiples,
                             np.nextafter(multiples, -1)[1:], np.nextafter(multiples, 400), [5e-324]])
    got = np.array([_mod_45(a, np.floor(a / 45.0)) for a in angles])
    assert got.tobytes() == np.mod(angles, 45.0).tobytes()
    assert _mod_45(44.0, 1.0) == 44.0  # a quotient rounded up to the next integer is corrected


def test_region_histograms_count_each_region_and_the_ious_equal_colour_iou_bit_for_bit():
    from ssl_core.labels.sts import _region_atoms, colour_iou, pattern_masks
    from ssl_core.labels.sts_kernels import ious, region_histograms

    rng = np.random.default_rng(9)
    for case in range(6):
        size = int(rng.choice([16, 24, 40]))
        rgb = rng.integers(0, int(rng.choice([2, 40, 256])), (int(rng.integers(2, 6)), size, size, 3)).astype(np.uint8)
        atoms = _region_atoms(size)
        slices = atoms.slices
        histograms = np.full((len(rgb), slices[3].stop, 3, 256), -1, np.int32)  # stale values must not survive
        keys = np.zeros(rgb.shape[:3], np.uint32)
        region_histograms(rgb, atoms.atom_of, atoms.indptr, atoms.indices, np.full((atoms.count, 3, 256), 7, np.int32),
                          histograms, keys)
        wide = rgb.astype(np.uint32)
        np.testing.assert_array_equal(keys, wide[..., 2] * 65536 + wide[..., 1] * 256 + wide[..., 0])
        fast = ious(histograms)
        for pattern, masks in pattern_masks(size).items():
            for k, mask in enumerate(masks):  # each histogram by numpy: frame by frame, channel by channel
                expected = [[np.bincount(rgb[t][mask][:, c], minlength=256) for c in range(3)] for t in range(len(rgb))]
                np.testing.assert_array_equal(histograms[:, slices[pattern].start + k], expected)
            assert fast[slices[pattern]].tobytes() == colour_iou(rgb, masks).tobytes(), (case, pattern)
