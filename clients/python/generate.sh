#!/usr/bin/env bash
# Generates the Python stubs of the mixsweep API (proto/mixsweep/v1/*.proto)
# into OUT_DIR, with Debian's tools (protobuf-compiler, protobuf-compiler-grpc):
#
#   clients/python/generate.sh ~/.cache/mixsweep-stubs
#   export PYTHONPATH=$PWD/clients/python:~/.cache/mixsweep-stubs
#   /usr/bin/python3 -c 'import mixsweep_client'
#
# The stubs land in OUT_DIR/mixsweep/v1/*_pb2.py and *_pb2_grpc.py. They are
# never committed: the build regenerates them (clients/python/CMakeLists.txt
# calls this script), so they always match the .proto files.
# $PROTOC and $GRPC_PYTHON_PLUGIN override the tools' paths.
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
out="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
protoc="${PROTOC:-protoc}"
plugin="${GRPC_PYTHON_PLUGIN:-/usr/bin/grpc_python_plugin}"
# The well-known types (google/protobuf/timestamp.proto, ...) ship with
# libprotobuf-dev under /usr/include.
wkt="${PROTOBUF_INCLUDE_DIR:-/usr/include}"
[ -x "$plugin" ] || { echo "$0: $plugin not found (apt-get install protobuf-compiler-grpc)" >&2; exit 1; }
mkdir -p "$out"
"$protoc" -I "$root/proto" -I "$wkt" --python_out="$out" --grpc_out="$out" \
  --plugin=protoc-gen-grpc="$plugin" "$root"/proto/mixsweep/v1/*.proto
