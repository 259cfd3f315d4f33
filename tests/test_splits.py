import pytest

from conftest import coloured_frames, write_video
from ssl_core.data.splits import detect_layout, read_split


def _ucf_tree(root):
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_bytes(b"1 ApplyEyeMakeup\r\n2 Archery\r\n")
    (lists / "trainlist01.txt").write_bytes(
        b"ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\r\nArchery/v_Archery_g09_c02.avi 2\r\n\r\n")
    (lists / "testlist01.txt").write_bytes(b"ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\r\narchery/v_Archery_g01_c03.avi\r\n")
    write_video(root / "UCF-101/ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", coloured_frames(4))
    frames = root / "UCF-101/Archery/v_Archery_g09_c02"  # a frame folder instead of a file
    frames.mkdir(parents=True)
    return root


def test_ucf101_train_and_test_lists(tmp_path):
    root = _ucf_tree(tmp_path / "ucf")
    assert detect_layout(root) == "ucf101"
    train = read_split(root, 1, "train")
    assert train.class_names == ["ApplyEyeMakeup", "Archery"]
    assert [(e.video_id, e.label) for e in train.entries] == [
        ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01", 0), ("Archery/v_Archery_g09_c02", 1)]
    assert train.entries[0].path.is_file()
    assert train.entries[1].path.is_dir()  # resolved to the frame folder
    test = read_split(root, 1, "test")
    # the test list has no label column: labels come from the class directory (case-insensitive)
    assert [e.label for e in test.entries] == [0, 1]
    assert not test.entries[0].path.exists()  # listed, reported later as missing


def test_ucf101_lists_without_extensions_and_with_a_byte_order_mark(tmp_path):
    root = _ucf_tree(tmp_path / "ucf")
    lists = root / "ucfTrainTestlist"
    (lists / "classInd.txt").write_bytes(b"\xef\xbb\xbf1 ApplyEyeMakeup\r\n2 Archery\r\n")
    (lists / "trainlist01.txt").write_bytes(b"ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01 1\r\nArchery/v_Archery_g09_c02 2\r\n")
    train = read_split(root, 1, "train")
    assert train.class_names == ["ApplyEyeMakeup", "Archery"]
    assert train.entries[0].path == root / "UCF-101/ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi"
    assert train.entries[1].path.is_dir()  # the frame folder
    assert [e.video_id for e in train.entries] == ["ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01", "Archery/v_Archery_g09_c02"]


def test_ucf101_unknown_class_is_an_error(tmp_path):
    root = _ucf_tree(tmp_path / "ucf")
    (root / "ucfTrainTestlist/trainlist02.txt").write_text("Bowling/v_Bowling_g01_c01.avi 3\n")
    with pytest.raises(ValueError, match="Bowling"):
        read_split(root, 2, "train")


def test_hmdb51_marks(tmp_path):
    root = tmp_path / "hmdb"
    splits = root / "testTrainMulti_7030_splits"
    splits.mkdir(parents=True)
    (splits / "wave_test_split1.txt").write_text("a.avi 1 \nb.avi 2 \nc.avi 0 \n")
    (splits / "brush_hair_test_split1.txt").write_text("d.avi 2\ne.avi 1\n")
    assert detect_layout(root) == "hmdb51"
    train = read_split(root, 1, "train")
    test = read_split(root, 1, "test")
    assert train.class_names == ["brush_hair", "wave"]
    assert [(e.video_id, e.label) for e in train.entries] == [("brush_hair/e", 0), ("wave/a", 1)]
    assert [(e.video_id, e.label) for e in test.entries] == [("brush_hair/d", 0), ("wave/b", 1)]
    assert str(train.entries[1].path).endswith("hmdb51_org/wave/a.avi")


@pytest.mark.parametrize("split, subset, field", [(4, "train", "split"), (1, "val", "subset")])
def test_bad_split_arguments_name_the_field(tmp_path, split, subset, field):
    root = _ucf_tree(tmp_path / "ucf")
    with pytest.raises(ValueError, match=field):
        read_split(root, split, subset)


def test_unknown_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match="no UCF101 split files"):
        detect_layout(tmp_path)
