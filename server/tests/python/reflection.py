"""grpcio's own reflection client (grpcio-reflection, which asks v1alpha) against
auditlogd: lists the services and resolves one's file and methods, as tools built on it
do, with no .proto at hand.

Usage: reflection.py ADDR
Prints one JSON object: the services, and the methods of auditlog.v1.IngestService.
"""

import json
import sys

import grpc
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)


def main(addr):
    with grpc.insecure_channel(addr) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = sorted(database.get_services())
        pool = DescriptorPool(database)
        ingest = pool.FindServiceByName("auditlog.v1.IngestService")
        methods = sorted(m.name for m in ingest.methods)
        print(json.dumps({"services": services, "ingest_methods": methods}))


if __name__ == "__main__":
    main(sys.argv[1])
