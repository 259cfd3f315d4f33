import numpy as np
import pytest
import torch

from ssl_core.eval.linear import linear_probe, video_and_clip_accuracy
from ssl_core.eval.retrieval import knn_accuracy, retrieval_recall

# Worked by hand. Gallery: g0=(1,0) class 0, g1=(0.3,1) class 1, g2=(1,1) class 1, g3=(-1,0) class 2.
# q0=(1,0.1) class 1: cosines g0 .995, g2 .774, g1 .381, g3 -.995 -> ranks classes 0,1,1,2.
# q1=(-1,0.2) class 2: cosines g3 .981, g1 -.094, g2 -.555, g0 -.981 -> ranks classes 2,1,1,0.
GALLERY = np.array([[1, 0], [0.3, 1], [1, 1], [-1, 0]], dtype=np.float32)
GALLERY_LABELS = np.array([0, 1, 1, 2])
QUERIES = np.array([[1, 0.1], [-1, 0.2]], dtype=np.float32)
QUERY_LABELS = np.array([1, 2])


def test_recall_at_k_hand_example():
    recall = retrieval_recall(QUERIES, QUERY_LABELS, GALLERY, GALLERY_LABELS, ks=(1, 2, 5))
    assert recall == {1: 0.5, 2: 1.0, 5: 1.0}  # k=5 is capped at the 4 gallery videos


def test_recall_is_scale_invariant_and_counts_every_query():
    queries = np.repeat(QUERIES, 3, axis=0) * np.array([[1], [7], [0.1], [2], [3], [9]])
    labels = np.repeat(QUERY_LABELS, 3)
    assert retrieval_recall(queries, labels, GALLERY * 5, GALLERY_LABELS, ks=(1,)) == {1: 0.5}


def test_knn_weighted_vote_hand_example():
    assert knn_accuracy(GALLERY, GALLERY_LABELS, QUERIES, QUERY_LABELS, k=1) == 0.5
    # q0 with k=3: class 0 gets .995, class 1 gets .774 + .381 = 1.155 -> class 1 (right)
    assert knn_accuracy(GALLERY, GALLERY_LABELS, QUERIES, QUERY_LABELS, k=3) == 1.0
    with pytest.raises(ValueError, match="k"):
        knn_accuracy(GALLERY, GALLERY_LABELS, QUERIES, QUERY_LABELS, k=0)


def test_knn_only_the_neighbours_classes_can_win_with_negative_similarities():
    # Both neighbours are class 2 with cosines -0.9986 and -0.9924: votes 0, 0, -1.991. An
    # absent class's empty 0 must not win (it would predict class 0).
    train = np.array([[1, 0], [0.9, 0.1]], dtype=np.float32)
    assert knn_accuracy(train, np.array([2, 2]), np.array([[-1, 0.05]], dtype=np.float32), np.array([2]), k=2) == 1.0


def test_video_and_clip_accuracy_hand_example():
    # video 0 (class 0): clips say [.6 .4], [.1 .9] -> mean [.35 .65] wrong; 1 of 2 clips right
    # video 1 (class 1): clips say [.4 .6], [.3 .7] -> right; 2 of 2 clips right
    probabilities = torch.tensor([[[0.6, 0.4], [0.1, 0.9]], [[0.4, 0.6], [0.3, 0.7]]])
    scores = video_and_clip_accuracy(probabilities, torch.tensor([0, 1]))
    assert scores == {"top1": 0.5, "clip_top1": 0.75}


def test_linear_probe_separates_separable_features():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16)) * 4
    labels = np.arange(30) % 3
    train = centres[labels][:, None, :] + rng.normal(size=(30, 2, 16))
    test = centres[labels][:, None, :] + rng.normal(size=(30, 2, 16))
    assert linear_probe(train, labels, test, labels, steps=200)["top1"] == 1.0
    shuffled = rng.permutation(labels)  # labels unrelated to features: near chance
    assert linear_probe(train, labels, test, shuffled, steps=200)["top1"] < 0.7
