import numpy as np
import pytest
import torch

from conftest import make_sequence
from ehfusion.data.augmentation import flip_camera, flip_pose
from ehfusion.data.batching import WindowBatcher, sequence_inputs, window_padding


def test_flip_twice_is_identity_and_swaps_sides(h36m):
    pose = np.random.default_rng(0).normal(size=(4, 17, 3)).astype(np.float32)
    flipped = flip_pose(pose, h36m)
    assert np.allclose(flip_pose(flipped, h36m), pose)
    left, right = h36m.index("LWrist"), h36m.index("RWrist")
    assert np.allclose(flipped[:, right, 0], -pose[:, left, 0])
    assert np.allclose(flipped[:, right, 1:], pose[:, left, 1:])
    cam = np.arange(9, dtype=np.float32) + 1
    assert np.allclose(flip_camera(cam), [1, 2, -3, 4, 5, 6, 7, -8, 9])
    assert torch.allclose(flip_pose(torch.tensor(pose), h36m), torch.tensor(flipped))


def test_window_padding():
    assert window_padding(27) == (13, 13)
    assert window_padding(27, causal=True) == (26, 0)
    with pytest.raises(ValueError, match="odd"):
        window_padding(4)


def test_batches_cover_every_window_once_with_correct_content(h36m, sequences):
    batcher = WindowBatcher(sequences, 9, batch_size=16, skeleton=h36m, flip_augment=False, seed=1)
    total = sum(len(s.keypoints_2d) for s in sequences)
    assert batcher.num_windows == total and len(batcher) == -(-total // 16)
    seen = []
    for batch in batcher:
        assert batch.window.shape[1:] == (9, 17, 2) and batch.target.shape[1:] == (17, 3)
        assert batch.camera.shape[1:] == (9,)
        seen.append(batch.target.numpy())
    seen = np.concatenate(seen)
    assert len(seen) == total
    everything = np.concatenate([s.poses_3d for s in sequences])
    # each target appears exactly once (compare sorted rows)
    key = lambda a: a.reshape(len(a), -1)[np.lexsort(a.reshape(len(a), -1).T[::-1])]
    assert np.allclose(key(seen), key(everything))


def test_window_centre_is_target_frame_and_edges_are_padded(h36m):
    seq = make_sequence(12, seed=3)
    batcher = WindowBatcher([seq], 5, batch_size=100, skeleton=h36m, shuffle=False, flip_augment=False)
    batch = next(iter(batcher))
    window = batch.window.numpy()
    assert np.allclose(window[:, 2], seq.keypoints_2d)  # centre of each window is its own frame
    assert np.allclose(window[0, 0], seq.keypoints_2d[0]) and np.allclose(window[0, 1], seq.keypoints_2d[0])
    assert np.allclose(window[-1, 4], seq.keypoints_2d[-1])
    assert np.allclose(batch.target.numpy(), seq.poses_3d)
    causal = next(iter(WindowBatcher([seq], 5, batch_size=100, skeleton=h36m, shuffle=False,
                                     flip_augment=False, causal=True)))
    assert np.allclose(causal.window.numpy()[:, -1], seq.keypoints_2d)  # last frame is the output frame


def test_flip_augmentation_flips_window_target_and_camera_together(h36m):
    seq = make_sequence(50, seed=4)
    plain = WindowBatcher([seq], 3, batch_size=50, skeleton=h36m, shuffle=False, flip_augment=False)
    aug = WindowBatcher([seq], 3, batch_size=50, skeleton=h36m, shuffle=False, flip_augment=True, seed=5)
    a, b = next(iter(plain)), next(iter(aug))
    flipped = ~np.isclose(a.camera[:, 2].numpy(), b.camera[:, 2].numpy())
    assert 10 < flipped.sum() < 40
    assert np.allclose(flip_pose(a.window.numpy()[flipped], h36m), b.window.numpy()[flipped])
    assert np.allclose(flip_pose(a.target.numpy()[flipped], h36m), b.target.numpy()[flipped])
    assert np.allclose(a.window.numpy()[~flipped], b.window.numpy()[~flipped])


def test_shuffle_is_deterministic_per_epoch(h36m, sequences):
    def first_targets(epoch, seed=0):
        batcher = WindowBatcher(sequences, 9, batch_size=8, skeleton=h36m, seed=seed)
        batcher.set_epoch(epoch)
        return next(iter(batcher)).target.numpy()

    assert np.array_equal(first_targets(0), first_targets(0))
    assert not np.array_equal(first_targets(0), first_targets(1))
    assert not np.array_equal(first_targets(0), first_targets(0, seed=1))


def test_sharding_splits_an_epoch_between_ranks(h36m, sequences):
    ranks = [WindowBatcher(sequences, 9, batch_size=8, skeleton=h36m, flip_augment=False, rank=r, world_size=2)
             for r in range(2)]
    assert len(ranks[0]) == len(ranks[1])
    parts = [np.concatenate([b.target.numpy() for b in r]) for r in ranks]
    assert len(parts[0]) == len(parts[1]) == ranks[0].num_windows // 2
    rows = lambda a: {r.tobytes() for r in a.reshape(len(a), -1)}
    assert not rows(parts[0]) & rows(parts[1])


def test_subset_uses_a_fraction_of_windows(h36m, sequences):
    batcher = WindowBatcher(sequences, 9, batch_size=8, skeleton=h36m, subset=0.5)
    assert batcher.windows_per_epoch == batcher.num_windows // 2
    with pytest.raises(ValueError, match="subset"):
        WindowBatcher(sequences, 9, skeleton=h36m, subset=0.0)


def test_clear_errors(h36m):
    with pytest.raises(ValueError, match="no sequences"):
        WindowBatcher([], 9, skeleton=h36m)
    seq = make_sequence(10)
    seq.poses_3d = seq.poses_3d[:8]
    with pytest.raises(ValueError, match="10 2D frames but 8 3D frames"):
        WindowBatcher([seq], 9, skeleton=h36m)


def test_sequence_inputs_padding_and_flipped_copy(h36m):
    seq = make_sequence(20, seed=6)
    inputs = sequence_inputs(seq, 27, skeleton=h36m, flip=True)
    assert inputs.keypoints.shape == (2, 20 + 26, 17, 2) and inputs.num_frames == 20
    assert inputs.has_flipped_copy
    assert np.allclose(inputs.keypoints[0, 13:33].numpy(), seq.keypoints_2d)
    assert np.allclose(inputs.keypoints[1].numpy(), flip_pose(inputs.keypoints[0].numpy(), h36m))
    assert np.allclose(inputs.camera[1].numpy(), flip_camera(seq.intrinsics))
    causal = sequence_inputs(seq, 27, skeleton=h36m, causal=True)
    assert causal.keypoints.shape == (1, 46, 17, 2)
    assert np.allclose(causal.keypoints[0, 26:].numpy(), seq.keypoints_2d)
