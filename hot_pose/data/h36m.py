"""Human3.6M motion capture in the VideoPose3D npz layout, and the dataset's calibrated cameras.

HoT (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024,
arXiv:2311.12028) trains and tests on Human3.6M (Ionescu et al., TPAMI 2014) as prepared by VideoPose3D
(Pavllo et al., CVPR 2019, arXiv:1811.11742): ``data_3d_h36m.npz`` holds ``positions_3d[subject][action]``
→ (N, 32, 3) world coordinates in metres at 50 Hz. This module reads it, reduces it to the 17-joint
skeleton, and provides the per-subject cameras (shared intrinsics, per-subject extrinsics).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from hot_pose.data.camera import Camera
from hot_pose.data.skeleton import Skeleton, h36m_32_skeleton, h36m_skeleton
from hot_pose.utils.safe_io import UnsafeFileError, load_npz

_logger = logging.getLogger(__name__)

PathLike = Union[str, Path]

#: capture rate of the motion-capture data
FPS = 50
ALL_SUBJECTS = ("S1", "S5", "S6", "S7", "S8", "S9", "S11")
TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")
CAMERA_IDS = ("54138969", "55011271", "58860488", "60457274")
DATA_HELP = "see dataset/README.md (python dataset/prepare_data_h36m.py --source DIR sets up ./dataset/)"


class DataError(RuntimeError):
    """A data file is missing, malformed, or inconsistent with another; the message says what to do."""


#: intrinsics shared by all subjects, cameras 0..3 (pixels); Human3.6M calibration as in VideoPose3D
H36M_INTRINSICS: Tuple[Dict[str, object], ...] = (
    dict(id="54138969", center=(512.54150390625, 515.4514770507812),
         focal_length=(1145.0494384765625, 1143.7811279296875),
         radial_distortion=(-0.20709891617298126, 0.24777518212795258, -0.0030751503072679043),
         tangential_distortion=(-0.0009756988729350269, -0.00142447161488235),
         res_w=1000, res_h=1002, azimuth=70),
    dict(id="55011271", center=(508.8486328125, 508.0649108886719),
         focal_length=(1149.6756591796875, 1147.5916748046875),
         radial_distortion=(-0.1942136287689209, 0.2404085397720337, 0.006819975562393665),
         tangential_distortion=(-0.0016190266469493508, -0.0027408944442868233),
         res_w=1000, res_h=1000, azimuth=-70),
    dict(id="58860488", center=(519.8158569335938, 501.40264892578125),
         focal_length=(1149.1407470703125, 1148.7989501953125),
         radial_distortion=(-0.2083381861448288, 0.25548800826072693, -0.0024604974314570427),
         tangential_distortion=(0.0014843869721516967, -0.0007599993259645998),
         res_w=1000, res_h=1000, azimuth=110),
    dict(id="60457274", center=(514.9682006835938, 501.88201904296875),
         focal_length=(1145.5113525390625, 1144.77392578125),
         radial_distortion=(-0.198384091258049, 0.21832367777824402, -0.008947807364165783),
         tangential_distortion=(-0.0005872055771760643, -0.0018133620033040643),
         res_w=1000, res_h=1002, azimuth=-110),
)

#: per-subject (orientation quaternion (w, x, y, z), camera centre in mm) of cameras 0..3
H36M_EXTRINSICS: Dict[str, Tuple[Tuple[Tuple[float, ...], Tuple[float, ...]], ...]] = {
    "S1": (
        ((0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088),
         (1841.1070556640625, 4955.28466796875, 1563.4454345703125)),
        ((0.6157187819480896, -0.764836311340332, -0.14833825826644897, 0.11794740706682205),
         (1761.278564453125, -5078.0068359375, 1606.2650146484375)),
        ((0.14651472866535187, -0.14647851884365082, 0.7653023600578308, -0.6094175577163696),
         (-1846.7777099609375, 5215.04638671875, 1491.972412109375)),
        ((0.5834008455276489, -0.7853162288665771, 0.14548823237419128, -0.14749594032764435),
         (-1794.7896728515625, -3722.698974609375, 1574.8927001953125)),
    ),
    "S5": (
        ((0.1467377245426178, -0.162370964884758, -0.7551892995834351, 0.6178938746452332),
         (2097.3916015625, 4880.94482421875, 1605.732421875)),
        ((0.6159758567810059, -0.7626792192459106, -0.15728192031383514, 0.1189815029501915),
         (2031.7008056640625, -5167.93310546875, 1612.923095703125)),
        ((0.14291371405124664, -0.12907841801643372, 0.7678384780883789, -0.6110143065452576),
         (-1620.5948486328125, 5171.65869140625, 1496.43701171875)),
        ((0.5920479893684387, -0.7814217805862427, 0.1274748593568802, -0.15036417543888092),
         (-1637.1737060546875, -3867.3173828125, 1547.033203125)),
    ),
    "S6": (
        ((0.1337897777557373, -0.15692396461963654, -0.7571090459823608, 0.6198879480361938),
         (1935.4517822265625, 4950.24560546875, 1618.0838623046875)),
        ((0.6147197484970093, -0.7628812789916992, -0.16174767911434174, 0.11819244921207428),
         (1969.803955078125, -5128.73876953125, 1632.77880859375)),
        ((0.1529948115348816, -0.13529130816459656, 0.7646096348762512, -0.6112781167030334),
         (-1769.596435546875, 5185.361328125, 1476.993408203125)),
        ((0.5916101336479187, -0.7804774045944214, 0.12832270562648773, -0.1561593860387802),
         (-1721.668701171875, -3884.13134765625, 1540.4879150390625)),
    ),
    "S7": (
        ((0.1435241848230362, -0.1631336808204651, -0.7548328638076782, 0.6188824772834778),
         (1974.512939453125, 4926.3544921875, 1597.8326416015625)),
        ((0.6141672730445862, -0.7638262510299683, -0.1596645563840866, 0.1177929937839508),
         (1937.0584716796875, -5119.7900390625, 1631.5665283203125)),
        ((0.14550060033798218, -0.12874816358089447, 0.7660516500473022, -0.6127139329910278),
         (-1741.8111572265625, 5208.24951171875, 1464.8245849609375)),
        ((0.5912848114967346, -0.7821764349937439, 0.12445473670959473, -0.15196487307548523),
         (-1734.7105712890625, -3832.42138671875, 1548.5830078125)),
    ),
    "S8": (
        ((0.14110587537288666, -0.15589867532253265, -0.7561917304992676, 0.619644045829773),
         (2150.65185546875, 4896.1611328125, 1611.9046630859375)),
        ((0.6169601678848267, -0.7647668123245239, -0.14846350252628326, 0.11158157885074615),
         (2219.965576171875, -5148.453125, 1613.0440673828125)),
        ((0.1471444070339203, -0.13377119600772858, 0.7670128345489502, -0.6100369691848755),
         (-1571.2215576171875, 5137.0185546875, 1498.1761474609375)),
        ((0.5927824378013611, -0.7825870513916016, 0.12147816270589828, -0.14631995558738708),
         (-1476.913330078125, -3896.7412109375, 1547.97216796875)),
    ),
    "S9": (
        ((0.15540587902069092, -0.15548215806484222, -0.7532095313072205, 0.6199594736099243),
         (2044.45849609375, 4935.1171875, 1481.2275390625)),
        ((0.618784487247467, -0.7634735107421875, -0.14132238924503326, 0.11933968216180801),
         (1990.959716796875, -5123.810546875, 1568.8048095703125)),
        ((0.13357827067375183, -0.1367100477218628, 0.7689454555511475, -0.6100738644599915),
         (-1670.9921875, 5211.98583984375, 1528.387939453125)),
        ((0.5879399180412292, -0.7823407053947449, 0.1427614390850067, -0.14794869720935822),
         (-1696.04345703125, -3827.099853515625, 1591.4127197265625)),
    ),
    "S11": (
        ((0.15232472121715546, -0.15442320704460144, -0.7547563314437866, 0.6191070079803467),
         (2098.440185546875, 4926.5546875, 1500.278564453125)),
        ((0.6189449429512024, -0.7600917220115662, -0.15300633013248444, 0.1255258321762085),
         (2083.182373046875, -4912.1728515625, 1561.07861328125)),
        ((0.14943228662014008, -0.15650227665901184, 0.7681233882904053, -0.6026304364204407),
         (-1609.8153076171875, 5177.3359375, 1537.896728515625)),
        ((0.5894251465797424, -0.7818877100944519, 0.13991211354732513, -0.14715361595153809),
         (-1590.738037109375, -3854.1689453125, 1578.017578125)),
    ),
}


def h36m_cameras(subject: str) -> Tuple[Camera, ...]:
    """The four calibrated cameras of ``subject`` (translation converted to metres).

    Raises:
        DataError: for a subject without calibration (Human3.6M has S1, S5-S9, S11).
    """
    if subject not in H36M_EXTRINSICS:
        raise DataError(f"no camera calibration for subject '{subject}'; known: {', '.join(H36M_EXTRINSICS)}")
    cams = []
    for intr, (orientation, translation_mm) in zip(H36M_INTRINSICS, H36M_EXTRINSICS[subject]):
        cams.append(Camera(orientation=orientation, translation=tuple(t / 1000.0 for t in translation_mm), **intr))
    return tuple(cams)


def load_npz_dict(path: PathLike, key: str) -> Tuple[dict, Optional[dict]]:
    """Read a pickled dict ``key`` (and ``metadata`` if present) from a VideoPose3D-style npz.

    The pickles are read by ``hot_pose.utils.safe_io.load_npz``: only arrays, containers, strings and numbers.

    Raises:
        DataError: the file is missing, unreadable, has no ``key``, or holds other pickled objects.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file not found: {path}; {DATA_HELP}")
    try:
        arrays = load_npz(path)  # pickled dicts through the restricted unpickler: a data file never runs code
    except UnsafeFileError as exc:
        raise DataError(str(exc)) from None
    except Exception as exc:  # zip/pickle errors of a truncated or foreign file
        raise DataError(f"cannot read {path} ({type(exc).__name__}: {exc}); re-download or rebuild it") from exc
    if key not in arrays:
        raise DataError(f"{path} has no '{key}' array (found {list(arrays)}); "
                        "expected the VideoPose3D npz layout, " + DATA_HELP)
    try:
        data = arrays[key].item()
        metadata = arrays["metadata"].item() if "metadata" in arrays else None
    except ValueError as exc:  # not a 0-d array
        raise DataError(f"cannot read {path} ({type(exc).__name__}: {exc}); re-download or rebuild it") from exc
    if not isinstance(data, Mapping):
        raise DataError(f"{path}: '{key}' is not a dict of subjects; expected the VideoPose3D npz layout")
    return dict(data), metadata


def check_finite(array: np.ndarray, path: PathLike, where: str) -> None:
    """Raise ``DataError`` if ``array`` holds NaN or inf values."""
    if not np.isfinite(array).all():
        bad = int((~np.isfinite(array)).any(axis=tuple(range(1, array.ndim))).sum())
        raise DataError(f"{path}: {where} has NaN/inf values in {bad} frames; the file is corrupt, rebuild it")


class Human36mDataset:
    """World-frame 3-D poses and cameras of Human3.6M, reduced to the 17-joint skeleton.

    Args:
        path: ``data_3d_h36m.npz`` (VideoPose3D layout).
        subjects: subjects to keep (default: all in the file).
        remove_static_joints: reduce 32 → 17 joints (as every model here expects).

    Attributes:
        skeleton: a fresh ``Skeleton`` (17 or 32 joints); never shared between instances.
        fps: 50.
    """

    fps = FPS

    def __init__(self, path: PathLike, subjects: Optional[Iterable[str]] = None,
                 remove_static_joints: bool = True) -> None:
        self.path = Path(path)
        raw, _ = load_npz_dict(self.path, "positions_3d")
        wanted = list(raw) if subjects is None else list(subjects)
        missing = [s for s in wanted if s not in raw]
        if missing:
            raise DataError(f"{self.path} has no 3-D data for subject(s) {', '.join(missing)} "
                            f"(it has {', '.join(raw)})")
        self.skeleton: Skeleton = h36m_skeleton() if remove_static_joints else h36m_32_skeleton()
        kept = list(self.skeleton.kept) if remove_static_joints else None
        self._data: Dict[str, Dict[str, np.ndarray]] = {}
        self._cameras: Dict[str, Tuple[Camera, ...]] = {}
        for subject in wanted:
            actions = {}
            for action, positions in raw[subject].items():
                positions = np.asarray(positions)
                if positions.ndim != 3 or positions.shape[1:] != (32, 3):
                    raise DataError(f"{self.path}: {subject} '{action}' has shape {positions.shape}, "
                                    "expected (N, 32, 3) metres; is this the VideoPose3D data_3d_h36m.npz?")
                check_finite(positions, self.path, f"{subject} '{action}'")
                positions = positions[:, kept] if kept is not None else positions
                actions[action] = np.ascontiguousarray(positions, dtype=np.float32)
            self._data[subject] = actions
            self._cameras[subject] = h36m_cameras(subject)

    @classmethod
    def from_positions(cls, path: PathLike, positions: Mapping[str, Mapping[str, np.ndarray]],
                       cameras: Mapping[str, Tuple[Camera, ...]]) -> "Human36mDataset":
        """A dataset of already-reduced 17-joint world positions (e.g. read from a data pack).

        Args:
            path: where the data came from (for messages).
            positions: ``{subject: {action: (N, 17, 3) float32 world metres}}`` in the order to keep.
            cameras: ``{subject: four Camera}`` for every subject of ``positions``.
        """
        self = cls.__new__(cls)
        self.path = Path(path)
        self.skeleton = h36m_skeleton()
        self._data = {}
        for subject, actions in positions.items():
            for action, pos in actions.items():
                if pos.ndim != 3 or pos.shape[1:] != (17, 3):
                    raise DataError(f"{path}: {subject} '{action}' has shape {pos.shape}, expected (N, 17, 3)")
                check_finite(pos, path, f"{subject} '{action}'")
            self._data[subject] = {a: np.ascontiguousarray(p, dtype=np.float32) for a, p in actions.items()}
        self._cameras = {s: tuple(cameras[s]) for s in positions}
        return self

    def subjects(self) -> List[str]:
        """Subjects present, in file order."""
        return list(self._data)

    def __getitem__(self, subject: str) -> Dict[str, np.ndarray]:
        """``{action: (N, J, 3) world positions in metres}`` of one subject, in file order."""
        return self._data[subject]

    def __contains__(self, subject: str) -> bool:
        return subject in self._data

    def cameras(self, subject: str) -> Tuple[Camera, ...]:
        """The four cameras of ``subject``."""
        return self._cameras[subject]

    def num_frames(self, subjects: Optional[Sequence[str]] = None) -> int:
        """Total number of mocap frames (per camera) of ``subjects`` (default all)."""
        return sum(len(p) for s in (subjects or self.subjects()) for p in self._data[s].values())

    def camera_positions(self, subject: str, action: str, cam_idx: int, dtype: type = np.float32) -> np.ndarray:
        """(N, J, 3) positions of one sequence in the frame of camera ``cam_idx``, metres, in ``dtype``."""
        return self._cameras[subject][cam_idx].world_to_camera(self._data[subject][action].astype(dtype, copy=False))

    def project_gt_2d(self, subject: str, action: str) -> List[np.ndarray]:
        """Ground-truth 2-D of one sequence: four (N, J, 2) float32 pixel arrays, one per camera."""
        out = []
        for cam_idx, cam in enumerate(self._cameras[subject]):
            pos = self.camera_positions(subject, action, cam_idx, dtype=np.float64)
            out.append(cam.project(pos).astype(np.float32))
        return out


def build_gt_2d(path_3d: PathLike, out_path: PathLike, subjects: Optional[Iterable[str]] = None,
                compress: bool = False) -> Dict[str, int]:
    """Write ``data_2d_h36m_gt.npz``: the 17 joints of ``path_3d`` projected by the four calibrated cameras
    with radial and tangential distortion, in pixels (VideoPose3D's ground-truth 2-D file).

    The file is written to a temporary name beside ``out_path`` and renamed, so an interrupted run never
    leaves a truncated file. Layout: ``positions_2d[subject][action]`` = list of four (N, 17, 2) float32
    arrays; ``metadata`` = ``{"layout_name": "h36m", "num_joints": 17, "keypoints_symmetry": [left, right]}``.

    Returns:
        ``{subject: frames per camera}`` of what was written.
    """
    mocap = Human36mDataset(path_3d, subjects=subjects)
    out_path = Path(out_path)
    positions_2d = {s: {a: mocap.project_gt_2d(s, a) for a in mocap[s]} for s in mocap.subjects()}
    skeleton = mocap.skeleton
    metadata = {"layout_name": "h36m", "num_joints": skeleton.num_joints,
                "keypoints_symmetry": [list(skeleton.joints_left), list(skeleton.joints_right)]}
    tmp = out_path.with_name(f"{out_path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            (np.savez_compressed if compress else np.savez)(fh, positions_2d=positions_2d, metadata=metadata)
        os.replace(tmp, out_path)
    finally:
        if tmp.exists():
            tmp.unlink()
    counts = {s: mocap.num_frames([s]) for s in mocap.subjects()}
    _logger.info("wrote %s: %d sequences, %d frames per camera", out_path,
                 sum(len(v) for v in positions_2d.values()), sum(counts.values()))
    return counts


#: the 15 Human3.6M actions, in the order of the paper tables
ACTIONS = ("Directions", "Discussion", "Eating", "Greeting", "Phoning", "Photo", "Posing", "Purchases",
           "Sitting", "SittingDown", "Smoking", "Waiting", "WalkDog", "Walking", "WalkTogether")


def canonical_action(name: str) -> str:
    """Action of a sequence name: the text before the first space ("SittingDown 1" → "SittingDown")."""
    return name.split(" ", 1)[0]


def parse_actions(actions: Union[None, str, Iterable[str]]) -> Optional[List[str]]:
    """Resolve an action filter to canonical names (``None``/"*"/"all" → ``None`` = every action).

    Accepts a comma-separated string or a sequence; each item must be one of ``ACTIONS`` (exact match).

    Raises:
        ValueError: for an unknown action, naming the valid ones.
    """
    if actions is None:
        return None
    items = actions.split(",") if isinstance(actions, str) else list(actions)
    items = [a.strip() for a in items if a.strip()]
    if not items or items == ["*"] or [a.lower() for a in items] == ["all"]:
        return None
    unknown = [a for a in items if a not in ACTIONS]
    if unknown:
        raise ValueError(f"unknown action(s) {', '.join(unknown)}; valid: {', '.join(ACTIONS)}")
    return list(dict.fromkeys(items))
