"""ehfusion: EHFusion, a group-based 2D-to-3D human pose lifter with heterogeneous fusion, and the course around it."""
import os as _os

# PyTorch's CPU kernels use OpenMP threads that spin while they wait for each other. When other programs share the
# cores (a laptop, a shared runner), a descheduled thread makes the others spin for their whole time slice and a
# training step can become ten times slower. Waiting passively costs almost nothing on an idle machine. This only
# takes effect when ehfusion is imported before torch (or when the variable is set in the environment, as the
# Makefile does); set OMP_WAIT_POLICY yourself to override it.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
