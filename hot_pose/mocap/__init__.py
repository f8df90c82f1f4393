"""Layer 3 of ``hot_pose``: metric motion capture from one video's 2-D keypoints and lifted root-relative poses.

HoT (Li et al., "Hourglass Tokenizer for Efficient Transformer-Based 3D Human Pose Estimation", CVPR 2024,
arXiv:2311.12028) lifts 2-D keypoints to root-relative Human3.6M-17 joints in the camera frame. This package puts
them in the scene, numpy + scipy only (it imports ``hot_pose.utils`` and ``hot_pose.data``, nothing above):

* ``intrinsics``: the pinhole camera from a focal length, a field of view, a calibration file (JSON, Pose2Sim
  TOML, Qualisys QCA) or the default 65° across the longer side;
* ``height``: the standing height of a 17-joint skeleton (a stature rule calibrated on the Human3.6M training
  subjects), constant bone lengths, rescaling; the default height 1.70 m;
* ``trajectory``: the metric root (pelvis) trajectory in the camera frame with a per-frame confidence;
* ``world``: the gravity-aligned world frame with the floor at z = 0, the camera's height, pitch and roll;
* ``contacts``: per-frame left/right foot contacts, foot locking and the skating metric;
* ``capture``: ``reconstruct``, everything above for one or several persons in one call.

Stable API (what the exporters and the demo use)::

    from hot_pose.mocap import Intrinsics, reconstruct
    cam = Intrinsics.resolve(width, height)                      # or focal_px=, fov_deg=, calibration= (+ camera=)
    mc = reconstruct(keypoints_px, poses_root_relative, cam, fps,  # (T, 17, 2) px, (T, 17, 3) m; or (P, T, 17, ·)
                     scores=None, present=None, heights=None, foot_lock=True)
    mc.trajectory[0]      # (T, 3) pelvis, camera frame, metres        mc.confidence[0]   # (T,) in [0, 1]
    mc.joints_camera[0]   # (T, 17, 3) absolute, camera frame          mc.joints_world[0] # (T, 17, 3) world
    mc.contacts[0]        # (T, 2) bool (left, right)                  mc.height_m[0]     # metres used
    mc.K, mc.image_size, mc.camera_rotation, mc.camera_position, mc.camera_height_m, mc.pitch_deg, mc.roll_deg, mc.fps
    np.savez(path, **mc.to_dict()); json.dumps(mc.to_dict(json_safe=True))

Conventions: joints in the Human3.6M-17 order (``JOINT_NAMES``: Pelvis, RHip, RKnee, RAnkle, LHip, LKnee,
LAnkle, Spine, Thorax, Neck/Nose, Head, LShoulder, LElbow, LWrist, RShoulder, RElbow, RWrist); metres; camera
frame x right, y down, z forward (the lifter's axes, ``CAMERA_AXES``); world frame z up with the floor at z = 0,
y the optical axis projected on the floor, x = y × z to the camera's right, origin below the camera
(``WORLD_AXES``); ``X_world = camera_rotation @ X_camera + camera_position``. Per-person arrays always have a
leading person axis (P = 1 for one person).

Depth and scale: a person's depth is proportional to the height given (default 1.70 m) and to the focal length
(default: 65° field of view); either off by x % puts the person x % too near or too far. ``docs/mocap.md`` has the
method, the measured accuracy (Human3.6M, the Pose2Sim demo) and what it assumes.
"""
from hot_pose.mocap.capture import CAMERA_AXES, FLOOR_METHODS, LIFTER, WORLD_AXES, MotionCapture, reconstruct
from hot_pose.mocap.contacts import foot_contacts, lock_feet, skating
from hot_pose.mocap.height import (DEFAULT_HEIGHT_M, JOINT_NAMES, MAX_HEIGHT_M, MIN_HEIGHT_M, check_height,
                                   constant_bones, skeleton_height, stature)
from hot_pose.mocap.intrinsics import DEFAULT_FOV_DEG, Intrinsics, focal_from_fov, load_calibration
from hot_pose.mocap.trajectory import NOISE_PRESETS, Trajectory, solve_root_trajectory
from hot_pose.mocap.world import WorldFrame, camera_angles, estimate_world

__all__ = ["CAMERA_AXES", "DEFAULT_FOV_DEG", "DEFAULT_HEIGHT_M", "FLOOR_METHODS", "Intrinsics", "JOINT_NAMES", "LIFTER",
           "MAX_HEIGHT_M", "MIN_HEIGHT_M", "MotionCapture", "NOISE_PRESETS", "Trajectory", "WORLD_AXES", "WorldFrame",
           "camera_angles", "check_height", "constant_bones", "estimate_world", "focal_from_fov", "foot_contacts",
           "load_calibration", "lock_feet", "reconstruct", "skating", "skeleton_height", "solve_root_trajectory",
           "stature"]
