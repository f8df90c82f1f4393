"""In-the-wild demo of HoT (Li et al., CVPR 2024, arXiv:2311.12028): video → 2-D → 3-D poses."""
