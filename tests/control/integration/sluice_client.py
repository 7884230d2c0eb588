# SPDX-License-Identifier: Apache-2.0
"""A client of sluice.v1.Control written only from the .proto files.

It shares nothing with sluiced or sluicectl but proto/sluice/v1/*.proto:
the message classes are generated at run time into a temporary directory,
and the stub is built from the service's descriptor, so it calls exactly
the methods the .proto declares, with the request and response types it
declares. Debian's python3-grpcio carries the calls.

Generation: Debian 12's python3-grpc-tools (1.14) bundles a protoc too old
for `optional` in proto3 fields, which service.proto uses; the system
protoc (protobuf-compiler 3.21, the version of python3-protobuf) is then
used for the messages. Only messages are needed, never generated gRPC
code, so either compiler serves.
"""

import os
import shutil
import subprocess
import sys
import tempfile

import grpc

PROTOS = ["sluice/v1/service.proto", "sluice/v1/control.proto"]
SERVICE = "sluice.v1.Control"


class GeneratedProtos:
    """The generated modules: service_pb2, control_pb2, and which compiler."""

    def __init__(self, service_pb2, control_pb2, compiler, directory):
        self.service_pb2 = service_pb2
        self.control_pb2 = control_pb2
        self.compiler = compiler
        self.directory = directory


def _compilers(proto_root, out_dir):
    files = [os.path.join(proto_root, p) for p in PROTOS]
    yield ("grpc_tools.protoc",
           [sys.executable, "-m", "grpc_tools.protoc", "-I", proto_root,
            "--python_out=" + out_dir] + files)
    protoc = os.environ.get("SLUICE_PROTOC") or shutil.which("protoc")
    if protoc:
        yield (protoc, [protoc, "-I", proto_root, "--python_out=" + out_dir] + files)


def generate(proto_root):
    """Generates the message modules from proto_root into a new temporary
    directory (the caller removes GeneratedProtos.directory) and imports
    them. Raises RuntimeError, with every compiler's complaint, if none
    could."""
    out_dir = tempfile.mkdtemp(prefix="sluice-client-protos.")
    complaints = []
    for name, command in _compilers(proto_root, out_dir):
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode == 0:
            break
        complaints.append("%s (exit %d): %s" % (name, result.returncode,
                                                result.stderr.strip().splitlines()[:2]))
    else:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise RuntimeError("cannot generate Python code from %s: %s" %
                           (proto_root, "; ".join(complaints) or "no protoc found"))
    # Regular packages, first on the path: nothing else named `sluice` can
    # shadow them.
    for package in ("sluice", "sluice/v1"):
        open(os.path.join(out_dir, package, "__init__.py"), "a").close()
    sys.path.insert(0, out_dir)
    from sluice.v1 import control_pb2, service_pb2  # noqa: E402 (generated above)
    return GeneratedProtos(service_pb2, control_pb2, name, out_dir)


class ControlStub:
    """One callable attribute per rpc of sluice.v1.Control, named as in the
    .proto: stub.SetWeights(request, timeout=..., metadata=...) returns the
    response or raises grpc.RpcError; .with_call(...) also returns the call
    (for trailing metadata). A server-streaming rpc (WatchEvents) returns
    the call, an iterator of responses that can be cancel()ed."""

    def __init__(self, channel, protos):
        service = protos.control_pb2.DESCRIPTOR.services_by_name["Control"]
        assert service.full_name == SERVICE, service.full_name
        self.methods = []
        for method in service.methods:
            request = self._message_class(protos, method.input_type)
            response = self._message_class(protos, method.output_type)
            if method.client_streaming:
                raise RuntimeError("client-streaming rpc %s: not supported here" % method.name)
            make = channel.unary_stream if method.server_streaming else channel.unary_unary
            callable_ = make(
                "/%s/%s" % (SERVICE, method.name),
                request_serializer=request.SerializeToString,
                response_deserializer=response.FromString)
            setattr(self, method.name, callable_)
            self.methods.append(method.name)

    @staticmethod
    def _message_class(protos, descriptor):
        for module in (protos.control_pb2, protos.service_pb2):
            if descriptor.file.name == module.DESCRIPTOR.name:
                return getattr(module, descriptor.name)
        raise RuntimeError("no generated class for " + descriptor.full_name)


def connect(socket_path, protos):
    """A channel to sluiced's unix socket and the stub over it."""
    channel = grpc.insecure_channel("unix:" + socket_path)
    return channel, ControlStub(channel, protos)


def trailing(call, key):
    """The value of trailing metadata `key` of a finished call (or RpcError)."""
    for k, v in call.trailing_metadata() or ():
        if k == key:
            return v
    return None
