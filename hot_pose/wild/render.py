"""Rendering of the HoT demo: 2-D skeleton on the frame beside a 3-D skeleton view, streamed to an mp4.

HoT: Li et al., CVPR 2024 (arXiv:2311.12028). The 3-D view follows the reference demo:
the camera-frame pose is rotated by the Human3.6M S1 camera orientation, lifted so its lowest joint touches
the ground, and shown at elevation 15°, azimuth 70°, ±0.72 m around the root.

Speed (the demo renders as fast as its detector detects, ``docs/demo.md``): the reference drew every frame with
matplotlib (~30 ms per frame here). Now matplotlib (Agg, no pyplot) draws the view's static part once — panes,
grid, title — and hands over its own projection (``Axes3D.get_proj`` and the axes' pixel transform); each frame
copies that background and draws the bones with OpenCV (anti-aliased, round caps, in matplotlib's drawing order)
at the pixels matplotlib would use, in well under a millisecond. The root is kept at the centre of fixed axis
limits (the reference moved the limits with the root instead: the skeleton lands on the same pixels, but the
reference's grid lines slid with the pelvis height while these stay put). The frame side is shrunk to the output
height first (``left_panel``: the part of the output that depends on the frame alone, which
``hot_pose.wild.stages`` prepares while the detector runs) and the 2-D skeleton is drawn on the shrunk panel.

Several persons with their motion capture (``hot_pose.mocap``: one world frame, z up, floor at z = 0): the view
shows everybody where they are on one floor grid (1 m squares, seen from behind the camera), each with a trail
of its last ``TRAIL_SECONDS`` of root positions on the floor; every frame's pixels are projected once up front.
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
#: the 3-D view's camera (degrees), as the reference demo
ELEVATION, AZIMUTH = 15.0, 70.0
#: dots per inch of the 3-D view's figure (line widths in points → pixels)
DPI = 100
#: sub-pixel bits of the OpenCV drawing (coordinates in 1/16 px)
_SHIFT = 4
#: the world view's camera (degrees): from behind and above the filming camera, a little to its left
WORLD_ELEVATION, WORLD_AZIMUTH = 28.0, -110.0
#: seconds of root positions drawn as a trail on the floor of the world view
TRAIL_SECONDS = 2.0
#: grey of the floor pane in the world view (RGB, 0-1)
FLOOR_RGB = (0.90, 0.90, 0.90)


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


def _points(points: np.ndarray) -> list:
    """(N, 2) pixel positions (x, y) → OpenCV's fixed-point integer pairs (``_SHIFT`` fractional bits), clipped far
    outside the image."""
    fixed = np.clip(np.nan_to_num(np.asarray(points, np.float64)) * (1 << _SHIFT), -(1 << 26), 1 << 26)
    return [tuple(p) for p in np.rint(fixed).astype(np.int64).tolist()]


def draw_skeleton_2d(frame: np.ndarray, keypoints: np.ndarray, detected: bool = True) -> np.ndarray:
    """Draw H36M-17 keypoints (17, 2) pixels on a copy of a BGR frame; grey and labelled when interpolated."""
    out = frame.copy()
    thickness = max(2, int(round(frame.shape[0] / 300)))
    points = _points(keypoints)
    for (a, b), side in zip(BONES, BONE_SIDES):
        colour = COLOURS_BGR[side] if detected else (160, 160, 160)
        cv2.line(out, points[a], points[b], colour, thickness, cv2.LINE_AA, _SHIFT)
    for point in points:
        cv2.circle(out, point, (thickness + 1) << _SHIFT, (0, 0, 255) if detected else (160, 160, 160), -1,
                   cv2.LINE_AA, _SHIFT)
    if not detected:
        _label(out, "no detection: interpolated", (10, out.shape[0] - 15), (0, 0, 255))
    return out


def _label(image: np.ndarray, text: str, origin: Tuple[int, int], colour=(0, 0, 0),
           scale: Optional[float] = None) -> None:
    scale = scale or max(0.5, image.shape[0] / 1000)
    thick = max(1, int(round(scale * 2)))
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick + 2, cv2.LINE_AA)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)


def line_pixels(points: float) -> int:
    """A matplotlib line width in points → OpenCV thickness in pixels at ``DPI`` (at least 1)."""
    return max(1, int(round(points * DPI / 72)))


class SkeletonCanvas3D:
    """A fixed 3-D view: matplotlib (Agg) renders its static part once, OpenCV draws skeletons into copies of it.

    The figure is the reference demo's (square, axes at (0, 0, 1, 0.94), elevation ``ELEVATION``, azimuth
    ``AZIMUTH``, cube box, white panes, grid without tick labels, the title above). After the one
    ``canvas.draw()`` its projection (``Axes3D.get_proj()``, 4 × 4, world → projection plane) and the axes' affine
    pixel transform are kept; ``project`` applies both, so a bone lands where matplotlib would draw it.

    Args:
        size: image side in pixels (square).
        title: text drawn above the view.
        limits: ((x0, x1), (y0, y1), (z0, z1)) world metres shown.
        elevation, azimuth: the view's camera in degrees (default the reference's ``ELEVATION``, ``AZIMUTH``).
        grid_step: metres between the grid lines (default: matplotlib's ticks).
        floor_rgb: colour of the bottom (z = z0) pane, the floor (default white as the others).
    """

    def __init__(self, size: int, title: str, limits: Sequence[Tuple[float, float]], elevation: float = ELEVATION,
                 azimuth: float = AZIMUTH, grid_step: Optional[float] = None,
                 floor_rgb: Optional[Tuple[float, float, float]] = None) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.size = int(size)
        figure = Figure(figsize=(self.size / DPI, self.size / DPI), dpi=DPI)
        canvas = FigureCanvasAgg(figure)
        ax = figure.add_axes((0, 0, 1, 0.94), projection="3d")
        ax.view_init(elev=elevation, azim=azimuth)
        ax.set_box_aspect((1, 1, 1))
        (x0, x1), (y0, y1), (z0, z1) = limits
        if grid_step:
            for setter, (lo, hi) in ((ax.set_xticks, (x0, x1)), (ax.set_yticks, (y0, y1)), (ax.set_zticks, (z0, z1))):
                setter(np.arange(np.ceil(lo / grid_step), np.floor(hi / grid_step) + 1) * grid_step)
        for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
            axis.set_ticklabels([])
            axis.set_pane_color((1.0, 1.0, 1.0, 1.0))
        if floor_rgb is not None:
            ax.zaxis.set_pane_color((*floor_rgb, 1.0))  # the pane of the z axis is the x-y plane: the floor
        figure.suptitle(title, fontsize=11, y=0.99)
        ax.set_xlim3d(x0, x1)
        ax.set_ylim3d(y0, y1)
        ax.set_zlim3d(z0, z1)
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba())
        if rgba.shape[:2] != (self.size, self.size):
            raise ValueError(f"the 3-D view rendered {rgba.shape[1]}x{rgba.shape[0]} pixels, expected {self.size}")
        self.background = cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR)  # (size, size, 3) uint8
        self.background.flags.writeable = False
        self.projection = np.array(ax.get_proj(), np.float64)  # (4, 4) homogeneous world → projection plane
        to_display = ax.transData
        if not to_display.is_affine:
            raise ValueError("the 3-D axes' pixel transform is not affine")
        self.to_display = np.array(to_display.get_matrix(), np.float64)  # (3, 3) plane → display pixels
        figure.clear()

    def project(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) world metres → (N, 2) image pixels (x right, y down; pixel centres at integers)."""
        points = np.asarray(points, np.float64)
        homogeneous = np.concatenate([points, np.ones((len(points), 1))], axis=1) @ self.projection.T
        plane = homogeneous[:, :2] / homogeneous[:, 3:4]
        display = np.concatenate([plane, np.ones((len(plane), 1))], axis=1) @ self.to_display.T
        # display pixels count from the bottom-left corner of the image; OpenCV's from the top-left pixel's centre
        return np.stack([display[:, 0] - 0.5, self.size - display[:, 1] - 0.5], axis=1)

    def draw(self, image: np.ndarray, world: np.ndarray, colours: Sequence[Tuple[int, int, int]],
             thickness: int) -> None:
        """Draw the 16 bones of one (17, 3) world-metre skeleton into ``image`` (in place), in ``BONES`` order
        (matplotlib draws lines of one z-order in the order they were added)."""
        self.draw_pixels(image, self.project(world), colours, thickness)

    @staticmethod
    def draw_pixels(image: np.ndarray, pixels: np.ndarray, colours: Sequence[Tuple[int, int, int]],
                    thickness: int) -> None:
        """``draw`` for a skeleton projected already: (17, 2) image pixels (``project``)."""
        points = _points(pixels)
        for (a, b), colour in zip(BONES, colours):
            cv2.line(image, points[a], points[b], colour, thickness, cv2.LINE_AA, _SHIFT)


def view_world(pose: np.ndarray) -> np.ndarray:
    """(17, 3) root-relative camera-frame metres → the 3-D view's world frame, lowest joint at height 0."""
    world = camera_to_world(np.asarray(pose, np.float64), VIEW_ROTATION, np.zeros(3))
    world[:, 2] -= world[:, 2].min()
    return world


class Pose3DView:
    """The single-person 3-D skeleton view rendered to BGR images (see the module docstring).

    Args:
        size: output image side in pixels (square).
        title: text drawn above the view.
        fix_z: fixed vertical range [0, 1.5] m instead of ±``RADIUS`` around the root.
    """

    #: bone width in points (the reference's ``lw=3``)
    LINE_WIDTH = 3.0

    def __init__(self, size: int = 540, title: str = "", fix_z: bool = False) -> None:
        self.size = int(size)
        self.fix_z = fix_z
        z = (0.0, 1.5) if fix_z else (-RADIUS, RADIUS)
        self.canvas: Optional[SkeletonCanvas3D] = SkeletonCanvas3D(self.size, title, ((-RADIUS, RADIUS),
                                                                                     (-RADIUS, RADIUS), z))
        self.colours = [COLOURS_BGR[s] for s in BONE_SIDES]
        self.thickness = line_pixels(self.LINE_WIDTH)

    def render(self, pose: np.ndarray) -> np.ndarray:
        """(17, 3) root-relative camera-frame pose in metres → (size, size, 3) BGR uint8 image."""
        world = view_world(pose)
        world[:, :2] -= world[0, :2]  # the root at the centre (the reference's limits: root ± RADIUS)
        if not self.fix_z:
            world[:, 2] -= world[0, 2]
        image = self.canvas.background.copy()
        self.canvas.draw(image, world, self.colours, self.thickness)
        return image

    def close(self) -> None:
        """Release the background."""
        self.canvas = None


def panel_height(frame_height: int, max_height: int = 720) -> int:
    """Height of the side-by-side output (even, at most ``max_height``)."""
    return int(min(frame_height, max_height)) // 2 * 2


def left_panel_size(frame_size: Tuple[int, int], max_height: int = 720) -> Tuple[int, int]:
    """(width, height) of the output's frame side for input frames of ``frame_size`` (width, height)."""
    width, height = frame_size
    panel = panel_height(height, max_height)
    return max(2, int(round(width * panel / height)) // 2 * 2), panel


def left_panel(frame: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """A BGR frame shrunk (or stretched) to the output's frame side ``size`` (width, height); the frame itself
    when it has that size already (callers draw on copies).

    Shrinking halves the frame with ``INTER_AREA``'s exact 2 × 2 average (its fast path) while it is still at least
    twice the size, then finishes the last factor (below 2) bilinearly. On the 1088 × 1920 walkway frames this
    differs from one ``INTER_AREA`` step by 0.8 grey levels on average (sharp edges more) and takes 3.5 ms instead
    of 27 ms (one thread, loaded machine): ``INTER_AREA``'s general path for a fractional factor is slow.
    """
    width, height = size
    if (frame.shape[1], frame.shape[0]) == (width, height):
        return frame
    while frame.shape[0] >= 2 * height and frame.shape[1] >= 2 * width:
        frame = cv2.resize(frame, (frame.shape[1] // 2, frame.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR)


class SideBySideRenderer:
    """Input with 2-D skeleton | 3-D view, one output frame per input frame.

    ``render(frame, ...)`` is ``compose(panel(frame), ...)``: ``panel`` depends on the frame alone (the part that
    ``hot_pose.wild.stages`` prepares while the detector runs), ``compose`` draws the skeletons.

    Args:
        frame_size: input (width, height); keypoints are pixels of it.
        title: 3-D view title (model name, warnings).
        fix_z: see ``Pose3DView``.
        max_height: output height cap (input frames are scaled down to it).
    """

    def __init__(self, frame_size: Tuple[int, int], title: str = "", fix_z: bool = False,
                 max_height: int = 720) -> None:
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        self.left_width, self.height = left_panel_size(self.frame_size, max_height)
        self.scale = np.array([self.left_width / self.frame_size[0], self.height / self.frame_size[1]])
        self.view = Pose3DView(self.height, title, fix_z)

    @property
    def size(self) -> Tuple[int, int]:
        """Output (width, height)."""
        return self.left_width + self.height, self.height

    def panel(self, frame: np.ndarray) -> np.ndarray:
        """The frame side of the output before drawing: the frame at (``left_width``, ``height``)."""
        return left_panel(frame, (self.left_width, self.height))

    def compose(self, panel: np.ndarray, keypoints_2d: np.ndarray, pose_3d: np.ndarray, detected: bool,
                index: Optional[int] = None) -> np.ndarray:
        """One output frame (BGR) from a ``panel``, the frame's H36M 2-D keypoints (input pixels) and 3-D pose."""
        left = draw_skeleton_2d(panel, np.asarray(keypoints_2d, np.float64) * self.scale, detected)
        if index is not None:
            _label(left, f"frame {index}", (10, 30))
        return np.concatenate([left, self.view.render(pose_3d)], axis=1)

    def render(self, frame: np.ndarray, keypoints_2d: np.ndarray, pose_3d: np.ndarray, detected: bool,
               index: Optional[int] = None) -> np.ndarray:
        """One output frame (BGR) from an input frame, its H36M 2-D keypoints (pixels) and 3-D pose."""
        return self.compose(self.panel(frame), keypoints_2d, pose_3d, detected, index)

    def close(self) -> None:
        """Release the 3-D view."""
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
    points = _points(keypoints)
    for (a, b), side in zip(BONES, BONE_SIDES):
        cv2.line(image, points[a], points[b], light if side == "left" else colour, thickness, cv2.LINE_AA, _SHIFT)
    top = keypoints[np.argmin(keypoints[:, 1])]
    _label(image, f"#{track_id}" + ("" if detected else " (gap)"), (int(top[0]) - 20, max(int(top[1]) - 15, 20)),
           colour)


class MultiPersonRenderer:
    """Input with every person's 2-D skeleton (a colour and id per track) | 3-D view of all persons.

    With ``world`` (the motion capture's world joints, ``hot_pose.mocap``) the 3-D view shows everybody where they
    are: one floor (z = 0, a 1 m grid) in the persons' shared world frame, seen from behind the filming camera, with
    each person's last ``TRAIL_SECONDS`` of root positions drawn on the floor; the view's limits hold every joint of
    the video. Without it, each person is shown root-relative at a fixed slot per track id (``PERSON_SPACING``
    metres apart, id 0 leftmost), which is not their true relative position.

    Args:
        frame_size: input (width, height); keypoints are pixels of it.
        num_tracks: P.
        title: 3-D view title.
        max_height: output height cap.
        world: optional (P, T, 17, 3) world joints in metres, z up, floor z = 0 (NaN where a person is absent);
            ``compose`` then takes the frame index.
        fps: frame rate (the trail's length in frames).
    """

    #: bone width in points (the reference's ``lw=2.5``)
    LINE_WIDTH = 2.5
    #: trail width in points
    TRAIL_WIDTH = 1.5

    def __init__(self, frame_size: Tuple[int, int], num_tracks: int, title: str = "", max_height: int = 720,
                 world: Optional[np.ndarray] = None, fps: float = 25.0) -> None:
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        self.left_width, self.height = left_panel_size(self.frame_size, max_height)
        self.scale = np.array([self.left_width / self.frame_size[0], self.height / self.frame_size[1]])
        self.num_tracks = int(num_tracks)
        self.thickness = line_pixels(self.LINE_WIDTH)
        self.pixels: Optional[np.ndarray] = None  # (P, T, 17, 2) every world joint's view pixels
        self.trail_pixels: Optional[np.ndarray] = None  # (P, T, 2) every root's floor point's view pixels
        finite = None
        if world is not None:
            world = np.asarray(world, np.float64)
            if world.ndim != 4 or world.shape[0] != self.num_tracks or world.shape[2:] != (17, 3):
                raise ValueError(f"world must be ({self.num_tracks}, T, 17, 3), got shape {world.shape}")
            finite = world[np.isfinite(world).all(axis=-1)]
        if finite is not None and len(finite):
            low, high = finite.min(axis=0), finite.max(axis=0)
            centre = (low[:2] + high[:2]) / 2
            self.half = float(max((high[:2] - low[:2]).max() / 2, high[2] / 2, 1.0)) + 0.3
            limits = ((centre[0] - self.half, centre[0] + self.half), (centre[1] - self.half, centre[1] + self.half),
                      (0.0, 2 * self.half))
            self.canvas: Optional[SkeletonCanvas3D] = SkeletonCanvas3D(
                self.height, title, limits, WORLD_ELEVATION, WORLD_AZIMUTH, grid_step=1.0, floor_rgb=FLOOR_RGB)
            P, T = world.shape[:2]
            self.pixels = self.canvas.project(world.reshape(-1, 3)).reshape(P, T, 17, 2)
            floor = world[:, :, 0].copy()
            floor[..., 2] = 0.0
            self.trail_pixels = self.canvas.project(floor.reshape(-1, 3)).reshape(P, T, 2)
            self.depth = np.nanmean(world[:, :, 0, 1], axis=1) if np.isfinite(world[:, :, 0, 1]).any(axis=1).all() \
                else np.zeros(P)  # distance along the view: the far ones are drawn first
            self.trail = max(1, int(round(TRAIL_SECONDS * float(fps))))
            self.trail_thickness = line_pixels(self.TRAIL_WIDTH)
        else:
            self.half = RADIUS + PERSON_SPACING * (self.num_tracks - 1) / 2
            limits = ((-self.half, self.half), (-self.half, self.half), (0.0, 2 * self.half))
            self.canvas = SkeletonCanvas3D(self.height, title, limits)

    @property
    def size(self) -> Tuple[int, int]:
        """Output (width, height)."""
        return self.left_width + self.height, self.height

    def _slot(self, p: int) -> np.ndarray:
        """World offset of track slot ``p`` (persons side by side along the view's horizontal axis)."""
        across = (p - (self.num_tracks - 1) / 2) * PERSON_SPACING
        return np.array([-across * np.cos(np.radians(-20.0)), -across * np.sin(np.radians(-20.0)), 0.0])

    def panel(self, frame: np.ndarray) -> np.ndarray:
        """The frame side of the output before drawing: the frame at (``left_width``, ``height``)."""
        return left_panel(frame, (self.left_width, self.height))

    def compose(self, panel: np.ndarray, keypoints_2d: np.ndarray, poses_3d: np.ndarray, present: np.ndarray,
                found: np.ndarray, ids: Sequence[int], index: Optional[int] = None) -> np.ndarray:
        """One output frame from a ``panel`` and every track's (P, 17, 2) input pixels, (P, 17, 3) poses, (P,)
        presence and detection flags."""
        left = panel.copy()
        for p in range(self.num_tracks):
            if present[p]:
                draw_person_2d(left, np.asarray(keypoints_2d[p], np.float64) * self.scale, int(ids[p]),
                               bool(found[p]))
        if index is not None:
            _label(left, f"frame {index}   persons {int(np.sum(present))}", (10, 30))
        view = self.canvas.background.copy()
        if self.pixels is not None and index is not None:
            self._draw_world(view, int(index), present)
            return np.concatenate([left, view], axis=1)
        for p in range(self.num_tracks):
            if present[p]:
                world = view_world(poses_3d[p])
                world[:, :2] -= world[0, :2]
                world += self._slot(p)
                self.canvas.draw(view, world, [track_colour(p)] * len(BONES), self.thickness)
        return np.concatenate([left, view], axis=1)

    def _draw_world(self, view: np.ndarray, t: int, present: np.ndarray) -> None:
        """Every present person's trail (the floor points of its root over the last ``trail`` frames) and
        skeleton at frame ``t`` in the world view, the farthest first."""
        for p in np.argsort(-self.depth, kind="stable"):
            colour = track_colour(p)
            trail = self.trail_pixels[p, max(0, t - self.trail):t + 1]
            ok = np.isfinite(trail).all(axis=1)
            points = _points(trail)
            for i in range(1, len(trail)):
                if ok[i] and ok[i - 1]:
                    cv2.line(view, points[i - 1], points[i], colour, self.trail_thickness, cv2.LINE_AA, _SHIFT)
            if present[p] and np.isfinite(self.pixels[p, t]).all():
                SkeletonCanvas3D.draw_pixels(view, self.pixels[p, t], [colour] * len(BONES), self.thickness)

    def render(self, frame: np.ndarray, keypoints_2d: np.ndarray, poses_3d: np.ndarray, present: np.ndarray,
               found: np.ndarray, ids: Sequence[int], index: Optional[int] = None) -> np.ndarray:
        """One output frame from an input frame (see ``compose``)."""
        return self.compose(self.panel(frame), keypoints_2d, poses_3d, present, found, ids, index)

    def close(self) -> None:
        """Release the 3-D view."""
        self.canvas = None


def limb_colours(sides: Sequence[str]) -> Sequence[Tuple[int, int, int]]:
    """BGR colour of each bone side (helper for custom drawings)."""
    return [COLOURS_BGR[s] for s in sides]
