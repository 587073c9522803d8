"""An independent client of auditlogd: Python grpcio with stubs generated from the
project's .proto files, and an RFC 9162 inclusion-proof check written here with
hashlib's SHA-256 (the log under test hashes with SHA-256).

Usage: client.py ADDR KEY PROTO_DIR OUT_DIR
Prints one JSON object with what it saw, for the Rust test to check against the server.
"""

import hashlib
import json
import sys

import grpc
from grpc_tools import protoc


def generate(proto_dir, out_dir):
    files = [f"auditlog/v1/{name}.proto" for name in
             ("event", "ingest", "query", "proof", "checkpoint", "admin")]
    args = ["protoc", f"-I{proto_dir}", f"--python_out={out_dir}",
            f"--grpc_python_out={out_dir}", *files]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    sys.path.insert(0, out_dir)


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(leaf_index, tree_size, leaf_hash, path, root):
    """RFC 9162, section 2.1.3.2."""
    if leaf_index >= tree_size:
        return False
    fn, sn, r = leaf_index, tree_size - 1, leaf_hash
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def main():
    addr, key, proto_dir, out_dir = sys.argv[1:5]
    generate(proto_dir, out_dir)
    from auditlog.v1 import (checkpoint_pb2, checkpoint_pb2_grpc, event_pb2, ingest_pb2,
                             ingest_pb2_grpc, proof_pb2, proof_pb2_grpc, query_pb2,
                             query_pb2_grpc)

    channel = grpc.insecure_channel(addr)
    auth = [("authorization", f"Bearer {key}")]
    ingest = ingest_pb2_grpc.IngestServiceStub(channel)
    query = query_pb2_grpc.QueryServiceStub(channel)
    proofs = proof_pb2_grpc.ProofServiceStub(channel)
    checkpoints = checkpoint_pb2_grpc.CheckpointServiceStub(channel)

    def event(i, action="document.read"):
        return event_pb2.Event(
            timestamp=f"2026-03-01T10:00:{i:02d}Z",
            actor=event_pb2.Actor(user_id=f"usr_py{i % 3}", email=f"py{i}@example.com"),
            organization=event_pb2.Organization(id="org_py", name="Py Inc"),
            action=action,
            resource=event_pb2.Resource(type="document", id=f"doc_{i}"),
            outcome=event_pb2.OUTCOME_SUCCESS,
            ip_address="192.0.2.1",
            metadata_json=json.dumps({"i": i, "client": "python"}),
        )

    seen = {}
    unary = ingest.Ingest(ingest_pb2.IngestRequest(events=[event(i) for i in range(5)]),
                          metadata=auth)
    seen["unary_seqs"] = list(unary.seqs)
    batches = [ingest_pb2.IngestRequest(events=[event(i) for i in range(5 + 3 * b, 8 + 3 * b)])
               for b in range(2)]
    streamed = ingest.IngestStream(iter(batches), metadata=auth)
    seen["stream_seqs"] = [list(a.seqs) for a in streamed.acks]
    seen["stream_refused"] = streamed.HasField("refused")

    request = query_pb2.QueryRequest(filter=query_pb2.Filter(tenant="org_py"),
                                     order=query_pb2.ORDER_OLDEST_FIRST,
                                     page_size=4, max_pages=100)
    pages = list(query.Query(request, metadata=auth))
    seen["pages"] = len(pages)
    seen["query_seqs"] = [e.seq for page in pages for e in page.events]
    seen["metadata"] = [json.loads(e.event.metadata_json)["i"]
                        for page in pages for e in page.events]
    counted = query.Count(query_pb2.CountRequest(filter=query_pb2.Filter(tenant="org_py")),
                          metadata=auth)
    seen["count"] = counted.count

    latest = checkpoints.Latest(checkpoint_pb2.LatestCheckpointRequest(), metadata=auth)
    seen["tree_size"] = latest.tree_size
    seen["root"] = latest.root.hex()
    verified = 0
    for seq in seen["query_seqs"]:
        proof = proofs.ProveInclusion(
            proof_pb2.InclusionRequest(leaf_index=seq, tree_size=latest.tree_size),
            metadata=auth)
        if proof.hash != "sha256" or proof.root != latest.root:
            raise SystemExit(f"proof of {seq}: {proof.hash}, root {proof.root.hex()}")
        if verify_inclusion(seq, proof.tree_size, proof.leaf_hash, list(proof.path),
                            latest.root):
            verified += 1
        # Any other leaf position must fail.
        if verify_inclusion(seq ^ 1, proof.tree_size, proof.leaf_hash, list(proof.path),
                            latest.root):
            raise SystemExit(f"the proof of {seq} also verified at {seq ^ 1}")
    seen["verified"] = verified

    errors = {}
    try:
        ingest.Ingest(ingest_pb2.IngestRequest(events=[event(0, "Not Dotted")]), metadata=auth)
    except grpc.RpcError as e:
        errors["bad_action"] = e.code().name
    try:
        query.Count(query_pb2.CountRequest(), metadata=[("authorization", "Bearer alk_x_y")])
    except grpc.RpcError as e:
        errors["bad_key"] = e.code().name
    seen["errors"] = errors
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
