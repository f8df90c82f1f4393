"""Several persons: tracking (synthetic boxes isolate the rules), batched lifting of several sequences, and the
whole ``--multi`` demo on a real two-person clip (Pose2Sim Demo_MultiPerson, fetched once like the sample)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from hot_pose.cli.demo import main as vis_main
from hot_pose.wild.detectors.base import PersonDetection
from hot_pose.wild.lift import lift_sequences, load_lifter, sliding_window_lift
from hot_pose.wild.tracks import PersonTracker, box_iou

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FRAMES = 40  # the real slice: persons apart, crossing arms and legs


def _det(box) -> PersonDetection:
    box = np.asarray(box, np.float32)
    kp = np.tile(((box[:2] + box[2:]) / 2)[None], (17, 1))
    return PersonDetection(kp, np.ones(17, np.float32), box)


def test_box_iou():
    a = np.array([[0, 0, 10, 10], [0, 0, 0, 0]], np.float32)
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30]], np.float32)
    np.testing.assert_allclose(box_iou(a, b), [[1 / 3, 0], [0, 0]])


def test_tracker_keeps_ids_through_crossing_gaps_entering_and_leaving():
    tracker = PersonTracker(min_iou=0.2, max_gap=5)
    for t in range(30):
        left = _det([10 + 4 * t, 0, 60 + 4 * t, 100])    # walks right
        right = _det([200 - 4 * t, 0, 250 - 4 * t, 100])  # walks left: they cross around t = 19
        frame = [right, left] if t % 2 else [left, right]  # detection order means nothing
        if 8 <= t < 11:
            frame = [right]  # the left one is missed for 3 frames (a gap)
        if 12 <= t < 20:
            frame.append(_det([400, 0, 450, 100]))  # a third person enters at 12, leaves after 19
        tracker.update(frame)
    tracks = tracker.result(min_frames=1)
    assert tracks.num_tracks == 3
    first_x = tracks.boxes[:, 0, 0]
    walker = int(np.flatnonzero(first_x == 10)[0])
    assert tracks.found[walker].sum() == 27 and not tracks.found[walker, 8:11].any()  # gap, same id
    np.testing.assert_allclose(tracks.boxes[walker, 29, 0], 10 + 4 * 29)  # right through the crossing
    assert tracks.span(2) == (12, 20) and tracks.present[2].sum() == 8
    for t in range(30, 40):  # the third person back long after its track ended (max_gap 5): a new id
        tracker.update([_det([400, 0, 450, 100])])
    assert tracker.result().num_tracks == 4 and tracker.result().span(3) == (30, 40)
    kept = tracker.result(min_frames=9, max_persons=2)
    assert kept.num_tracks == 2 and (kept.found.sum(axis=1) >= 9).all()


def test_lift_sequences_matches_one_sequence_at_a_time():
    lifter = load_lifter(device="cpu")  # the shipped in-the-wild model (27 frames)
    rng = np.random.default_rng(0)
    sequences = [rng.uniform(-0.4, 0.4, (n, 17, 2)).astype(np.float32) for n in (30, 5, 61)]
    together = lift_sequences(lifter.model, sequences, lifter.frames, lifter.mode, batch_size=4)
    for seq, out in zip(sequences, together):
        alone = sliding_window_lift(lifter.model, seq, lifter.frames, lifter.mode, batch_size=4)
        assert out.shape == (len(seq), 17, 3)
        np.testing.assert_allclose(out, alone, atol=2e-5)  # no window reads another sequence


@pytest.fixture(scope="module")
def multi_clip() -> Path:
    from hot_pose.wild.sample import MULTI_SAMPLE_NAME, demo_set

    return demo_set(which="multiperson") / MULTI_SAMPLE_NAME


@pytest.fixture(scope="module")
def multi_run(multi_clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("multi") / "out"
    code = vis_main(["--video", str(multi_clip), "--multi", "--max-frames", str(FRAMES), "-o", str(out), "--quiet"])
    assert code == 0
    return out


def test_multi_person_demo_on_a_real_two_person_clip(multi_run):
    out = multi_run
    cap = cv2.VideoCapture(str(out / "cam02.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == FRAMES
    cap.release()
    with np.load(out / "poses_3d.npz") as f:
        poses, present, found, ids = f["poses_3d"], f["present"], f["found"], f["track_ids"]
        meta = json.loads(str(f["meta"]))
    assert poses.shape == (2, FRAMES, 17, 3) and ids.tolist() == [0, 1]  # both persons, no stray track
    assert (present.mean(axis=1) >= 0.9).all() and (found <= present).all()
    assert np.isfinite(poses).all() and (poses[~present] == 0).all()
    assert np.allclose(poses[present][:, 0], 0)  # root-relative
    bones = np.linalg.norm(poses[:, :, 8] - poses[:, :, 0], axis=-1)[present]  # pelvis → thorax, metres
    assert 0.3 < np.median(bones) < 0.65  # a human torso (Human3.6M subjects: about 0.45-0.5 m)
    with np.load(out / "keypoints_2d.npz") as f:
        assert f["keypoints"].shape == (2, FRAMES, 17, 2) and f["present"].shape == (2, FRAMES)
        boxes = f["boxes"]
    # two different persons: their boxes are apart most of the time
    both = found[0] & found[1]
    iou = np.array([box_iou(boxes[0, t], boxes[1, t])[0, 0] for t in np.flatnonzero(both)])
    assert np.median(iou) < 0.3
    assert meta["num_persons"] == 2 and [p["id"] for p in meta["persons"]] == [0, 1]
    doc = json.loads((out / "poses_3d.json").read_text())
    assert [len(t["frames"]) for t in doc["tracks"]] == present.sum(axis=1).tolist()


def test_person_flag_keeps_one_track_with_the_single_person_files(multi_clip, multi_run, tmp_path):
    out = tmp_path / "one"
    assert vis_main(["--video", str(multi_clip), "--multi", "--person", "1", "--max-frames", str(FRAMES),
                     "-o", str(out), "--quiet", "--no-render"]) == 0
    with np.load(out / "poses_3d.npz") as f:
        assert f["poses_3d"].shape == (FRAMES, 17, 3) and "present" not in f.files
    with np.load(multi_run / "keypoints_2d.npz") as all_, np.load(out / "keypoints_2d.npz") as one:
        seen = all_["found"][1]
        np.testing.assert_allclose(one["keypoints"][seen], all_["keypoints"][1][seen])  # the same person


@pytest.mark.parametrize("flags, message", [
    (["--max-persons", "0"], "--max-persons must be between 1 and 100, got 0"),
    (["--person", "7"], "--person 7: no such track"),
    (["--min-track-frames", "-1"], "--min-track-frames must be >= 1"),
])
def test_bad_multi_flags_are_one_line_errors_and_write_nothing(multi_clip, tmp_path, capsys, flags, message):
    out = tmp_path / "out"
    code = vis_main(["--video", str(multi_clip), "--multi", "--max-frames", "12", "-o", str(out), "--quiet",
                     "--min-track-frames", "5"] + flags)
    err = capsys.readouterr().err.strip()
    assert code == 1 and err.startswith("error: ") and message in err and "\n" not in err
    assert not out.exists()


def test_person_with_a_keypoint_file_and_multi_with_a_keypoint_file_are_errors(tmp_path, capsys):
    # without --multi, --person follows one track of a detector that sees several persons; a keypoint file
    # gives one person per frame, so there is nothing to pick
    assert vis_main(["--keypoints", "k.npz", "--size", "640x480", "--person", "0", "-o", str(tmp_path / "a")]) == 1
    assert "drop --person" in capsys.readouterr().err
    assert vis_main(["--keypoints", "k.npz", "--size", "640x480", "--multi", "-o", str(tmp_path / "b")]) == 1
    assert "--multi needs a detector" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_a_video_without_any_person(tmp_path, capsys):
    video = tmp_path / "empty.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 25, (320, 240))
    for i in range(12):
        writer.write(np.full((240, 320, 3), 60 + 10 * i, np.uint8))
    writer.release()
    out = tmp_path / "out"
    assert vis_main(["--video", str(video), "--multi", "-o", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "no person found" in err and "nothing written" in err and not out.exists()


def test_api_tracks_every_person_and_lifts_each(multi_clip):
    from hot_pose.api import PoseLifter, track_2d

    kp, size, fps = track_2d(multi_clip, max_frames=20, min_track_frames=5)
    assert kp.shape == (2, 20, 17, 3) and size == (1088, 1920) and fps == pytest.approx(60)
    lifter = PoseLifter.load()
    for person in kp:
        seen = np.flatnonzero(np.isfinite(person[:, 0, 0]))
        poses = lifter.lift(person[seen[0]:seen[-1] + 1], image_size=size, layout="coco")
        assert poses.shape == (seen[-1] + 1 - seen[0], 17, 3) and np.isfinite(poses).all()
    with pytest.raises(ValueError, match="reads 2-D keypoints from a file, not from a video"):
        track_2d(multi_clip, detector="keypoints", path="none.npz")
