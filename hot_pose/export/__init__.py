"""Layer 2 of ``hot_pose``: exports of trained models (ONNX, HoT's data-dependent token pruning included) and of
the 3-D motion they produce (BVH, TRC, C3D).

HoT: Li et al., CVPR 2024 (arXiv:2311.12028).

* ``onnx``: ``hot-export-onnx``, the graph with DPC-kNN pruning, verified against PyTorch by onnxruntime.
* ``motion``: what every motion writer shares: input ``(T, 17, 3)`` world joints in metres, z up (floor z = 0),
  ``fps`` > 0, an optional ``(T,)`` ``valid`` mask (NaN only in invalid frames); checks before anything is
  written; atomic files.
* ``bvh``: ``write_bvh`` / ``read_bvh`` / ``bvh_forward_kinematics``: an animated 22-joint skeleton (Mixamo-style
  names), y up, cm by default, constant bone lengths, ZXY Euler channels by default.
* ``trc``: ``write_trc`` / ``read_trc``: OpenSim markers, y up, mm or m.
* ``c3d``: ``write_c3d`` / ``read_c3d``: C3D points through ezc3d (optional, ``pip install ezc3d==1.7.2``), z up, mm.
* ``blender``: ``find_blender`` / ``blender_import_bvh``: a headless import of a BVH into Blender, for checks.

Conventions and commands: ``docs/export_formats.md``.
"""
