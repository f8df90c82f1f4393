"""Rendering of the HoT demo: 2-D skeleton on the frame beside a 3-D skeleton view, streamed to an mp4.

HoT: Li et al., CVPR 2024 (arXiv:2311.12028). The 3-D view follows the reference demo:
the camera-frame pose is rotated by the Human3.6M S1 camera orientation, lifted so its lowest joint touches
the ground, and shown at elevation 15°, azimuth 70°, ±0.72 m around the root. Unlike the reference, one
matplotlib figure (Agg, no pyplot) is reused for every frame and closed at the end, so memory stays flat.
"""
from __future__ import annotations

import logging
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from hot_pose.data.camera import camera_to_world
from hot_pose.data.skeleton import h36m_skeleton

_logger = logging.getLogger(__name__)

#: orientation (w, x, y, z) used to show camera-frame poses upright (Human3.6M S1, camera 0; as the reference)
VIEW_ROTATION = np.array([0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088])
#: BGR colours of left, right and centre bones in the 2-D overlay (the reference's tuples)
COLOURS_BGR = {"left": (138, 201, 38), "right": (25, 130, 196), "centre": (255, 202, 58)}
RADIUS = 0.72  # metres shown around the root


def bones_and_sides() -> Tuple[Tuple[Tuple[int, int], ...], Tuple[str, ...]]:
    """The 16 (parent, child) bones of the H36M-17 skeleton and each bone's side ("left"/"right"/"centre")."""
    skeleton = h36m_skeleton()
    bones, sides = [], []
    for child, parent in enumerate(skeleton.parents):
        if parent < 0:
            continue
        bones.append((parent, child))
        side = "left" if child in skeleton.joints_left else "right" if child in skeleton.joints_right else "centre"
        sides.append(side)
    return tuple(bones), tuple(sides)


BONES, BONE_SIDES = bones_and_sides()


def draw_skeleton_2d(frame: np.ndarray, keypoints: np.ndarray, detected: bool = True) -> np.ndarray:
    """Draw H36M-17 keypoints (17, 2) pixels on a copy of a BGR frame; grey and labelled when interpolated."""
    out = frame.copy()
    thickness = max(2, int(round(frame.shape[0] / 300)))
    for (a, b), side in zip(BONES, BONE_SIDES):
        colour = COLOURS_BGR[side] if detected else (160, 160, 160)
        pa, pb = tuple(int(v) for v in keypoints[a]), tuple(int(v) for v in keypoints[b])
        cv2.line(out, pa, pb, colour, thickness, cv2.LINE_AA)
    for point in keypoints:
        cv2.circle(out, tuple(int(v) for v in point), thickness + 1, (0, 0, 255) if detected else (160, 160, 160),
                   -1, cv2.LINE_AA)
    if not detected:
        _label(out, "no detection: interpolated", (10, out.shape[0] - 15), (0, 0, 255))
    return out


def _label(image: np.ndarray, text: str, origin: Tuple[int, int], colour=(0, 0, 0),
           scale: Optional[float] = None) -> None:
    scale = scale or max(0.5, image.shape[0] / 1000)
    thick = max(1, int(round(scale * 2)))
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick + 2, cv2.LINE_AA)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)


class Pose3DView:
    """A reusable matplotlib (Agg) 3-D skeleton view rendered to BGR images.

    Args:
        size: output image side in pixels (square).
        title: text drawn above the view.
        fix_z: fixed vertical range [0, 1.5] m instead of ±``RADIUS`` around the root.
    """

    def __init__(self, size: int = 540, title: str = "", fix_z: bool = False) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        dpi = 100
        self.size = int(size)
        self.fix_z = fix_z
        self.figure = Figure(figsize=(self.size / dpi, self.size / dpi), dpi=dpi)
        self.canvas = FigureCanvasAgg(self.figure)
        self.ax = self.figure.add_axes((0, 0, 1, 0.94), projection="3d")
        self.ax.view_init(elev=15.0, azim=70.0)
        rgb = {k: tuple(c / 255 for c in v[::-1]) for k, v in COLOURS_BGR.items()}
        self.lines = [self.ax.plot([0, 0], [0, 0], [0, 0], lw=3, color=rgb[s], solid_capstyle="round")[0]
                      for s in BONE_SIDES]
        self.ax.set_box_aspect((1, 1, 1))
        for axis in (self.ax.xaxis, self.ax.yaxis, self.ax.zaxis):
            axis.set_ticklabels([])
            axis.set_pane_color((1.0, 1.0, 1.0, 1.0))
        self.figure.suptitle(title, fontsize=11, y=0.99)

    def render(self, pose: np.ndarray) -> np.ndarray:
        """(17, 3) root-relative camera-frame pose in metres → (size, size, 3) BGR uint8 image."""
        world = camera_to_world(np.asarray(pose, np.float64), VIEW_ROTATION, np.zeros(3))
        world[:, 2] -= world[:, 2].min()
        for line, (a, b) in zip(self.lines, BONES):
            line.set_data_3d([world[a, 0], world[b, 0]], [world[a, 1], world[b, 1]], [world[a, 2], world[b, 2]])
        root = world[0]
        self.ax.set_xlim3d(root[0] - RADIUS, root[0] + RADIUS)
        self.ax.set_ylim3d(root[1] - RADIUS, root[1] + RADIUS)
        self.ax.set_zlim3d(*((0.0, 1.5) if self.fix_z else (root[2] - RADIUS, root[2] + RADIUS)))
        self.canvas.draw()
        rgba = np.asarray(self.canvas.buffer_rgba())
        return cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR)

    def close(self) -> None:
        """Release the figure."""
        self.figure.clear()
        self.canvas = None


def panel_height(frame_height: int, max_height: int = 720) -> int:
    """Height of the side-by-side output (even, at most ``max_height``)."""
    return int(min(frame_height, max_height)) // 2 * 2


class SideBySideRenderer:
    """Input with 2-D skeleton | 3-D view, one output frame per input frame.

    Args:
        frame_size: input (width, height).
        title: 3-D view title (model name, warnings).
        fix_z: see ``Pose3DView``.
        max_height: output height cap (input frames are scaled down to it).
    """

    def __init__(self, frame_size: Tuple[int, int], title: str = "", fix_z: bool = False,
                 max_height: int = 720) -> None:
        width, height = frame_size
        self.height = panel_height(height, max_height)
        self.left_width = max(2, int(round(width * self.height / height)) // 2 * 2)
        self.view = Pose3DView(self.height, title, fix_z)

    @property
    def size(self) -> Tuple[int, int]:
        """Output (width, height)."""
        return self.left_width + self.height, self.height

    def render(self, frame: np.ndarray, keypoints_2d: np.ndarray, pose_3d: np.ndarray, detected: bool,
               index: Optional[int] = None) -> np.ndarray:
        """One output frame (BGR) from an input frame, its H36M 2-D keypoints (pixels) and 3-D pose."""
        left = draw_skeleton_2d(frame, keypoints_2d, detected)
        left = cv2.resize(left, (self.left_width, self.height), interpolation=cv2.INTER_AREA)
        if index is not None:
            _label(left, f"frame {index}", (10, 30))
        return np.concatenate([left, self.view.render(pose_3d)], axis=1)

    def close(self) -> None:
        """Close the 3-D figure."""
        self.view.close()


#: BGR colour of each track id (cycled): distinct hues, readable on video
TRACK_COLOURS_BGR = ((58, 202, 255), (196, 130, 25), (38, 201, 138), (180, 80, 230), (40, 60, 230),
                     (200, 200, 40), (120, 120, 255), (60, 160, 60))
#: metres between the persons placed side by side in the 3-D view
PERSON_SPACING = 1.2


def track_colour(track_id: int) -> Tuple[int, int, int]:
    """BGR colour of a track id."""
    return TRACK_COLOURS_BGR[int(track_id) % len(TRACK_COLOURS_BGR)]


def draw_person_2d(image: np.ndarray, keypoints: np.ndarray, track_id: int, detected: bool = True) -> None:
    """Draw one person's H36M-17 keypoints (17, 2) pixels in place, in its track colour (left limbs lighter),
    with its id above the head; dashed-looking thin lines where the frame is a filled gap."""
    colour = track_colour(track_id)
    light = tuple(min(255, int(c * 0.5 + 128)) for c in colour)
    thickness = max(2, int(round(image.shape[0] / 300))) if detected else max(1, int(round(image.shape[0] / 600)))
    for (a, b), side in zip(BONES, BONE_SIDES):
        pa, pb = tuple(int(v) for v in keypoints[a]), tuple(int(v) for v in keypoints[b])
        cv2.line(image, pa, pb, light if side == "left" else colour, thickness, cv2.LINE_AA)
    top = keypoints[np.argmin(keypoints[:, 1])]
    _label(image, f"#{track_id}" + ("" if detected else " (gap)"), (int(top[0]) - 20, max(int(top[1]) - 15, 20)),
           colour)


class MultiPersonRenderer:
    """Input with every person's 2-D skeleton (a colour and id per track) | 3-D view of all persons.

    In the 3-D view each person is shown root-relative, placed side by side at a fixed slot per track id
    (``PERSON_SPACING`` metres apart, id 0 leftmost), so a person keeps its place when people cross; the lifter
    gives no distance between persons, so their 3-D placement is not their true relative position.

    Args:
        frame_size: input (width, height).
        num_tracks: P.
        title: 3-D view title.
        max_height: output height cap.
    """

    def __init__(self, frame_size: Tuple[int, int], num_tracks: int, title: str = "", max_height: int = 720) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        width, height = frame_size
        self.height = panel_height(height, max_height)
        self.left_width = max(2, int(round(width * self.height / height)) // 2 * 2)
        self.num_tracks = int(num_tracks)
        dpi = 100
        self.figure = Figure(figsize=(self.height / dpi, self.height / dpi), dpi=dpi)
        self.canvas = FigureCanvasAgg(self.figure)
        self.ax = self.figure.add_axes((0, 0, 1, 0.94), projection="3d")
        self.ax.view_init(elev=15.0, azim=70.0)
        self.lines = []
        for p in range(self.num_tracks):
            rgb = tuple(c / 255 for c in track_colour(p)[::-1])
            self.lines.append([self.ax.plot([0, 0], [0, 0], [0, 0], lw=2.5, color=rgb)[0] for _ in BONES])
        self.ax.set_box_aspect((1, 1, 1))
        for axis in (self.ax.xaxis, self.ax.yaxis, self.ax.zaxis):
            axis.set_ticklabels([])
            axis.set_pane_color((1.0, 1.0, 1.0, 1.0))
        self.figure.suptitle(title, fontsize=11, y=0.99)
        self.half = RADIUS + PERSON_SPACING * (self.num_tracks - 1) / 2

    @property
    def size(self) -> Tuple[int, int]:
        """Output (width, height)."""
        return self.left_width + self.height, self.height

    def _slot(self, p: int) -> np.ndarray:
        """World offset of track slot ``p`` (persons side by side along the view's horizontal axis)."""
        across = (p - (self.num_tracks - 1) / 2) * PERSON_SPACING
        return np.array([-across * np.cos(np.radians(-20.0)), -across * np.sin(np.radians(-20.0)), 0.0])

    def render(self, frame: np.ndarray, keypoints_2d: np.ndarray, poses_3d: np.ndarray, present: np.ndarray,
               found: np.ndarray, ids: Sequence[int], index: Optional[int] = None) -> np.ndarray:
        """One output frame from an input frame and every track's (P, 17, 2) pixels, (P, 17, 3) poses, (P,)
        presence and detection flags."""
        left = frame.copy()
        for p in range(self.num_tracks):
            if present[p]:
                draw_person_2d(left, keypoints_2d[p], int(ids[p]), bool(found[p]))
        left = cv2.resize(left, (self.left_width, self.height), interpolation=cv2.INTER_AREA)
        if index is not None:
            _label(left, f"frame {index}   persons {int(np.sum(present))}", (10, 30))
        for p in range(self.num_tracks):
            world = None
            if present[p]:
                world = camera_to_world(np.asarray(poses_3d[p], np.float64), VIEW_ROTATION, np.zeros(3))
                world[:, 2] -= world[:, 2].min()
                world[:, :2] -= world[0, :2]
                world += self._slot(p)
            for line, (a, b) in zip(self.lines[p], BONES):
                if world is None:
                    line.set_data_3d([], [], [])
                else:
                    line.set_data_3d([world[a, 0], world[b, 0]], [world[a, 1], world[b, 1]],
                                     [world[a, 2], world[b, 2]])
        self.ax.set_xlim3d(-self.half, self.half)
        self.ax.set_ylim3d(-self.half, self.half)
        self.ax.set_zlim3d(0.0, 2 * self.half)
        self.canvas.draw()
        view = cv2.cvtColor(np.asarray(self.canvas.buffer_rgba()), cv2.COLOR_RGBA2BGR)
        return np.concatenate([left, view], axis=1)

    def close(self) -> None:
        """Release the figure."""
        self.figure.clear()
        self.canvas = None


def limb_colours(sides: Sequence[str]) -> Sequence[Tuple[int, int, int]]:
    """BGR colour of each bone side (helper for custom drawings)."""
    return [COLOURS_BGR[s] for s in sides]
