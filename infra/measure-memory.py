#!/usr/bin/env python3
"""Peak memory of the ingest and enrich functions over full SQS batches, to size MemorySize.

Runs each built `bootstrap` (a host build: `cargo lambda build --release --bin ingest --bin enrich`)
against a minimal Lambda Runtime API served here on loopback and the project's AWS API emulator, feeds
it INVOCATIONS batches of BATCH SQS records, and prints its peak resident set size (VmHWM) and the
time per batch. ingest gets sample events made unique per record; enrich gets the `Finding Accepted`
events ingest published (its tasks are unknown to the emulator, so ECS answers MISSING).

    python3 infra/measure-memory.py TARGET_DIR/lambda [INVOCATIONS] [BATCH]
"""

from __future__ import annotations

import copy
import http.server
import json
import os
import pathlib
import subprocess
import sys
import threading
import time
import uuid

import boto3

ROOT = pathlib.Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
REGION = "us-east-1"
ACCOUNT = "123456789012"


def start_emulator() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "dev/testkit/python/vigil_emulator.py"), "--port", "0", "--exit-on-stdin-eof"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    assert line.startswith("VIGIL_EMULATOR_READY "), line
    return proc, line.split(" ", 1)[1]


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    """Serves queued events on /next; records each response or error."""
    events: list = []
    results: list = []
    started: dict = {}
    generation = 0  # bumped per run: a handler left waiting by a killed process serves nothing

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        if not self.path.endswith("/invocation/next"):
            self.send_error(404)
            return
        generation = RuntimeApi.generation
        while not RuntimeApi.events:
            time.sleep(0.05)
            if RuntimeApi.generation != generation:
                return
        event = RuntimeApi.events.pop(0)
        rid = str(uuid.uuid4())
        RuntimeApi.started[rid] = time.monotonic()
        body = json.dumps(event).encode()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", rid)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 300_000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                         f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:measure")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        rid = self.path.split("/")[-2]
        took = time.monotonic() - RuntimeApi.started.pop(rid, time.monotonic())
        RuntimeApi.results.append((self.path.split("/")[-1], took, body[:300]))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()


def sqs_batch(bodies: list[str]) -> dict:
    return {"Records": [{
        "messageId": str(uuid.uuid4()), "receiptHandle": "r", "body": b,
        "attributes": {}, "messageAttributes": {}, "md5OfBody": "",
        "eventSource": "aws:sqs", "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:q",
        "awsRegion": REGION} for b in bodies]}


def run(binary: pathlib.Path, env: dict, batches: list[dict]) -> tuple[int, list]:
    RuntimeApi.generation += 1
    RuntimeApi.events = list(batches)
    RuntimeApi.results = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    full_env = dict(os.environ, **env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}",
                    AWS_LAMBDA_FUNCTION_NAME="measure", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256",
                    AWS_LAMBDA_FUNCTION_VERSION="$LATEST", AWS_LAMBDA_LOG_STREAM_NAME="s",
                    AWS_LAMBDA_LOG_GROUP_NAME="g", LOG_LEVEL="error")
    proc = subprocess.Popen([str(binary)], env=full_env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while len(RuntimeApi.results) < len(batches) and time.monotonic() < deadline:
        time.sleep(0.1)
        assert proc.poll() is None, f"{binary} exited with {proc.returncode}"
    status = pathlib.Path(f"/proc/{proc.pid}/status").read_text()
    hwm_kb = int(next(l for l in status.splitlines() if l.startswith("VmHWM")).split()[1])
    proc.kill()
    proc.wait()
    RuntimeApi.generation += 1
    server.shutdown()
    return hwm_kb, RuntimeApi.results


def main() -> int:
    lambda_dir = pathlib.Path(sys.argv[1])
    invocations = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    emulator, endpoint = start_emulator()
    try:
        aws = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing",
                   aws_secret_access_key="testing")
        ddb, events, sqs = (boto3.client(s, **aws) for s in ("dynamodb", "events", "sqs"))
        boto3.client("securityhub", **aws).enable_security_hub()
        ddb.create_table(TableName="vigil", BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                    {"AttributeName": "sk", "KeyType": "RANGE"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                               {"AttributeName": "sk", "AttributeType": "S"}])
        events.create_event_bus(Name="vigil")
        tap = sqs.create_queue(QueueName="accepted")["QueueUrl"]
        events.put_rule(Name="accepted", EventBusName="vigil",
                        EventPattern=json.dumps({"source": ["vigil"], "detail-type": ["Finding Accepted"]}))
        events.put_targets(Rule="accepted", EventBusName="vigil",
                           Targets=[{"Id": "t", "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:accepted"}])
        env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
               "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": REGION,
               "TABLE_NAME": "vigil", "EVENT_BUS_NAME": "vigil"}

        samples = [json.loads((SAMPLES / f).read_text()) for f in
                   ("falco-ecs-eventbridge.json", "guardduty-ecs-runtime.json", "sysdig-runtime-policy.json")]
        batches = []
        for i in range(invocations):
            bodies = []
            for j in range(batch):
                e = copy.deepcopy(samples[j % len(samples)])
                e["id"] = str(uuid.uuid4())
                # A distinct workload per record: every record is a new finding (the heaviest path).
                if e["source"] == "falco":
                    e["detail"]["output_fields"]["container.label.com.amazonaws.ecs.task-arn"] += f"{i}x{j}"
                elif e["source"] == "aws.guardduty":
                    e["detail"]["resource"]["ecsClusterDetails"]["taskDetails"]["arn"] += f"{i}x{j}"
                else:
                    e["detail"]["containerId"] = f"{i:04x}{j:08x}"[-12:]
                bodies.append(json.dumps(e))
            batches.append(sqs_batch(bodies))
        hwm, results = run(lambda_dir / "ingest" / "bootstrap", env, batches)
        times = sorted(t for _, t, _ in results)
        print(f"ingest: {len(results)} batches of {batch}: peak RSS {hwm / 1024:.1f} MiB, "
              f"median batch {times[len(times) // 2] * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms")
        print(f"  first response: {results[0][2][:200]!r}")

        accepted = []
        while True:
            msgs = sqs.receive_message(QueueUrl=tap, MaxNumberOfMessages=10).get("Messages", [])
            if not msgs:
                break
            for m in msgs:
                accepted.append(m["Body"])
                sqs.delete_message(QueueUrl=tap, ReceiptHandle=m["ReceiptHandle"])
        enrich_batches = [sqs_batch(accepted[k:k + batch]) for k in range(0, len(accepted), batch)]
        hwm, results = run(lambda_dir / "enrich" / "bootstrap", env, enrich_batches)
        times = sorted(t for _, t, _ in results)
        print(f"enrich: {len(results)} batches ({len(accepted)} Finding Accepted): peak RSS "
              f"{hwm / 1024:.1f} MiB, median batch {times[len(times) // 2] * 1000:.0f} ms, "
              f"max {times[-1] * 1000:.0f} ms")
        print(f"  first response: {results[0][2][:200]!r}")
    finally:
        emulator.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
