"""The published on-disk layouts, built as tiny fixture folders, and their bad-input errors."""

import numpy as np
import pytest
import torch
from PIL import Image

from symmflow.data import celebamask, cocostuff, hfdata
from symmflow.data.segmentation import crop_pair, paired_folders
from symmflow.errors import UsageError


def _png(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8), mode).save(path)


def celeba_fixture(root, ids=(0, 1, 2001), size=16, split_files=True):
    base = root / "CelebAMask-HQ"
    for i in ids:
        _png(base / "CelebA-HQ-img" / f"{i}.jpg", np.full((2 * size, 2 * size, 3), 100 + i % 50))
        anno = base / "CelebAMask-HQ-mask-anno" / str(i // 2000)
        skin = np.zeros((size, size)); skin[2:14, 2:14] = 255
        nose = np.zeros((size, size)); nose[6:8, 6:8] = 255
        hair = np.zeros((size, size)); hair[2:5, :] = 255  # hair (13) over skin (1)
        for part, region in (("skin", skin), ("nose", nose), ("hair", hair)):
            _png(anno / f"{i:05d}_{part}.png", region)
    if split_files:
        (base / "CelebA-HQ-to-CelebA-mapping.txt").write_text(
            "idx orig_idx orig_file\n" + "".join(f"{i} {i} {i:06d}.jpg\n" for i in ids))
        parts = {ids[0]: 0, ids[1]: 1, ids[2]: 2}
        (base / "list_eval_partition.txt").write_text("".join(f"{i:06d}.jpg {p}\n" for i, p in parts.items()))
    return base


def test_celeba_parts_merge_in_the_standard_order(tmp_path):
    celeba_fixture(tmp_path)
    image, mask = celebamask.dataset(tmp_path, "train", size=None)[0]
    assert image.shape == (3, 16, 16)  # 32 px image resized to its 16 px mask
    assert mask[0, 0] == 0 and mask[10, 10] == 1 and mask[6, 6] == 2 and mask[3, 8] == 13
    assert image.min() >= -1 and image.max() <= 1


def test_celeba_standard_split(tmp_path):
    root = celeba_fixture(tmp_path)
    assert celebamask.split_ids(root, "train") == [0]
    assert celebamask.split_ids(root, "validation") == [1]
    assert celebamask.split_ids(root, "test") == [2001]
    root2 = celeba_fixture(tmp_path / "b", split_files=False)
    with pytest.raises(UsageError, match="no standard split .* every face would be both a training and a test"):
        celebamask.split_ids(root2, "test")


def test_celeba_pre_merged_masks_and_bad_ids(tmp_path):
    base = tmp_path / "CelebAMask-HQ"
    _png(base / "CelebA-HQ-img" / "0.jpg", np.zeros((8, 8, 3)))
    _png(base / "CelebAMask-HQ-mask" / "0.png", np.full((8, 8), 18))
    (base / "CelebA-HQ-to-CelebA-mapping.txt").write_text("idx orig_idx orig_file\n0 0 000000.jpg\n")
    (base / "list_eval_partition.txt").write_text("000000.jpg 2\n")
    assert celebamask.dataset(tmp_path, "test", size=None)[0][1].max() == 18
    _png(base / "CelebAMask-HQ-mask" / "0.png", np.full((8, 8), 19))
    with pytest.raises(UsageError, match="mask id 19 is outside"):
        celebamask.dataset(tmp_path, "test", size=None)[0]


def coco_fixture(root):
    base = root / "COCO-Stuff"
    for split in ("train2017", "val2017"):
        _png(base / "images" / split / "a.jpg", np.zeros((10, 12, 3)))
        mask = np.full((10, 12), 255); mask[:, :4] = 0; mask[:, 4:8] = 12; mask[:, 8:] = 181
        _png(base / "stuffthingmaps_trainval2017" / split / "a.png", mask)
    return base


def test_coco_remaps_to_171_contiguous_classes(tmp_path):
    coco_fixture(tmp_path)
    table = cocostuff.remap_table()
    assert table[181] == 170 and table[12] == 11 and table[255] == 255 and table[11] == 255
    assert len(set(table[:182]) - {255}) == 171
    _, mask = cocostuff.dataset(tmp_path, "validation", size=None)[0]
    assert set(mask.unique().tolist()) == {0, 11, 170}


def authors_coco_colour(raw: int) -> tuple[int, int, int]:
    """The colour the authors' code gives raw COCO id ``raw``: entry ``raw`` of their 6x6x6 palette
    over steps of 50, R-major; unlabelled (255) is (250, 250, 250) (reference notes section 11)."""
    return (250, 250, 250) if raw == 255 else (50 * (raw // 36), 50 * (raw // 6 % 6), 50 * (raw % 6))


def test_coco_raw_id_palette_encodes_as_the_authors_and_decodes_back(tmp_path):
    """Raw ids beside the first two gaps (11, 25 unused) and the last (181): the raw-id palette
    colours each class as the authors' code colours its raw id, and decoding gives the class back;
    the contiguous palette differs from the first unused id on."""
    base = coco_fixture(tmp_path)
    raw = np.array([[10, 12, 24, 26, 181, 255]])
    _png(base / "stuffthingmaps_trainval2017" / "val2017" / "a.png", np.repeat(raw, 10, 0).repeat(2, 1))
    _, mask = cocostuff.dataset(tmp_path, "validation", size=None)[0]
    classes = mask[0, ::2]
    assert classes.tolist() == [10, 11, 23, 24, 170, 255]  # contiguous ids, unlabelled kept
    theirs = torch.tensor([authors_coco_colour(r) for r in raw[0]], dtype=torch.float32)
    raw_id = cocostuff.palette(colours="raw-id")
    torch.testing.assert_close(raw_id.colourise(classes[None, None])[0, :, 0].T, theirs)
    contiguous = cocostuff.palette().colourise(classes[None, None])[0, :, 0].T
    assert torch.equal(contiguous[0], theirs[0]) and not torch.equal(contiguous[1], theirs[1])
    for codec in (raw_id, cocostuff.palette()):
        assert torch.equal(codec.decode(codec.encode(mask[None]))[0], mask)
    with pytest.raises(ValueError, match="colours"):
        cocostuff.palette(colours="raw")


def test_coco_bad_inputs(tmp_path):
    base = coco_fixture(tmp_path)
    for bad in (182, 200):  # past the raw ids 0-181 (255 is unlabelled): named with its file
        _png(base / "stuffthingmaps_trainval2017" / "val2017" / "a.png", np.full((10, 12), bad))
        with pytest.raises(UsageError, match=f"a.png: mask id {bad} is outside"):
            cocostuff.dataset(tmp_path, "validation", size=None)[0]
    _png(base / "stuffthingmaps_trainval2017" / "val2017" / "a.png", np.zeros((9, 12)))
    with pytest.raises(UsageError, match="image is 12x10 but its mask is 12x9"):
        cocostuff.dataset(tmp_path, "validation", size=None)[0]
    (base / "stuffthingmaps_trainval2017" / "val2017" / "a.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(UsageError, match="not a readable image"):
        cocostuff.dataset(tmp_path, "validation", size=None)[0]


def test_missing_folders_say_what_was_expected_where(tmp_path):
    for module in (celebamask, cocostuff):
        with pytest.raises(UsageError) as error:
            module.dataset(tmp_path, "train")
        assert "expected" in str(error.value) and str(tmp_path) in str(error.value)
        assert "\n" not in str(error.value)
    from benchmarks.datasets import DATASETS

    lines = [DATASETS[name].needs(tmp_path) for name in ("CelebAMask-HQ", "COCO-Stuff")]
    assert all("MISSING" in line for line in lines)
    assert "found" in DATASETS["scenes"].needs(None)


def test_crops_random_for_training_centre_for_evaluation():
    image, mask = torch.arange(3 * 8 * 8).float().reshape(3, 8, 8), torch.arange(64).reshape(8, 8)
    _, centre = crop_pair(image, mask, 4, train=False)
    assert torch.equal(centre, mask[2:6, 2:6])
    seen = {crop_pair(image, mask, 4, True, torch.Generator().manual_seed(s))[1][0, 0].item() for s in range(20)}
    assert len(seen) > 1
    small_image, small_mask = crop_pair(image[:, :4], mask[:4], 6, train=False)  # upsized first
    assert small_image.shape == (3, 6, 6) and small_mask.shape == (6, 6)


def hf_rows(count: int):
    """A Hugging Face dataset of ``count`` 6x6 images whose mask is class i everywhere."""
    import datasets

    images = [Image.fromarray(np.full((6, 6, 3), 10 * i, np.uint8)) for i in range(count)]
    masks = [Image.fromarray(np.full((6, 6), i, np.uint8)) for i in range(count)]
    features = datasets.Features({"image": datasets.Image(), "mask": datasets.Image()})
    return datasets.Dataset.from_dict({"image": images, "mask": masks}, features=features)


def test_hugging_face_copy_save_to_disk_and_parquet(tmp_path):
    import datasets

    data = hf_rows(3)
    datasets.DatasetDict({"train": data, "test": data}).save_to_disk(str(tmp_path / "CelebAMask-HQ-hf"))
    pairs = hfdata.dataset(tmp_path, "CelebAMask-HQ", "test", 19, None, size=None)
    assert len(pairs) == 3 and pairs[2][1].max() == 2 and pairs[2][0].shape == (3, 6, 6)
    (tmp_path / "COCO-Stuff-hf").mkdir()
    data.to_parquet(str(tmp_path / "COCO-Stuff-hf" / "validation-00000.parquet"))
    pairs = hfdata.dataset(tmp_path, "COCO-Stuff", "validation", 171, 255, size=None,
                           remap=cocostuff.remap_table())
    assert pairs[1][1].max() == 1  # raw id 1 stays class 1
    assert hfdata.splits(tmp_path / "COCO-Stuff-hf") == ["validation"]


def test_a_copy_without_a_test_split_is_evaluated_on_its_validation_split(tmp_path):
    import datasets

    data = hf_rows(2)
    datasets.DatasetDict({"train": data, "validation": data}).save_to_disk(str(tmp_path / "CelebAMask-HQ-hf"))
    assert hfdata.splits(tmp_path / "CelebAMask-HQ-hf") == ["train", "validation"]
    assert hfdata.evaluation_split(tmp_path, "CelebAMask-HQ", "test") == "validation"  # the authors' copy
    datasets.DatasetDict({"train": data, "validation": data, "test": data}).save_to_disk(
        str(tmp_path / "COCO-Stuff-hf"))
    assert hfdata.evaluation_split(tmp_path, "COCO-Stuff", "test") == "test"


def test_user_folders(tmp_path):
    _png(tmp_path / "img" / "x.png", np.zeros((5, 5, 3)))
    _png(tmp_path / "msk" / "x.png", np.ones((5, 5)))
    assert paired_folders(tmp_path / "img", tmp_path / "msk", 3)[0][1].sum() == 25
    with pytest.raises(UsageError, match="not found"):
        paired_folders(tmp_path / "nope", tmp_path / "msk", 3)


def test_training_crops_differ_from_epoch_to_epoch_and_worker_to_worker_reproducibly(tmp_path):
    """Random crops drawn in DataLoader workers: another crop every epoch and in every worker, the
    same ones again from the same seed (a generator copied into the workers repeated them)."""
    from symmflow.data.segmentation import PairDataset
    from symmflow.data.streams import loader_batches

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (32, 32, 3)).astype(np.uint8) for _ in range(4)]
    dataset = PairDataset(range(4), lambda i: (images[i], np.zeros((32, 32), np.int64)), 1, None, size=8,
                          train=True)

    def crops(seed):
        stream = loader_batches(dataset, batch_size=4, seed=seed, workers=2)
        return [next(stream)[0] for _ in range(3)]  # three epochs of one batch

    first = crops(0)
    assert not torch.equal(first[0], first[1]) and not torch.equal(first[1], first[2])
    assert all(torch.equal(a, b) for a, b in zip(first, crops(0)))
    assert not torch.equal(first[0], crops(1)[0])


@pytest.mark.parametrize("stream", ["epoch", "loader"])
def test_fewer_training_rows_than_one_batch_is_one_line_not_an_endless_stream(stream):
    from symmflow.data.streams import epoch_batches, loader_batches

    x = torch.zeros(3, 2)
    batches = epoch_batches(x, batch_size=4, seed=0) if stream == "epoch" else \
        loader_batches(torch.utils.data.TensorDataset(x), batch_size=4, seed=0, workers=0)
    with pytest.raises(UsageError, match="3 training rows are fewer than one batch of 4"):
        next(batches)
