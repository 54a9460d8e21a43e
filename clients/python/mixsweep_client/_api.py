"""The generated stubs of the mixsweep API (package mixsweep.v1).

They are not in the repository: the build generates them into
BUILD/clients/python/gen, and ``clients/python/generate.sh OUT_DIR`` into any
folder; that folder must be on ``sys.path`` (PYTHONPATH) beside this package.
"""

try:
    from mixsweep.v1 import (
        auth_pb2, auth_pb2_grpc, common_pb2, evaluation_pb2, evaluation_pb2_grpc, sweep_pb2,
        sweep_pb2_grpc, utilization_pb2, utilization_pb2_grpc, worker_pb2, worker_pb2_grpc)
except ImportError as error:  # say how to fix it, not just what is missing
    raise ImportError(
        "mixsweep_client needs the generated mixsweep.v1 stubs on sys.path: run "
        "clients/python/generate.sh OUT_DIR and add OUT_DIR to PYTHONPATH (a build of "
        "the repository has them in BUILD/clients/python/gen)") from error

__all__ = ["auth_pb2", "auth_pb2_grpc", "common_pb2", "evaluation_pb2", "evaluation_pb2_grpc",
           "sweep_pb2", "sweep_pb2_grpc", "utilization_pb2", "utilization_pb2_grpc", "worker_pb2",
           "worker_pb2_grpc"]
