"""Command-line tools: baseline evaluation, benchmark, ONNX export, README table regeneration."""
