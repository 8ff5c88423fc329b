"""A gRPC client on grpcio (gRPC's C-core): the second, independent implementation the node:http2
transport is checked against (test/extauthz-h2-conformance.test.ts).

Reads one JSON plan on stdin:
  {"target": "127.0.0.1:PORT", "options": [["grpc.keepalive_time_ms", 100], ...],
   "steps": [{"method": "/pkg.Service/Method", "request": "<base64>", "timeout": 2.0,
              "compression": "gzip" | "deflate" | null, "concurrent": 1, "pause": 0.0}, ...]}
and prints one JSON line: a list per step of results {"code": "OK", "details": str, "response": base64|null}.
Calls are generic unary calls on raw bytes (no generated stubs): the caller encodes and decodes.
`concurrent` calls of a step run at once on the one channel; `pause` sleeps after the step (keepalive).
"""
import base64
import json
import sys
import time

import grpc

COMPRESSION = {None: grpc.Compression.NoCompression, "gzip": grpc.Compression.Gzip, "deflate": grpc.Compression.Deflate}


def identity(b):
    return b


def main():
    plan = json.load(sys.stdin)
    options = [tuple(o) for o in plan.get("options", [])]
    out = []
    with grpc.insecure_channel(plan["target"], options=options) as channel:
        for step in plan["steps"]:
            call = channel.unary_unary(step["method"], request_serializer=identity, response_deserializer=identity)
            request = base64.b64decode(step.get("request", ""))
            futures = [
                call.future(request, timeout=step.get("timeout", 5.0), compression=COMPRESSION[step.get("compression")])
                for _ in range(step.get("concurrent", 1))
            ]
            results = []
            for f in futures:
                try:
                    body = f.result()
                    results.append({"code": "OK", "details": "", "response": base64.b64encode(body).decode()})
                except grpc.RpcError as e:
                    results.append({"code": e.code().name, "details": e.details() or "", "response": None})
            out.append(results)
            if step.get("pause"):
                time.sleep(step["pause"])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
