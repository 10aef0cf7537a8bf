"""ehfusion: EHFusion, a group-based 2D-to-3D human pose lifter with heterogeneous fusion, and the course around it."""
__version__ = "0.1.0"
