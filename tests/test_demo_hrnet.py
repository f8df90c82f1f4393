"""The ``hrnet`` detector (YOLOv3 + HRNet-W48) on randomly initialised weights written in the public file
formats: full-size architectures checked on the meta device, small widths for file round trips and a run
of the whole demo pipeline."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from hot_pose.wild.detectors.hrnet import HRNetDetector, PoseHRNet, heatmap_peaks, load_hrnet
from hot_pose.wild.detectors.yolov3 import (
    YOLOv3,
    darknet_float_count,
    letterbox,
    load_darknet_weights,
    write_darknet_weights,
)
from hot_pose.wild.errors import DemoError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: float32 values in the public yolov3.weights (248,007,048 bytes − 20-byte header, / 4)
YOLOV3_WEIGHTS_FLOATS = 62_001_757


def test_yolov3_full_size_matches_the_darknet_file():
    with torch.device("meta"):
        model = YOLOv3()
    assert len(model.spec) == 107  # layers of yolov3.cfg
    assert [i for i, e in enumerate(model.spec) if e[0] == "yolo"] == [82, 94, 106]
    assert darknet_float_count(model) == YOLOV3_WEIGHTS_FLOATS


def test_darknet_round_trip_and_size_check(tmp_path):
    torch.manual_seed(0)
    model = YOLOv3(width=0.0625).eval()
    for m in model.modules():  # non-trivial BN statistics so the order of the four BN vectors matters
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    write_darknet_weights(model, tmp_path / "y.weights", seen=12345)
    clone = YOLOv3(width=0.0625).eval()
    load_darknet_weights(clone, tmp_path / "y.weights")
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(clone(x), model(x))
    assert model(x).shape == (1, 3 * (2 * 2 + 4 * 4 + 8 * 8), 85)
    with pytest.raises(DemoError, match="not a yolov3.weights"):
        load_darknet_weights(YOLOv3(width=0.125), tmp_path / "y.weights")


def test_letterbox_keeps_aspect():
    image, scale, (pad_x, pad_y) = letterbox(np.zeros((100, 200, 3), np.uint8), 416)
    assert image.shape == (3, 416, 416) and scale == pytest.approx(2.08) and pad_x == 0 and pad_y == 104
    assert image[:, 0, 0] == pytest.approx(128 / 255)


def test_hrnet_w48_keys_match_the_public_checkpoint_layout():
    with torch.device("meta"):
        model = PoseHRNet()
    state = model.state_dict()
    params = sum(p.numel() for p in model.parameters())
    assert 63.5e6 < params < 63.7e6  # HRNet-W48: 63.6 M parameters
    for key, shape in {
        "conv1.weight": (64, 3, 3, 3),
        "layer1.0.downsample.0.weight": (256, 64, 1, 1),
        "transition1.0.0.weight": (48, 256, 3, 3),
        "transition1.1.0.0.weight": (96, 256, 3, 3),
        "transition2.2.0.0.weight": (192, 96, 3, 3),
        "transition3.3.0.0.weight": (384, 192, 3, 3),
        "stage2.0.branches.1.3.conv2.weight": (96, 96, 3, 3),
        "stage2.0.fuse_layers.0.1.0.weight": (48, 96, 1, 1),
        "stage3.3.fuse_layers.2.0.1.0.weight": (192, 48, 3, 3),
        "stage4.2.fuse_layers.0.3.1.running_var": (48,),
        "final_layer.weight": (17, 48, 1, 1),
    }.items():
        assert tuple(state[key].shape) == shape, key
    assert not any(k.startswith("stage4.2.fuse_layers.1") for k in state)  # last module: single-scale output
    assert len(model.stage2) == 1 and len(model.stage3) == 4 and len(model.stage4) == 3


def test_hrnet_weight_file_round_trip(tmp_path):
    torch.manual_seed(0)
    model = PoseHRNet(width=8).eval()
    state = {f"module.{k}": v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "h.pth")  # DataParallel prefix, no BN counters: both accepted
    clone = load_hrnet(tmp_path / "h.pth", width=8)
    x = torch.randn(1, 3, 64, 32)  # sides divisible by 32 (four branches)
    with torch.no_grad():
        torch.testing.assert_close(clone(x), model(x))
        assert model(x).shape == (1, 17, 16, 8)
    with pytest.raises(DemoError, match="pose_hrnet_w48"):
        load_hrnet(tmp_path / "h.pth", width=16)


def test_heatmap_peaks_quarter_offset():
    hm = np.zeros((1, 10, 10), np.float32)
    hm[0, 4, 5], hm[0, 4, 6], hm[0, 5, 5] = 1.0, 0.5, 0.2
    coords, maxvals = heatmap_peaks(hm)
    np.testing.assert_allclose(coords[0], [5.25, 4.25])
    assert maxvals[0] == 1.0


def _person_everywhere(model: YOLOv3) -> None:
    """Zero the detection heads except biases that say "person, sure" for every anchor of the coarse scale."""
    heads = [block for block, entry in zip(model.layers, model.spec) if entry[0] == "conv" and not entry[4]]
    for i, block in enumerate(heads):
        with torch.no_grad():
            block.conv.weight.zero_()
            bias = block.conv.bias.view(3, 85)
            bias.zero_()
            bias[:, 4] = 8.0 if i == 0 else -8.0  # objectness
            bias[:, 5] = 8.0  # class 0 = person


@pytest.fixture(scope="module")
def random_hrnet_weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hrnet_weights")
    torch.manual_seed(0)
    yolo = YOLOv3(width=0.0625)
    _person_everywhere(yolo)
    write_darknet_weights(yolo, folder / "yolov3.weights")
    torch.save(PoseHRNet(width=8).state_dict(), folder / "pose_hrnet_w48_384x288.pth")
    return folder


def test_hrnet_detector_on_random_weights(random_hrnet_weights, video_dir):
    from hot_pose.wild.video import iter_frames

    folder = random_hrnet_weights
    detector = HRNetDetector(folder / "yolov3.weights", folder / "pose_hrnet_w48_384x288.pth",
                             yolo_width=0.0625, hrnet_width=8, input_size=(96, 128))
    det = detector(iter_frames(video_dir / "walkway_cam03.mp4", max_frames=3))
    assert det.keypoints.shape == (3, 17, 2) and det.found.all() and det.boxes.shape == (3, 4)
    assert np.isfinite(det.keypoints).all() and ((det.scores >= 0) & (det.scores <= 1)).all()


def test_pipeline_runs_the_hrnet_path(random_hrnet_weights, video_dir, tmp_path):
    from hot_pose.models import build_model
    from hot_pose.wild.pipeline import DemoOptions, run_demo

    args = dict(model="mixste.mixste", frames=9, channel=16, depth=1)
    torch.save({"model": build_model(args["model"], args).state_dict(), "args": args}, tmp_path / "lift.pth")
    result = run_demo(DemoOptions(
        video=str(video_dir / "walkway_cam03.mp4"), output=str(tmp_path / "out"), detector="hrnet",
        yolo_weights=str(random_hrnet_weights / "yolov3.weights"),
        hrnet_weights=str(random_hrnet_weights / "pose_hrnet_w48_384x288.pth"),
        detector_options=dict(yolo_width=0.0625, hrnet_width=8, input_size=(96, 128)),
        checkpoint=str(tmp_path / "lift.pth"), max_frames=4, render=False, progress=False, device="cpu",
    ))
    assert result.num_frames == 4 and result.poses_3d.shape == (4, 17, 3)
    with np.load(tmp_path / "out" / "keypoints_2d.npz") as f:
        assert f["boxes"].shape == (4, 4) and str(f["detector"]) == "hrnet"


def test_hrnet_finds_a_person_per_box_and_runs_the_multi_person_path(random_hrnet_weights, video_dir, tmp_path):
    from hot_pose.wild.pipeline import DemoOptions, run_demo
    from hot_pose.wild.video import iter_frames

    folder = random_hrnet_weights
    detector = HRNetDetector(folder / "yolov3.weights", folder / "pose_hrnet_w48_384x288.pth",
                             yolo_width=0.0625, hrnet_width=8, input_size=(96, 128))
    frame = next(iter_frames(video_dir / "walkway_cam03.mp4", max_frames=1))
    boxes, _ = detector.person(frame)
    persons = detector.detect_persons(frame)
    assert len(persons) == min(len(boxes), detector.max_boxes) >= 2  # "person everywhere": several boxes
    for person, box in zip(persons, boxes):
        assert person.keypoints.shape == (17, 2) and person.scores.shape == (17,)
        np.testing.assert_array_equal(person.box, box)
    result = run_demo(DemoOptions(
        video=str(video_dir / "walkway_cam03.mp4"), output=str(tmp_path / "out"), detector="hrnet",
        yolo_weights=str(folder / "yolov3.weights"), hrnet_weights=str(folder / "pose_hrnet_w48_384x288.pth"),
        detector_options=dict(yolo_width=0.0625, hrnet_width=8, input_size=(96, 128)), max_frames=4,
        render=False, progress=False, device="cpu", multi=True, max_persons=3, min_track_frames=2,
    ))
    assert result.persons is not None and 2 <= len(result.persons.ids) <= 3
    assert result.persons.poses_3d.shape == (len(result.persons.ids), 4, 17, 3)
