#!/usr/bin/env python3
"""Smoke test of vigil_emulator.py with boto3 (plain unittest).

    python3 dev/testkit/python/test_vigil_emulator.py
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
from botocore.model import Shape

HERE = os.path.dirname(os.path.abspath(__file__))
LAUNCHER = os.path.join(HERE, "vigil_emulator.py")
READY_PREFIX = "VIGIL_EMULATOR_READY "
ACCOUNT = "123456789012"
REGION = "us-east-1"


class Emulator:
    """Starts the launcher like the Rust testkit does: --port 0, read the ready line."""

    def __init__(self, *extra_args: str, port: int = 0) -> None:
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, LAUNCHER, "--host", "127.0.0.1", "--port", str(port), *extra_args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
        )
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout=60)
        if not line or not line[0].decode().startswith(READY_PREFIX):
            self.stop()
            raise RuntimeError(f"emulator did not become ready: {line!r}\n{self.stderr_text()}")
        self.ready_line = line[0].decode()
        self.url = self.ready_line[len(READY_PREFIX):].strip()

    def __del__(self) -> None:
        self.stderr.close()

    def stderr_text(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream and not stream.closed:
                stream.close()
        return self.proc.returncode


def assert_matches_shape(value: Any, shape: Shape | None, path: str = "$") -> None:
    """Strict JSON type check of a response body against the botocore model (like the Rust SDK)."""
    if shape is None or value is None:
        return
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(value, dict), f"{path}: expected object, got {value!r}"
        if shape.metadata.get("document"):
            return
        for key, member in shape.members.items():
            name = member.serialization.get("name", key)
            if name in value:
                assert_matches_shape(value[name], member, f"{path}.{name}")
    elif kind == "list":
        assert isinstance(value, list), f"{path}: expected array, got {value!r}"
        for i, item in enumerate(value):
            assert_matches_shape(item, shape.member, f"{path}[{i}]")
    elif kind == "map":
        assert isinstance(value, dict), f"{path}: expected map, got {value!r}"
        for k, v in value.items():
            assert_matches_shape(v, shape.value, f"{path}.{k}")
    elif kind in ("string", "blob"):
        assert isinstance(value, str), f"{path}: expected string, got {type(value).__name__} {value!r}"
    elif kind in ("integer", "long"):
        assert isinstance(value, int) and not isinstance(value, bool), f"{path}: expected integer, got {value!r}"
    elif kind in ("float", "double"):
        assert isinstance(value, (int, float)) and not isinstance(value, bool), f"{path}: expected number, got {value!r}"
    elif kind == "boolean":
        assert isinstance(value, bool), f"{path}: expected boolean, got {value!r}"
    elif kind == "timestamp":
        fmt = shape.serialization.get("timestampFormat", "unixtimestamp")
        expected = (int, float) if fmt == "unixtimestamp" else str
        assert isinstance(value, expected) and not isinstance(value, bool), f"{path}: bad timestamp {value!r}"


class RawCapture:
    """Keeps the raw JSON body of every response of a client and checks it against the model."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.bodies: dict[str, Any] = {}
        self.errors: list[str] = []
        client.meta.events.register("after-call.*.*", self._after_call)

    def _after_call(self, http_response: Any, parsed: Any, model: Any, **_: Any) -> None:
        content = http_response.content
        if not content or http_response.status_code >= 300:
            return
        body = json.loads(content)
        self.bodies[model.name] = body
        try:
            assert_matches_shape(body, model.output_shape)
        except AssertionError as exc:
            self.errors.append(f"{model.name}: {exc}")


class VigilEmulatorSmokeTest(unittest.TestCase):
    emulator: Emulator

    @classmethod
    def setUpClass(cls) -> None:
        cls.emulator = Emulator("--exit-on-stdin-eof")

    @classmethod
    def tearDownClass(cls) -> None:
        cls.emulator.stop()

    def client(self, service: str, parameter_validation: bool = True) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.emulator.url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=botocore.config.Config(retries={"max_attempts": 1}, parameter_validation=parameter_validation),
        )

    def vigil(self, method: str, path: str) -> Any:
        request = urllib.request.Request(self.emulator.url + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    # ---------------------------------------------------------------- helpers

    def default_subnet(self) -> dict[str, Any]:
        ec2 = self.client("ec2")
        vpc_id = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
        # moto's RunTask FARGATE/awsvpc needs DNS hostnames on the VPC (the default VPC has them).
        ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
        return ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"][0]

    def fargate_setup(self, cluster: str, family: str, containers: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
        ecs = self.client("ecs")
        ecs.create_cluster(clusterName=cluster)
        ecs.register_task_definition(
            family=family,
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="256",
            memory="512",
            containerDefinitions=containers,
        )
        subnet = self.default_subnet()
        return {"awsvpcConfiguration": {"subnets": [subnet["SubnetId"]], "assignPublicIp": "DISABLED"}}, subnet

    # ------------------------------------------------------------------ tests

    def test_ready_line_format(self) -> None:
        self.assertRegex(self.emulator.ready_line, r"^VIGIL_EMULATOR_READY http://127\.0\.0\.1:\d+\n$")
        self.assertEqual(self.vigil("GET", "/_vigil/health"), {"ok": True})

    def test_ecs_run_describe_stop_task(self) -> None:
        ecs = self.client("ecs")
        raw = RawCapture(ecs)
        network, subnet = self.fargate_setup(
            "smoke-run", "smoke-run",
            [{"name": "app", "image": "public.ecr.aws/nginx/nginx:latest", "essential": True,
              "cpu": 128, "memory": 256, "memoryReservation": 128}],
        )
        task = ecs.run_task(cluster="smoke-run", taskDefinition="smoke-run", launchType="FARGATE",
                            networkConfiguration=network)["tasks"][0]
        task_arn = task["taskArn"]
        task_id = task_arn.split("/")[-1]

        for _ in range(2):
            described = ecs.describe_tasks(cluster="smoke-run", tasks=[task_arn])["tasks"][0]
            self.assertEqual(described["lastStatus"], "RUNNING")

        for op in ("RunTask", "DescribeTasks"):
            raw_task = raw.bodies[op]["tasks"][0]
            self.assertEqual(raw_task["cpu"], "256", op)
            self.assertEqual(raw_task["memory"], "512", op)
            container = raw_task["containers"][0]
            self.assertEqual((container["cpu"], container["memory"], container["memoryReservation"]), ("128", "256", "128"), op)

        container = described["containers"][0]
        expected_runtime_id = hashlib.sha256(f"{task_id}/app".encode()).hexdigest()
        self.assertEqual(container["runtimeId"], expected_runtime_id)
        self.assertRegex(container["runtimeId"], r"^[0-9a-f]{64}$")
        self.assertEqual(container["imageDigest"], "sha256:" + hashlib.sha256(b"public.ecr.aws/nginx/nginx:latest").hexdigest())
        self.assertEqual(container["taskArn"], task_arn)
        self.assertEqual(container["lastStatus"], "RUNNING")
        self.assertEqual(described["group"], "family:smoke-run")
        self.assertEqual(described["launchType"], "FARGATE")
        self.assertEqual(described["platformVersion"], "1.4.0")
        self.assertEqual(described["availabilityZone"], subnet["AvailabilityZone"])
        self.assertIn("createdAt", described)
        self.assertIn("startedAt", described)
        details = {d["name"]: d["value"] for d in described["attachments"][0]["details"]}
        self.assertRegex(details["privateIPv4Address"], r"^\d+\.\d+\.\d+\.\d+$")
        self.assertEqual(container["networkInterfaces"][0]["privateIpv4Address"], details["privateIPv4Address"])

        stopped = ecs.stop_task(cluster="smoke-run", task=task_arn, reason="vigil: test")["task"]
        self.assertEqual(raw.bodies["StopTask"]["task"]["cpu"], "256")
        self.assertIsInstance(raw.bodies["StopTask"]["task"]["containers"][0]["cpu"], str)
        self.assertEqual(stopped["lastStatus"], "STOPPED")
        self.assertEqual(stopped["stopCode"], "UserInitiated")
        self.assertEqual(stopped["stoppedReason"], "vigil: test")
        self.assertEqual(stopped["containers"][0]["lastStatus"], "STOPPED")
        self.assertEqual(ecs.describe_tasks(cluster="smoke-run", tasks=[task_arn])["tasks"][0]["lastStatus"], "STOPPED")
        self.assertNotIn(task_arn, ecs.list_tasks(cluster="smoke-run")["taskArns"])
        self.assertIn(task_arn, ecs.list_tasks(cluster="smoke-run", desiredStatus="STOPPED")["taskArns"])
        self.assertEqual(raw.errors, [])

    def test_ecs_multi_container_task(self) -> None:
        ecs = self.client("ecs")
        raw = RawCapture(ecs)
        network, _ = self.fargate_setup(
            "smoke-multi", "smoke-multi",
            [{"name": "app", "image": "app:1", "essential": True},
             {"name": "sidecar", "image": "sidecar:2", "essential": False, "memoryReservation": 64}],
        )
        task = ecs.run_task(cluster="smoke-multi", taskDefinition="smoke-multi", launchType="FARGATE",
                            networkConfiguration=network)["tasks"][0]
        task_id = task["taskArn"].split("/")[-1]
        by_name = {c["name"]: c for c in task["containers"]}
        self.assertEqual(set(by_name), {"app", "sidecar"})
        for name, container in by_name.items():
            self.assertEqual(container["runtimeId"], hashlib.sha256(f"{task_id}/{name}".encode()).hexdigest())
        self.assertEqual(by_name["sidecar"]["memoryReservation"], "64")
        self.assertEqual(raw.errors, [])

    def test_ecs_service_launches_tasks(self) -> None:
        ecs = self.client("ecs")
        raw = RawCapture(ecs)
        network, _ = self.fargate_setup(
            "smoke-svc", "smoke-svc", [{"name": "web", "image": "web:1", "essential": True, "memory": 256}]
        )
        service = ecs.create_service(cluster="smoke-svc", serviceName="web", taskDefinition="smoke-svc",
                                     desiredCount=2, launchType="FARGATE", networkConfiguration=network)["service"]
        self.assertEqual(service["runningCount"], 2)
        arns = ecs.list_tasks(cluster="smoke-svc", serviceName="web")["taskArns"]
        self.assertEqual(len(arns), 2)
        tasks = ecs.describe_tasks(cluster="smoke-svc", tasks=arns)["tasks"]
        self.assertEqual({t["group"] for t in tasks}, {"service:web"})
        self.assertEqual({t["lastStatus"] for t in tasks}, {"RUNNING"})
        self.assertTrue(all(t["startedBy"].startswith("ecs-svc/") for t in tasks))
        self.assertEqual(ecs.list_tasks(cluster="smoke-svc", serviceName="other")["taskArns"], [])
        self.assertEqual(raw.errors, [])

    def test_ecs_list_tasks_pages_of_100(self) -> None:
        ecs = self.client("ecs")
        network, _ = self.fargate_setup(
            "smoke-pages", "smoke-pages", [{"name": "web", "image": "web:1", "essential": True, "memory": 256}]
        )
        ecs.create_service(cluster="smoke-pages", serviceName="web", taskDefinition="smoke-pages",
                           desiredCount=150, launchType="FARGATE", networkConfiguration=network)
        first = ecs.list_tasks(cluster="smoke-pages")
        self.assertEqual(len(first["taskArns"]), 100)
        second = ecs.list_tasks(cluster="smoke-pages", nextToken=first["nextToken"])
        self.assertEqual(len(second["taskArns"]), 50)
        self.assertNotIn("nextToken", second)
        self.assertEqual(len(set(first["taskArns"]) | set(second["taskArns"])), 150)
        paged = ecs.get_paginator("list_tasks").paginate(cluster="smoke-pages", PaginationConfig={"PageSize": 40})
        self.assertEqual(sum(len(p["taskArns"]) for p in paged), 150)

    def test_guardduty_list_coverage_follows_runtime_monitoring(self) -> None:
        ecs, gd = self.client("ecs"), self.client("guardduty")
        ecs.create_cluster(clusterName="gd-watched")
        ecs.create_cluster(clusterName="gd-excluded", tags=[{"key": "GuardDutyManaged", "value": "false"}])
        detector = gd.create_detector(Enable=True)["DetectorId"]
        ecs_only = {"FilterCriterion": [{"CriterionKey": "RESOURCE_TYPE", "FilterCondition": {"Equals": ["ECS"]}}]}

        def status() -> dict[str, str]:
            pages = gd.get_paginator("list_coverage").paginate(DetectorId=detector, FilterCriteria=ecs_only)
            return {r["ResourceDetails"]["EcsClusterDetails"]["ClusterName"]: r["CoverageStatus"]
                    for p in pages for r in p["Resources"]}

        before = status()
        self.assertEqual((before["gd-watched"], before["gd-excluded"]), ("UNHEALTHY", "UNHEALTHY"))
        gd.update_detector(DetectorId=detector, Features=[{
            "Name": "RUNTIME_MONITORING", "Status": "ENABLED",
            "AdditionalConfiguration": [{"Name": "ECS_FARGATE_AGENT_MANAGEMENT", "Status": "ENABLED"}]}])
        after = status()
        self.assertEqual((after["gd-watched"], after["gd-excluded"]), ("HEALTHY", "UNHEALTHY"))
        page = gd.list_coverage(DetectorId=detector, FilterCriteria=ecs_only, MaxResults=1)
        self.assertEqual(len(page["Resources"]), 1)
        self.assertIn("NextToken", page)
        self.assertIsNotNone(page["Resources"][0]["UpdatedAt"])
        with self.assertRaises(botocore.exceptions.ClientError):
            gd.list_coverage(DetectorId="0" * 32)

    @staticmethod
    def finding(finding_id: str, title: str = "Suspicious process") -> dict[str, Any]:
        now = "2026-01-01T00:00:00.000Z"
        return {
            "SchemaVersion": "2018-10-08",
            "Id": finding_id,
            "ProductArn": f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default",
            "GeneratorId": "vigil",
            "AwsAccountId": ACCOUNT,
            "Types": ["TTPs/Execution"],
            "CreatedAt": now,
            "UpdatedAt": now,
            "Severity": {"Label": "HIGH"},
            "Title": title,
            "Description": "smoke",
            "Resources": [{"Type": "AwsEcsTask", "Id": "arn:aws:ecs:us-east-1:123456789012:task/c/abc"}],
        }

    def test_securityhub_import_get_update(self) -> None:
        hub = self.client("securityhub")
        raw = RawCapture(hub)
        hub.enable_security_hub()
        product = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"

        first = hub.batch_import_findings(Findings=[self.finding("vigil-1", "first")])
        self.assertEqual((first["SuccessCount"], first["FailedCount"]), (1, 0))
        hub.batch_import_findings(Findings=[self.finding("vigil-1", "second")])
        hub.batch_import_findings(Findings=[self.finding("vigil-2")])
        by_id = hub.get_findings(Filters={"Id": [{"Value": "vigil-1", "Comparison": "EQUALS"}]})["Findings"]
        self.assertEqual(len(by_id), 1)
        self.assertEqual(by_id[0]["Title"], "second")
        self.assertEqual(by_id[0]["Workflow"], {"Status": "NEW"})
        both = hub.get_findings(Filters={"ProductArn": [{"Value": product, "Comparison": "EQUALS"}],
                                         "Id": [{"Value": "vigil-", "Comparison": "PREFIX"}]})["Findings"]
        self.assertEqual(sorted(f["Id"] for f in both), ["vigil-1", "vigil-2"])

        missing = self.finding("vigil-bad")
        del missing["GeneratorId"]
        unvalidated = self.client("securityhub", parameter_validation=False)  # let the server judge
        bad = unvalidated.batch_import_findings(Findings=[missing])
        self.assertEqual((bad["SuccessCount"], bad["FailedCount"]), (0, 1))

        updated = hub.batch_update_findings(
            FindingIdentifiers=[{"Id": "vigil-1", "ProductArn": product}, {"Id": "nope", "ProductArn": product}],
            Note={"Text": "task stopped", "UpdatedBy": "vigil"},
            Workflow={"Status": "RESOLVED"},
        )
        self.assertEqual(updated["ProcessedFindings"], [{"Id": "vigil-1", "ProductArn": product}])
        self.assertEqual(updated["UnprocessedFindings"][0]["FindingIdentifier"]["Id"], "nope")
        resolved = hub.get_findings(Filters={"WorkflowStatus": [{"Value": "RESOLVED", "Comparison": "EQUALS"}]})["Findings"]
        self.assertEqual([f["Id"] for f in resolved], ["vigil-1"])
        self.assertEqual(resolved[0]["Note"]["Text"], "task stopped")
        # A provider re-import must not undo the customer's workflow update (as on AWS).
        hub.batch_import_findings(Findings=[self.finding("vigil-1", "third")])
        again = hub.get_findings(Filters={"Id": [{"Value": "vigil-1", "Comparison": "EQUALS"}]})["Findings"][0]
        self.assertEqual((again["Title"], again["Workflow"]["Status"]), ("third", "RESOLVED"))
        self.assertEqual(raw.errors, [])

    def account_client(self, service: str, access_key: str, secret: str = "testing", token: str | None = None,
                       region: str = REGION) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.emulator.url,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret,
            aws_session_token=token,
            config=botocore.config.Config(retries={"max_attempts": 1}),
        )

    def test_securityhub_import_refuses_another_account_or_region_whole(self) -> None:
        # As AWS: one finding naming another account or region than the caller's fails the whole
        # call with AccessDeniedException (403), and nothing of it is imported.
        hub = self.client("securityhub")
        hub.enable_security_hub()
        own = self.finding("acct-own-1")
        for field, value in (("AwsAccountId", "210987654321"), ("Region", "eu-west-1")):
            foreign = self.finding("acct-foreign")
            foreign[field] = value
            with self.assertRaises(botocore.exceptions.ClientError) as refused:
                hub.batch_import_findings(Findings=[own, foreign])
            self.assertEqual(refused.exception.response["Error"]["Code"], "AccessDeniedException")
            self.assertEqual(refused.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)
        by_id = hub.get_findings(Filters={"Id": [{"Value": "acct-own-1", "Comparison": "EQUALS"}]})["Findings"]
        self.assertEqual(by_id, [], "nothing of a refused call is imported")
        self.assertEqual(hub.batch_import_findings(Findings=[own])["SuccessCount"], 1)

    def test_accounts_from_access_key_and_assumed_role(self) -> None:
        # A 12-digit access key id is that account; AssumeRole's credentials are the role's account.
        member = "111122223333"
        direct = self.account_client("sts", member).get_caller_identity()
        self.assertEqual(direct["Account"], member)
        assumed = self.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{member}:role/VigilMember", RoleSessionName="vigil", ExternalId="vigil-external",
        )["Credentials"]
        region = "eu-west-1"
        hub = self.account_client("securityhub", assumed["AccessKeyId"], assumed["SecretAccessKey"],
                                  assumed["SessionToken"], region=region)
        self.assertEqual(self.account_client("sts", assumed["AccessKeyId"], assumed["SecretAccessKey"],
                                             assumed["SessionToken"]).get_caller_identity()["Account"], member)
        hub.enable_security_hub()
        finding = self.finding("acct-member-1")
        finding.update(AwsAccountId=member, Region=region,
                       ProductArn=f"arn:aws:securityhub:{region}:{member}:product/{member}/default")
        self.assertEqual(hub.batch_import_findings(Findings=[finding])["SuccessCount"], 1)
        self.assertEqual([f["Id"] for f in hub.get_findings()["Findings"]], ["acct-member-1"])
        # The default account's hub in the default region holds none of it.
        central = self.client("securityhub").get_findings(
            Filters={"Id": [{"Value": "acct-member-1", "Comparison": "EQUALS"}]})["Findings"]
        self.assertEqual(central, [])
        with self.assertRaises(botocore.exceptions.ClientError) as refused:
            self.client("securityhub").batch_import_findings(Findings=[finding])
        self.assertEqual(refused.exception.response["Error"]["Code"], "AccessDeniedException")

    def test_eventbridge_to_sqs(self) -> None:
        events, sqs = self.client("events"), self.client("sqs")
        raws = [RawCapture(events), RawCapture(sqs)]
        queues = {}
        for name in ("smoke-enabled", "smoke-disabled"):
            url = sqs.create_queue(QueueName=name)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            queues[name] = url
            pattern = {"source": ["vigil.smoke"]}
            events.put_rule(Name=name, EventPattern=json.dumps(pattern),
                            State="ENABLED" if name == "smoke-enabled" else "DISABLED")
            events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": arn}])
        put = events.put_events(Entries=[{"Source": "vigil.smoke", "DetailType": 'Runtime "finding"',
                                          "Detail": json.dumps({"k": "v"}), "Resources": ["arn:aws:ecs:x"]}])
        self.assertEqual(put["FailedEntryCount"], 0)

        messages = sqs.receive_message(QueueUrl=queues["smoke-enabled"], WaitTimeSeconds=2).get("Messages", [])
        self.assertEqual(len(messages), 1)
        envelope = json.loads(messages[0]["Body"])
        self.assertEqual(envelope["account"], ACCOUNT)
        self.assertEqual(envelope["source"], "vigil.smoke")
        self.assertEqual(envelope["detail-type"], 'Runtime "finding"')
        self.assertEqual(envelope["detail"], {"k": "v"})
        self.assertEqual(envelope["region"], REGION)
        self.assertEqual(envelope["resources"], ["arn:aws:ecs:x"])
        self.assertEqual(envelope["id"], put["Entries"][0]["EventId"])
        self.assertRegex(envelope["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        disabled = sqs.receive_message(QueueUrl=queues["smoke-disabled"], WaitTimeSeconds=1).get("Messages", [])
        self.assertEqual(disabled, [])
        self.assertEqual([e for raw in raws for e in raw.errors], [])

    def test_eventbridge_cross_account_put_events(self) -> None:
        # A member account's agent sends to the central bus by its ARN: the event arrives there,
        # stamped with the member's account; its own buses get nothing.
        events, sqs = self.client("events"), self.client("sqs")
        events.create_event_bus(Name="central-agents")
        url = sqs.create_queue(QueueName="central-agents-q")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="all", EventBusName="central-agents", EventPattern=json.dumps({"source": ["falco"]}))
        events.put_targets(Rule="all", EventBusName="central-agents", Targets=[{"Id": "q", "Arn": arn}])
        member = "444455556666"
        bus_arn = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/central-agents"
        put = self.account_client("events", member).put_events(Entries=[
            {"EventBusName": bus_arn, "Source": "falco", "DetailType": "Falco Alert", "Detail": json.dumps({"rule": "x"})},
        ])
        self.assertEqual(put["FailedEntryCount"], 0)
        messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages", [])
        self.assertEqual(len(messages), 1)
        envelope = json.loads(messages[0]["Body"])
        self.assertEqual(envelope["account"], member)
        self.assertEqual(envelope["detail"], {"rule": "x"})
        # The central account's own sends keep its account.
        events.put_events(Entries=[{"EventBusName": "central-agents", "Source": "falco", "DetailType": "Falco Alert",
                                    "Detail": json.dumps({"rule": "y"})}])
        messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages", [])
        self.assertEqual([json.loads(m["Body"])["account"] for m in messages], [ACCOUNT])

    def test_dynamodb_transaction_tokens_make_retries_idempotent(self) -> None:
        ddb = self.client("dynamodb")
        ddb.create_table(
            TableName="tokens",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )

        def put(value: str, token: str) -> None:
            ddb.transact_write_items(
                ClientRequestToken=token,
                TransactItems=[{"Update": {
                    "TableName": "tokens", "Key": {"pk": {"S": "a"}},
                    "UpdateExpression": "ADD n :one SET v = :v",
                    "ConditionExpression": "attribute_not_exists(pk)",
                    "ExpressionAttributeValues": {":one": {"N": "1"}, ":v": {"S": value}},
                }}],
            )

        put("first", "token-1")
        # The retry of a transaction that succeeded (its response lost): success, nothing changed.
        put("first", "token-1")
        self.assertEqual(ddb.get_item(TableName="tokens", Key={"pk": {"S": "a"}})["Item"]["n"], {"N": "1"})
        # Another call is judged on its conditions; the same token with other parameters is refused.
        with self.assertRaises(ddb.exceptions.TransactionCanceledException):
            put("first", "token-2")
        with self.assertRaises(ddb.exceptions.IdempotentParameterMismatchException):
            put("second", "token-1")

    def test_dynamodb_failed_transaction_changes_nothing(self) -> None:
        ddb = self.client("dynamodb")
        ddb.create_table(
            TableName="rollback",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        ddb.put_item(TableName="rollback", Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "n": {"N": "1"}})
        key = lambda pk: {"pk": {"S": pk}, "sk": {"S": "1"}}  # noqa: E731
        with self.assertRaises(ddb.exceptions.TransactionCanceledException):
            ddb.transact_write_items(TransactItems=[
                {"Update": {"TableName": "rollback", "Key": key("a"), "UpdateExpression": "SET n = :two",
                            "ExpressionAttributeValues": {":two": {"N": "2"}}}},
                {"Put": {"TableName": "rollback", "Item": key("b")}},
                {"Update": {"TableName": "rollback", "Key": key("c"), "UpdateExpression": "SET n = :two",
                            "ConditionExpression": "attribute_exists(pk)", "ExpressionAttributeValues": {":two": {"N": "2"}}}},
            ])
        # The items the first two operations changed are back as they were; nothing was added.
        items = ddb.scan(TableName="rollback")["Items"]
        self.assertEqual(items, [{"pk": {"S": "a"}, "sk": {"S": "1"}, "n": {"N": "1"}}])

    def test_api_call_counts(self) -> None:
        ddb, ecs, hub, sqs = self.client("dynamodb"), self.client("ecs"), self.client("securityhub"), self.client("sqs")
        raws = [RawCapture(c) for c in (ddb, ecs, hub, sqs)]
        ddb.create_table(TableName="smoke-dedup", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        ecs.create_cluster(clusterName="smoke-count")
        self.vigil("POST", "/_vigil/api-calls/reset")
        for i in range(3):
            ddb.update_item(TableName="smoke-dedup", Key={"pk": {"S": f"k{i}"}},
                            UpdateExpression="SET n = :n", ExpressionAttributeValues={":n": {"N": "1"}})
        ecs.list_tasks(cluster="smoke-count")
        hub.enable_security_hub()
        hub.get_findings()
        hub.batch_import_findings(Findings=[self.finding("count-1")])
        hub.batch_update_findings(FindingIdentifiers=[{"Id": "count-1", "ProductArn": self.finding("x")["ProductArn"]}],
                                  Workflow={"Status": "NOTIFIED"})
        sqs.list_queues()
        self.client("ec2").describe_vpcs()
        counts = self.vigil("GET", "/_vigil/api-calls")
        self.assertEqual(counts["dynamodb"], {"UpdateItem": 3})
        self.assertEqual(counts["ecs"], {"ListTasks": 1})
        self.assertEqual(counts["securityhub"], {"EnableSecurityHub": 1, "GetFindings": 1,
                                                 "BatchImportFindings": 1, "BatchUpdateFindings": 1})
        self.assertEqual(counts["sqs"], {"ListQueues": 1})
        self.assertEqual(counts["ec2"], {"DescribeVpcs": 1})
        self.assertEqual(self.vigil("POST", "/_vigil/api-calls/reset"), counts)
        self.assertEqual(self.vigil("GET", "/_vigil/api-calls"), {})
        self.assertEqual([e for raw in raws for e in raw.errors], [])

    def test_write_units_follow_item_sizes(self) -> None:
        ddb = self.client("dynamodb")
        ddb.create_table(TableName="smoke-units", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        self.vigil("POST", "/_vigil/api-calls/reset")
        # "pk" + "small" = 7 bytes; "pk" + "big" + "v" + 1,500 = 1,506 bytes; a number of 3 digits: 1 + 3.
        ddb.put_item(TableName="smoke-units", Item={"pk": {"S": "small"}})
        ddb.put_item(TableName="smoke-units", Item={"pk": {"S": "big"}, "v": {"S": "x" * 1500}})
        ddb.update_item(TableName="smoke-units", Key={"pk": {"S": "big"}}, UpdateExpression="REMOVE v")
        ddb.update_item(TableName="smoke-units", Key={"pk": {"S": "small"}}, UpdateExpression="SET n = :n",
                        ExpressionAttributeValues={":n": {"N": "123"}})
        with self.assertRaises(botocore.exceptions.ClientError):
            ddb.update_item(TableName="smoke-units", Key={"pk": {"S": "small"}}, UpdateExpression="SET n = :n",
                            ConditionExpression="attribute_not_exists(pk)", ExpressionAttributeValues={":n": {"N": "1"}})
        ddb.transact_write_items(TransactItems=[{"Put": {"TableName": "smoke-units", "Item": {"pk": {"S": "t"}}}}])
        meter = self.vigil("GET", "/_vigil/write-units")
        self.assertEqual(meter["units"], {"PutItem": 1 + 2, "UpdateItem": 2 + 1 + 1, "TransactWriteItems": 2})
        self.assertEqual(meter["writes"], {"PutItem": 2, "UpdateItem": 3, "TransactWriteItems": 1})
        self.assertEqual(meter["largest"]["big"], 1506)
        self.assertEqual(meter["largest"]["small"], 7 + 1 + 3)
        self.assertEqual(meter["over_1kb"], {"big": 2})
        self.vigil("POST", "/_vigil/api-calls/reset")
        self.assertEqual(self.vigil("GET", "/_vigil/write-units")["units"], {})

    def test_shutdown_without_state_file_is_refused(self) -> None:
        with self.assertRaises(urllib.error.HTTPError) as refused:
            self.vigil("POST", "/_vigil/shutdown")
        self.assertEqual(refused.exception.code, 409)
        self.assertIn("--state-file", json.loads(refused.exception.read())["error"])
        self.assertEqual(self.vigil("GET", "/_vigil/health"), {"ok": True})


class VigilEmulatorRestartTest(unittest.TestCase):
    """POST /_vigil/shutdown saves the state; a new launcher on the same port and file restores it."""

    def setUp(self) -> None:
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        self.state_file = os.path.join(directory.name, "emulator.state")

    def start(self, port: int = 0) -> Emulator:
        emulator = Emulator("--exit-on-stdin-eof", "--state-file", self.state_file, port=port)
        self.addCleanup(emulator.stop)
        return emulator

    @staticmethod
    def client(emulator: Emulator, service: str) -> Any:
        # No retries: a request cut by the shutdown must fail, not be replayed against the next process.
        return boto3.client(
            service,
            endpoint_url=emulator.url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=botocore.config.Config(retries={"max_attempts": 1}),
        )

    @staticmethod
    def vigil(emulator: Emulator, method: str, path: str) -> Any:
        request = urllib.request.Request(emulator.url + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def shutdown(self, emulator: Emulator) -> dict[str, Any]:
        answer = self.vigil(emulator, "POST", "/_vigil/shutdown")
        self.assertEqual(emulator.proc.wait(timeout=60), 0, emulator.stderr_text())
        return answer

    def wait_for_count(self, emulator: Emulator, service: str, operation: str) -> None:
        deadline = time.monotonic() + 30
        while self.vigil(emulator, "GET", "/_vigil/api-calls").get(service, {}).get(operation, 0) < 1:
            self.assertLess(time.monotonic(), deadline, f"{service} {operation} never reached the emulator")
            time.sleep(0.05)

    def test_state_survives_shutdown_and_restart(self) -> None:
        first = self.start()
        port = int(first.url.rsplit(":", 1)[1])
        ddb, sqs, events, ecs, hub, iam = (self.client(first, s) for s in ("dynamodb", "sqs", "events", "ecs", "securityhub", "iam"))

        ddb.create_table(TableName="restart-table", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        item = {"pk": {"S": "a"}, "n": {"N": "42"}, "tags": {"L": [{"S": "x"}, {"M": {"k": {"BOOL": True}}}]}}
        ddb.put_item(TableName="restart-table", Item=item)
        ddb.put_item(TableName="restart-table", Item={"pk": {"S": "b"}})

        dlq_url = sqs.create_queue(QueueName="restart-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})
        main_url = sqs.create_queue(QueueName="restart-main", Attributes={"RedrivePolicy": redrive})["QueueUrl"]
        sqs.send_message(QueueUrl=main_url, MessageBody="m1")
        sqs.send_message(QueueUrl=main_url, MessageBody="m2")
        # In flight across the restart: invisible for 10 minutes, so no timing decides the asserts below.
        received = sqs.receive_message(QueueUrl=main_url, MaxNumberOfMessages=1, VisibilityTimeout=600,
                                       AttributeNames=["ApproximateReceiveCount"])["Messages"]
        self.assertEqual([(m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in received], [("m1", "1")])
        in_flight = received[0]

        events.create_event_bus(Name="restart-bus")
        tap_url = sqs.create_queue(QueueName="restart-tap")["QueueUrl"]
        tap_arn = sqs.get_queue_attributes(QueueUrl=tap_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="restart-rule", EventBusName="restart-bus", EventPattern=json.dumps({"source": ["vigil.restart"]}))
        events.put_targets(Rule="restart-rule", EventBusName="restart-bus", Targets=[{"Id": "tap", "Arn": tap_arn}])

        ecs.create_cluster(clusterName="restart-cluster")
        ecs.register_task_definition(family="restart-td", requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
                                     cpu="256", memory="512",
                                     containerDefinitions=[{"name": "app", "image": "app:1", "essential": True}])
        subnet = self.vigil(first, "GET", "/_vigil/default-subnet")
        task_arn = ecs.run_task(cluster="restart-cluster", taskDefinition="restart-td", launchType="FARGATE",
                                networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet["subnet_id"]]}})["tasks"][0]["taskArn"]
        ecs.create_service(cluster="restart-cluster", serviceName="restart-svc", taskDefinition="restart-td", desiredCount=1,
                           launchType="FARGATE", networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet["subnet_id"]]}})
        service_tasks = ecs.list_tasks(cluster="restart-cluster", serviceName="restart-svc")["taskArns"]
        self.assertEqual(len(service_tasks), 1)

        hub.enable_security_hub()
        imported = hub.batch_import_findings(Findings=[VigilEmulatorSmokeTest.finding("restart-1", "before restart")])
        self.assertEqual(imported["SuccessCount"], 1)
        iam.create_role(RoleName="restart-role", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))

        counts_before = self.vigil(first, "GET", "/_vigil/api-calls")
        answer = self.shutdown(first)
        self.assertEqual(answer["not_saved"], {})
        self.assertLessEqual({"dynamodb", "sqs", "events", "ecs", "securityhub", "ec2", "iam"}, set(answer["saved"]))
        self.assertTrue(os.path.isfile(self.state_file))
        with self.assertRaises(urllib.error.URLError) as down:
            self.vigil(first, "GET", "/_vigil/health")
        self.assertIsInstance(down.exception.reason, ConnectionRefusedError)

        second = self.start(port=port)
        self.assertEqual(second.url, first.url)
        self.assertIn("state restored from", second.stderr_text())
        self.assertEqual(self.vigil(second, "GET", "/_vigil/api-calls"), counts_before)
        ddb, sqs, events, ecs, hub, iam = (self.client(second, s) for s in ("dynamodb", "sqs", "events", "ecs", "securityhub", "iam"))

        # DynamoDB: the table, its items, and writes after the restart.
        self.assertEqual(ddb.get_item(TableName="restart-table", Key={"pk": {"S": "a"}})["Item"], item)
        ddb.put_item(TableName="restart-table", Item={"pk": {"S": "c"}})
        self.assertEqual(sorted(i["pk"]["S"] for i in ddb.scan(TableName="restart-table")["Items"]), ["a", "b", "c"])

        # SQS: m1 is still invisible (its deadline survived), m2 is visible.
        attributes = sqs.get_queue_attributes(QueueUrl=main_url, AttributeNames=["All"])["Attributes"]
        self.assertEqual((attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"]), ("1", "1"))
        self.assertEqual(json.loads(attributes["RedrivePolicy"]), {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
        visible = sqs.receive_message(QueueUrl=main_url, MaxNumberOfMessages=10, VisibilityTimeout=600,
                                      AttributeNames=["ApproximateReceiveCount"])["Messages"]
        self.assertEqual([(m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in visible], [("m2", "1")])
        # The receipt handle from before the restart still works: shorten m1's timeout, wait it out.
        sqs.change_message_visibility(QueueUrl=main_url, ReceiptHandle=in_flight["ReceiptHandle"], VisibilityTimeout=1)
        again: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while not again:
            self.assertLess(time.monotonic(), deadline, "m1 never became visible again")
            time.sleep(0.2)
            again = sqs.receive_message(QueueUrl=main_url, VisibilityTimeout=600,
                                        AttributeNames=["ApproximateReceiveCount"]).get("Messages", [])
        self.assertEqual([(m["MessageId"], m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in again],
                         [(in_flight["MessageId"], "m1", "2")])
        # Received maxReceiveCount times: the next receive moves it to the DLQ (redrive policy and DLQ link kept).
        sqs.change_message_visibility(QueueUrl=main_url, ReceiptHandle=again[0]["ReceiptHandle"], VisibilityTimeout=0)
        self.assertEqual(sqs.receive_message(QueueUrl=main_url).get("Messages", []), [])
        self.assertEqual([m["Body"] for m in sqs.receive_message(QueueUrl=dlq_url)["Messages"]], ["m1"])
        self.assertEqual(sqs.list_dead_letter_source_queues(QueueUrl=dlq_url)["queueUrls"], [main_url])

        # EventBridge: the bus, rule and SQS target still deliver.
        put = events.put_events(Entries=[{"EventBusName": "restart-bus", "Source": "vigil.restart",
                                          "DetailType": "after", "Detail": json.dumps({"k": "v"})}])
        self.assertEqual(put["FailedEntryCount"], 0)
        delivered = sqs.receive_message(QueueUrl=tap_url, MaxNumberOfMessages=10).get("Messages", [])
        self.assertEqual([json.loads(m["Body"])["detail"] for m in delivered], [{"k": "v"}])

        # ECS: the cluster, the task definition and the task, still RUNNING (the launcher's lifecycle
        # transition holds after the restart: describing does not advance it).
        transition = self.vigil(second, "GET", "/moto-api/state-manager/get-transition?model_name=ecs::task")
        self.assertEqual(transition, {"progression": "manual", "times": 10**9})
        for _ in range(3):
            described = ecs.describe_tasks(cluster="restart-cluster", tasks=[task_arn])["tasks"]
            self.assertEqual([(t["taskArn"], t["lastStatus"]) for t in described], [(task_arn, "RUNNING")])
        self.assertEqual(sorted(ecs.list_tasks(cluster="restart-cluster")["taskArns"]), sorted([task_arn, *service_tasks]))
        self.assertEqual(ecs.list_tasks(cluster="restart-cluster", serviceName="restart-svc")["taskArns"], service_tasks)
        service = ecs.describe_services(cluster="restart-cluster", services=["restart-svc"])["services"][0]
        self.assertEqual((service["status"], service["desiredCount"], service["runningCount"]), ("ACTIVE", 1, 1))
        self.assertEqual(ecs.describe_tasks(cluster="restart-cluster", tasks=service_tasks)["tasks"][0]["lastStatus"], "RUNNING")
        self.assertEqual(ecs.describe_task_definition(taskDefinition="restart-td")["taskDefinition"]["status"], "ACTIVE")
        self.assertEqual(ecs.stop_task(cluster="restart-cluster", task=task_arn)["task"]["lastStatus"], "STOPPED")

        # Security Hub: still enabled, the finding is there. EC2: the same default subnet. IAM: the role.
        self.assertIn("HubArn", hub.describe_hub())
        findings = hub.get_findings(Filters={"Id": [{"Value": "restart-1", "Comparison": "EQUALS"}]})["Findings"]
        self.assertEqual([f["Title"] for f in findings], ["before restart"])
        self.assertEqual(self.vigil(second, "GET", "/_vigil/default-subnet")["subnet_id"], subnet["subnet_id"])
        self.assertEqual(iam.get_role(RoleName="restart-role")["Role"]["RoleName"], "restart-role")

        # The API-call counts continued from where they were.
        counts = self.vigil(second, "GET", "/_vigil/api-calls")
        self.assertEqual(counts["dynamodb"]["PutItem"], counts_before["dynamodb"]["PutItem"] + 1)
        self.assertEqual(counts["dynamodb"]["CreateTable"], 1)
        self.assertEqual(counts["ecs"]["RunTask"], 1)

    def test_shutdown_cuts_queued_requests(self) -> None:
        first = self.start()
        port = int(first.url.rsplit(":", 1)[1])
        ddb, sqs = self.client(first, "dynamodb"), self.client(first, "sqs")
        ddb.create_table(TableName="cut-table", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        poll_url = sqs.create_queue(QueueName="cut-poll")["QueueUrl"]
        outcomes: dict[str, Any] = {}

        def run(name: str, call: Any) -> None:
            try:
                call()
                outcomes[name] = "answered"
            except Exception as exc:
                outcomes[name] = exc

        # A long poll on an empty queue is served for 3 s (requests are serialized); a write queues behind it.
        poll = threading.Thread(target=run, args=("poll", lambda: self.client(first, "sqs").receive_message(
            QueueUrl=poll_url, WaitTimeSeconds=3)))
        poll.start()
        self.wait_for_count(first, "sqs", "ReceiveMessage")
        time.sleep(0.3)  # counted just before it takes the lock; give it that instant
        write = threading.Thread(target=run, args=("write", lambda: self.client(first, "dynamodb").put_item(
            TableName="cut-table", Item={"pk": {"S": "queued"}})))
        write.start()
        self.wait_for_count(first, "dynamodb", "PutItem")

        self.shutdown(first)
        write.join(timeout=30)
        poll.join(timeout=30)
        self.assertIsInstance(outcomes["write"], botocore.exceptions.ConnectionError, outcomes)

        second = self.start(port=port)
        ddb = self.client(second, "dynamodb")
        self.assertNotIn("Item", ddb.get_item(TableName="cut-table", Key={"pk": {"S": "queued"}}))
        ddb.put_item(TableName="cut-table", Item={"pk": {"S": "after"}})
        self.assertIn("Item", ddb.get_item(TableName="cut-table", Key={"pk": {"S": "after"}}))

    def test_unpicklable_service_is_named_and_the_others_saved(self) -> None:
        # Save from a separate process whose events backend holds a lambda (standing for a thread or
        # generator some moto model might keep): events is reported, SQS is saved and restored.
        script = f"""
import json, sys
sys.path.insert(0, {HERE!r})
import vigil_emulator
from moto.events.models import events_backends
from moto.sqs.models import sqs_backends
sqs_backends[{ACCOUNT!r}][{REGION!r}].create_queue("saved-queue")
events_backends[{ACCOUNT!r}][{REGION!r}].unpicklable = lambda: None
print(json.dumps(vigil_emulator.save_state({self.state_file!r}, {{"sqs": {{"CreateQueue": 1}}}})))
"""
        saved = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
        self.assertEqual(saved.returncode, 0, saved.stderr)
        summary = json.loads(saved.stdout)
        self.assertEqual(list(summary["not_saved"]), ["events"])
        self.assertIn("sqs", summary["saved"])

        emulator = self.start()
        self.assertIn("NOT restored (could not be saved): {'events'", emulator.stderr_text())
        self.assertIn("/saved-queue", " ".join(self.client(emulator, "sqs").list_queues()["QueueUrls"]))
        self.assertEqual(self.vigil(emulator, "GET", "/_vigil/api-calls")["sqs"], {"CreateQueue": 1, "ListQueues": 1})

    def test_unreadable_state_file_fails_start(self) -> None:
        with open(self.state_file, "wb") as f:
            f.write(b"not a state file")
        result = subprocess.run([sys.executable, LAUNCHER, "--port", "0", "--state-file", self.state_file],
                                capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertEqual(result.stdout, b"")
        self.assertIn(b"cannot restore the state", result.stderr)


class SqsScalingTest(unittest.TestCase):
    """The SQS patches in-process, on moto's backend: same behaviour as moto's, and per request work
    that does not grow with the queue (counted in messages examined, not timed)."""

    @classmethod
    def setUpClass(cls) -> None:
        sys.path.insert(0, HERE)
        import vigil_emulator
        from moto.sqs.models import Message

        if not getattr(vigil_emulator, "_patched_in_test", False):
            vigil_emulator.apply_patches()
            vigil_emulator._patched_in_test = True
        cls.examined = {"visible": 0, "had_receipt_handle": 0}
        examined = cls.examined
        orig_visible = Message.visible.fget
        orig_had = Message.had_receipt_handle

        def visible(self):  # type: ignore[no-untyped-def]
            examined["visible"] += 1
            return orig_visible(self)

        def had_receipt_handle(self, handle):  # type: ignore[no-untyped-def]
            examined["had_receipt_handle"] += 1
            return orig_had(self, handle)

        Message.visible = property(visible)  # type: ignore[assignment]
        Message.had_receipt_handle = had_receipt_handle  # type: ignore[method-assign]
        from moto.sqs.models import sqs_backends

        cls.backend = sqs_backends[ACCOUNT][REGION]

    def test_filling_and_draining_a_queue_examines_each_message_a_bounded_number_of_times(self) -> None:
        b = self.backend
        dlq = b.create_queue("scaling-dlq")
        b.create_queue("scaling", RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq.queue_arn, "maxReceiveCount": 2}))
        n = 3000
        for i in range(0, n, 10):
            b.send_message_batch("scaling", {str(j): {"Id": str(j), "MessageBody": f"m{i + j}", "MessageAttributes": {},
                                                      "DelaySeconds": None} for j in range(10)})
        attributes = b.get_queue_attributes("scaling", ["ApproximateNumberOfMessages"])
        self.assertEqual(attributes["ApproximateNumberOfMessages"], n)
        for k in self.examined:
            self.examined[k] = 0

        received: list[str] = []
        kept_back = None
        while True:
            batch = b.receive_message("scaling", 10, 0, 30)
            if not batch:
                break
            if kept_back is None:
                # The first batch's first message is handed back, then comes again later.
                kept_back = batch[0].body
                b.change_message_visibility("scaling", batch[0].receipt_handle, 0)
                batch = batch[1:]
            received += [m.body for m in batch]
            _, errors = b.delete_message_batch("scaling", [{"Id": str(k), "ReceiptHandle": m.receipt_handle}
                                                           for k, m in enumerate(batch)])
            self.assertEqual(errors, [])
        self.assertEqual(sorted(received), sorted(f"m{i}" for i in range(n)), "every message once")
        self.assertEqual(received.count(kept_back), 1)
        self.assertEqual(b.get_queue_attributes("scaling", ["ApproximateNumberOfMessages",
                                                            "ApproximateNumberOfMessagesNotVisible"]),
                         {"ApproximateNumberOfMessages": 0, "ApproximateNumberOfMessagesNotVisible": 0})
        # moto alone: ~n^2/20 visibility checks (every visible message listed per receive of ten) and
        # ~n^2/2 receipt-handle checks (each delete asks every message). Patched: about one each.
        self.assertLessEqual(self.examined["visible"], 2 * n)
        self.assertEqual(self.examined["had_receipt_handle"], 0)

        # Deleting twice is still harmless; a handle never handed out is still refused.
        b.send_message("scaling", "again")
        [m] = b.receive_message("scaling", 1, 0, 30)
        b.delete_message("scaling", m.receipt_handle)
        b.delete_message("scaling", m.receipt_handle)
        from moto.sqs.exceptions import ReceiptHandleIsInvalid

        with self.assertRaises(ReceiptHandleIsInvalid):
            b.delete_message("scaling", "not-a-handle")
        with self.assertRaises(ReceiptHandleIsInvalid):
            b.change_message_visibility("scaling", m.receipt_handle, 0)

        # A message received too often still goes to the dead-letter queue.
        b.send_message("scaling", "poison")
        for _ in range(2):
            [m] = b.receive_message("scaling", 1, 0, 30)
            b.change_message_visibility("scaling", m.receipt_handle, 0)
        self.assertEqual(b.receive_message("scaling", 1, 0, 30), [])
        self.assertEqual([m.body for m in b.receive_message("scaling-dlq", 10, 0, 30)], ["poison"])


class DynamoDbUpdateValidationTest(unittest.TestCase):
    """The UpdateExpression validation patch in-process: the same refusals, each clause counted once."""

    def test_clauses_are_counted_once_and_still_refused_twice(self) -> None:
        sys.path.insert(0, HERE)
        import vigil_emulator
        from moto import mock_aws
        from moto.dynamodb.parsing.validators import ActionCountValidator

        if not getattr(vigil_emulator, "_patched_in_test", False):
            vigil_emulator.apply_patches()
            vigil_emulator._patched_in_test = True
        checks = []
        orig = ActionCountValidator.verify_action_counts

        def verify(self, node):  # type: ignore[no-untyped-def]
            checks.append(node)
            return orig(self, node)

        ActionCountValidator.verify_action_counts = verify  # type: ignore[method-assign]
        try:
            with mock_aws():
                ddb = boto3.client("dynamodb", region_name=REGION)
                ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                 AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                                 BillingMode="PAY_PER_REQUEST")
                sets = ", ".join(f"a{i} = if_not_exists(a{i}, :v)" for i in range(14))
                ddb.update_item(TableName="t", Key={"pk": {"S": "k"}}, UpdateExpression=f"SET {sets} ADD n :one REMOVE x, y",
                                ExpressionAttributeValues={":v": {"S": "v"}, ":one": {"N": "1"}})
                # moto validates an update of a new item twice; alone it checked the count at every nested
                # node (170 here). Patched: at the root, and once per expression text and names (the second
                # validation skips the checks that read only those: patch_dynamodb_update_expression_cache).
                self.assertEqual(len(checks), 1, "the clause count checked once, at the root")
                item = ddb.get_item(TableName="t", Key={"pk": {"S": "k"}})["Item"]
                self.assertEqual((item["a13"], item["n"]), ({"S": "v"}, {"N": "1"}))
                with self.assertRaises(botocore.exceptions.ClientError) as refused:
                    ddb.update_item(TableName="t", Key={"pk": {"S": "k"}}, UpdateExpression="SET a = :v SET b = :v",
                                    ExpressionAttributeValues={":v": {"S": "v"}})
                self.assertIn("SET", str(refused.exception))
                with self.assertRaises(botocore.exceptions.ClientError):
                    ddb.update_item(TableName="t", Key={"pk": {"S": "k"}}, UpdateExpression="SET a = :v, a = :v",
                                    ExpressionAttributeValues={":v": {"S": "v"}})
        finally:
            ActionCountValidator.verify_action_counts = orig  # type: ignore[method-assign]


def _patched_in_process() -> Any:
    sys.path.insert(0, HERE)
    import vigil_emulator

    if not getattr(vigil_emulator, "_patched_in_test", False):
        vigil_emulator.apply_patches()
        vigil_emulator._patched_in_test = True
    return vigil_emulator


class Counting:
    """Replaces `owner.name` by a wrapper that counts calls (those `which` accepts), until exit."""

    def __init__(self, owner: Any, name: str, which: Any = None) -> None:
        self.owner, self.name, self.which, self.calls = owner, name, which, 0

    def __enter__(self) -> "Counting":
        self.orig = self.owner.__dict__[self.name]
        orig = self.orig.__func__ if isinstance(self.orig, (classmethod, staticmethod)) else self.orig

        def counted(*args: Any, **kwargs: Any) -> Any:
            if self.which is None or self.which(*args, **kwargs):
                self.calls += 1
            return orig(*args, **kwargs)

        setattr(self.owner, self.name, classmethod(counted) if isinstance(self.orig, classmethod) else counted)
        return self

    def __exit__(self, *exc: Any) -> None:
        setattr(self.owner, self.name, self.orig)


class PerformancePatchesAnswerAsBeforeTest(unittest.TestCase):
    """The patches that only save work (vigil_emulator.PERFORMANCE_PATCHES) change no answer: one scenario
    of DynamoDB writes (Vigil's dedup write repeated and refused, valid and invalid expressions, each
    twice, with other names), SQS (send, receive, visibility, delete, redrive to the DLQ, attributes)
    and EventBridge delivery, answered identically with and without them."""

    def test_the_same_answers_with_and_without_them(self) -> None:
        sys.path.insert(0, HERE)
        import vigil_emulator

        source = inspect.getsource(vigil_emulator.apply_patches)
        for name in vigil_emulator.PERFORMANCE_PATCHES:
            self.assertIn(f"    {name}()", source, f"{name} is applied")
        scenario = os.path.join(HERE, "moto_scenario.py")
        runs = {}
        for mode in ("patched", "without-performance-patches"):
            done = subprocess.run([sys.executable, scenario, mode], capture_output=True, timeout=600,
                                  stdin=subprocess.DEVNULL)
            self.assertEqual(done.returncode, 0, done.stderr.decode()[-3000:])
            runs[mode] = done.stdout.decode()
        patched, without = runs["patched"], runs["without-performance-patches"]
        # The scenario reaches what it is meant to: refusals of each kind, redelivery, the DLQ.
        for expected in ("ConditionalCheckFailedException", "This attribute is part of the key",
                         "Two document paths overlap", "ReceiptHandleIsInvalid", '"Body": "m0"', '"BOOL": false'):
            self.assertIn(expected, without)
        self.assertEqual(patched.splitlines(), without.splitlines())


class DynamoDbUpdateWorkTest(unittest.TestCase):
    """The DynamoDB patches in-process: the work they save is not done again (counted, not timed)."""

    @classmethod
    def setUpClass(cls) -> None:
        _patched_in_process()

    def test_an_expression_text_is_parsed_and_lexed_once_and_checked_once_per_names(self) -> None:
        from moto import mock_aws
        from moto.dynamodb.comparisons import ConditionExpressionParser
        from moto.dynamodb.parsing import validators
        from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, UpdateExpression
        from moto.dynamodb.parsing.tokens import ExpressionTokenizer

        update = "SET #e = :e, #s = if_not_exists(#s, :s) ADD #c :one, #ids :d REMOVE #old"
        names = {"#e": "expires", "#s": "severity", "#c": "count", "#ids": "ids", "#old": "old"}
        condition = "attribute_not_exists(pk) OR NOT contains(#ids, :d0)"

        def write(ddb: Any, i: int, **over: Any) -> Any:
            d = bytes([i]) * 8
            kwargs = dict(TableName="t", Key={"pk": {"S": "k"}}, UpdateExpression=update, ConditionExpression=condition,
                          ExpressionAttributeNames=names, ReturnValues="ALL_OLD",
                          ExpressionAttributeValues={":e": {"N": str(i)}, ":s": {"S": "s"}, ":one": {"N": "1"},
                                                     ":d": {"BS": [d]}, ":d0": {"B": d}})
            kwargs.update(over)
            return ddb.update_item(**kwargs)

        with mock_aws():
            ddb = boto3.client("dynamodb", region_name=REGION)
            ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                             BillingMode="PAY_PER_REQUEST")
            write(ddb, 0)
            with Counting(ExpressionTokenizer, "make_list") as tokenized, \
                    Counting(ConditionExpressionParser, "_lex_one_node") as lexed, \
                    Counting(validators.OverlappingPathsValidator, "check_for_overlapping_paths") as overlap_checks, \
                    Counting(DepthFirstTraverser, "nodes_to_be_processed") as kind_lookups, \
                    Counting(validators, "deepcopy", lambda v, *a: isinstance(v, UpdateExpression)) as tree_copies:
                for i in range(1, 6):
                    write(ddb, i)
                # moto alone: 2 tokenizations, 2 condition lexings (~20 tokens each), a deepcopy of the tree,
                # an overlap check at every nested clause and a kind lookup at every node, per write.
                self.assertEqual((tokenized.calls, lexed.calls, tree_copies.calls, overlap_checks.calls, kind_lookups.calls),
                                 (0, 0, 0, 0, 0))
                # The same text with other names is checked again (and still refused where they make it invalid).
                write(ddb, 6, ExpressionAttributeNames={**names, "#e": "expires2"})
                self.assertGreater(overlap_checks.calls, 0)
                with self.assertRaises(botocore.exceptions.ClientError) as refused:
                    write(ddb, 7, ExpressionAttributeNames={**names, "#e": "pk"})
                self.assertIn("part of the key", str(refused.exception))
            item = ddb.get_item(TableName="t", Key={"pk": {"S": "k"}})["Item"]
            self.assertEqual((item["count"], item["expires2"], len(item["ids"]["BS"])), ({"N": "7"}, {"N": "6"}, 7))
            with self.assertRaises(botocore.exceptions.ClientError) as repeated:
                write(ddb, 3)
            self.assertEqual(repeated.exception.response["Error"]["Code"], "ConditionalCheckFailedException")
            for _ in range(2):
                with self.assertRaises(botocore.exceptions.ClientError):
                    write(ddb, 8, UpdateExpression="SET a = = :e")

    def test_attribute_values_are_read_without_the_alias_search(self) -> None:
        from moto import mock_aws
        from moto.core.serialize import AttributePicker

        with mock_aws():
            ddb = boto3.client("dynamodb", region_name=REGION)
            ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                             BillingMode="PAY_PER_REQUEST")
            item = {"pk": {"S": "k"}, **{f"a{i}": {"BS": [bytes([i, j]) for j in range(5)]} for i in range(20)},
                    "m": {"M": {"x": {"N": "1"}, "y": {"L": [{"S": "z"}, {"BOOL": True}]}}}}
            ddb.put_item(TableName="t", Item=item)
            with Counting(AttributePicker, "__call__") as picked:
                got = ddb.get_item(TableName="t", Key={"pk": {"S": "k"}})["Item"]
            self.assertEqual(got, item)
            # moto alone: ten members looked up through the aliases for each of the 26 AttributeValues.
            self.assertLessEqual(picked.calls, 5)


class SqsAndDispatchWorkTest(unittest.TestCase):
    """Sending converts each queue attribute name once, receiving does no work per message beyond the
    receive; the dispatcher lists moto's services once."""

    @classmethod
    def setUpClass(cls) -> None:
        _patched_in_process()

    def test_attribute_names_are_converted_once(self) -> None:
        import moto.sqs.models as models
        from moto.sqs.models import sqs_backends

        backend = sqs_backends[ACCOUNT][REGION]
        backend.create_queue("names")
        convert = models.camelcase_to_underscores
        convert.cache_clear()
        for i in range(100):
            backend.send_message("names", f"m{i}")
        info = convert.cache_info()
        self.assertLessEqual(info.misses, len(models.Queue.BASE_ATTRIBUTES))
        self.assertGreaterEqual(info.hits, 99 * len(models.Queue.BASE_ATTRIBUTES))

    def test_receiving_draws_handles_at_once_copies_messages_by_field_and_skips_fifo_groups(self) -> None:
        import copy
        import random

        from moto.sqs.models import Message, sqs_backends

        class IterationCounting(set):  # type: ignore[type-arg]
            iterations = 0

            def __iter__(self):  # type: ignore[no-untyped-def]
                IterationCounting.iterations += 1
                return super().__iter__()

        backend = sqs_backends[ACCOUNT][REGION]
        handles = []
        for name, attributes in (("receiving", {}), ("receiving.fifo", {"FifoQueue": "true",
                                                                           "ContentBasedDeduplication": "true"})):
            queue = backend.create_queue(name, **attributes)
            for i in range(30):
                backend.send_message(name, f"m{i}", group_id="g" if attributes else None)
            backend.receive_message(name, 10, 0, 30)  # ten in flight
            queue._pending_messages = IterationCounting(queue._pending_messages)
            IterationCounting.iterations = 0
            with Counting(random.Random, "choice") as drawn, Counting(copy, "_reconstruct", lambda x, *a: isinstance(x, Message)) as copied:
                got = backend.receive_message(name, 10, 0, 30)
            handles += [m.receipt_handle for m in got]
            if attributes:
                self.assertGreater(IterationCounting.iterations, 0, "a FIFO queue still reads its groups")
                continue
            self.assertEqual(len(got), 10)
            # moto alone: 185 draws per handle, a generic deepcopy per message, the groups of all in flight.
            self.assertEqual((drawn.calls, copied.calls, IterationCounting.iterations), (0, 0, 0))
            # The copies handed out are the messages' own state, apart from them.
            [m] = backend.receive_message(name, 1, 0, 30)
            original = next(x for x in queue._messages if x.receipt_handle == m.receipt_handle)
            self.assertIsNot(m, original)
            self.assertEqual(vars(m), vars(original))
            m.message_attributes["x"] = {"DataType": "String", "StringValue": "x"}
            self.assertNotIn("x", original.message_attributes)
        self.assertEqual(len(set(handles)), len(handles))
        for h in handles:
            self.assertRegex(h, r"^[a-z]{185}$")

    def test_services_are_listed_once(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        app = DomainDispatcherApplication(create_backend_app)
        with Counting(os, "listdir") as listed:
            self.assertEqual(app.get_backend_for_host("dynamodb"), "dynamodb")
            self.assertEqual(app.get_backend_for_host("sqs"), "sqs")
        self.assertEqual(listed.calls, 0)


class VigilEmulatorLifecycleTest(unittest.TestCase):
    def test_sigterm_exits_cleanly(self) -> None:
        emulator = Emulator()
        self.assertEqual(emulator.stop(), 0, emulator.stderr_text())

    def test_sigint_exits_cleanly(self) -> None:
        emulator = Emulator()
        emulator.proc.send_signal(signal.SIGINT)
        try:
            self.assertEqual(emulator.proc.wait(timeout=15), 0, emulator.stderr_text())
        finally:
            emulator.stop()

    def test_exits_when_stdin_closes(self) -> None:
        emulator = Emulator("--exit-on-stdin-eof")
        emulator.proc.stdin.close()
        try:
            self.assertEqual(emulator.proc.wait(timeout=15), 0, emulator.stderr_text())
        finally:
            emulator.stop()

    def test_refuses_non_loopback_bind(self) -> None:
        for host in ("0.0.0.0", "192.0.2.1", "example.com"):
            result = subprocess.run([sys.executable, LAUNCHER, "--host", host, "--port", "0"],
                                    capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
            self.assertEqual(result.returncode, 2, host)
            self.assertEqual(result.stdout, b"", host)


if __name__ == "__main__":
    unittest.main(verbosity=2)
