#!/usr/bin/env python3
"""Vigil AWS API emulator: moto_server (moto 5.2.1) on loopback, plus a few patches.

Usage:
    python3 vigil_emulator.py --host 127.0.0.1 --port 0 [--exit-on-stdin-eof] [--verbose]
                              [--state-file PATH]

Once it is listening it prints exactly one line to stdout and flushes it:
    VIGIL_EMULATOR_READY http://127.0.0.1:PORT
after which nothing else is written to stdout (moto's own prints go to stderr).
Request logging is off unless --verbose, so an unread stderr pipe cannot fill up.

It exits with status 0 on SIGTERM/SIGINT and, with --exit-on-stdin-eof, as soon
as stdin reaches EOF (i.e. the parent process died or closed the pipe).
It refuses to bind to anything but a loopback address and refuses outgoing
connections / name lookups to anything but loopback.

Restart with state kept (--state-file PATH): AWS keeps its tables and queues when a server
restarts, so the emulator can too. At start, if PATH exists, every moto backend saved in it
(all services, accounts and regions: DynamoDB items, SQS messages with their visibility
deadlines and receive counts, ECS tasks, ...) and the API-call counts are restored before
the port is bound; a file that cannot be restored is a startup failure (exit 1), not an
empty start. POST /_vigil/shutdown then: stops accepting connections (they are refused),
lets the request being served finish, saves the state to PATH (temp file + rename),
answers 200 and exits with status 0; requests queued behind the one being served never
run and their connections are cut, as on a crash. Start it again with --port <same port>
and the same --state-file to come back where it stopped (the bind is retried for 10 s).
Services whose state cannot be pickled are named in the 200 answer ("not_saved") and in
the logs, and start empty.

Extra endpoints (not AWS):
    GET  /_vigil/health             -> {"ok": true}
    GET  /_vigil/api-calls          -> {"dynamodb": {"UpdateItem": 3}, "ecs": {...}, ...}
    POST /_vigil/api-calls/reset    -> zeroes the counts (and the write units); returns the counts as they were
    GET  /_vigil/write-units        -> {"units": {op: n}, "writes": {op: n}, "largest": {kind: bytes},
                                        "over_1kb": {kind: n}}: DynamoDB write units as DynamoDB bills
                                       them, from the item sizes before and after each write
    GET  /_vigil/default-subnet     -> {"subnet_id", "availability_zone", "vpc_id"} of the default VPC
                                       (?region=R&account=A: of that account and region)
    POST /_vigil/shutdown           -> {"state_file", "saved": {service: ["ACCOUNT/REGION", ...]},
                                        "not_saved": {service: error}, "bytes"}, then exit 0;
                                       500 + exit 1 if the state could not be saved;
                                       409 without --state-file (the emulator keeps running)

Deterministic ECS ids (so tests can compute them):
    task_id     = last "/"-segment of the task ARN
    runtimeId   = sha256(f"{task_id}/{container_name}").hexdigest()      (64 hex chars)
    imageDigest = "sha256:" + sha256(image).hexdigest()
"""

from __future__ import annotations

import argparse
import base64
import copy
import copyreg
import datetime
import functools
import hashlib
import inspect
import io
import ipaddress
import json
import logging
import operator
import os
import pickle
import re
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
import weakref
from collections import defaultdict
from typing import Any, Callable
from urllib.parse import parse_qs

READY_PREFIX = "VIGIL_EMULATOR_READY"
DEFAULT_ACCOUNT_ID = "123456789012"


def _log(msg: str) -> None:
    print(f"vigil_emulator: {msg}", file=sys.stderr, flush=True)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


# --------------------------------------------------------------------------
# Loopback only
# --------------------------------------------------------------------------

def _is_loopback_host(host: Any) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]")
    if host.lower() in ("localhost", "localhost.", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def install_loopback_guard() -> None:
    # Guarantees nothing in this process talks to a non-loopback address (moto has a few
    # optional outbound features, e.g. EventBridge API destinations); fails loudly instead.
    orig_getaddrinfo = socket.getaddrinfo
    orig_connect = socket.socket.connect
    orig_connect_ex = socket.socket.connect_ex

    def guarded_getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not _is_loopback_host(host):
            raise socket.gaierror(socket.EAI_NONAME, f"vigil_emulator: lookup of non-loopback host {host!r} refused")
        return orig_getaddrinfo(host, *args, **kwargs)

    def _check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback_host(address[0]):
            raise ConnectionRefusedError(f"vigil_emulator: connection to non-loopback address {address!r} refused")

    def guarded_connect(self, address):  # type: ignore[no-untyped-def]
        _check(self, address)
        return orig_connect(self, address)

    def guarded_connect_ex(self, address):  # type: ignore[no-untyped-def]
        _check(self, address)
        return orig_connect_ex(self, address)

    socket.getaddrinfo = guarded_getaddrinfo  # type: ignore[assignment]
    socket.socket.connect = guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign]


# --------------------------------------------------------------------------
# ECS patches
# --------------------------------------------------------------------------

def _to_str(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    return str(value)


def patch_ecs_string_types() -> None:
    # Gap: moto serializes Task.cpu/memory and Container.cpu/memory/memoryReservation as JSON
    # numbers; the API model types them as strings and the Rust SDK fails with TypeMismatch.
    from moto.ecs.responses import EC2ContainerServiceResponse

    transformers = dict(EC2ContainerServiceResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER)
    # Key paths end with the list-member shape name ("Task", "Container") inside lists and
    # with the member name ("task") for StopTaskResponse.task; register both spellings.
    for owner in ("Task", "task", "Container"):
        fields = ("cpu", "memory") if owner.lower() == "task" else ("cpu", "memory", "memoryReservation")
        for field in fields:
            transformers[f"{owner}.{field}"] = _to_str
    EC2ContainerServiceResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER = transformers


def _int_or_zero(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def patch_ecs_resource_requirements() -> None:
    # Gap: RunTask 500s (None += int) when a container definition has no memory/memoryReservation,
    # which is valid for Fargate (task-level memory); count missing values as 0 and prefer
    # task-level cpu/memory when the task definition sets them.
    from moto.ecs.models import EC2ContainerServiceBackend

    def calculate(task_definition):  # type: ignore[no-untyped-def]
        requirements: dict[str, Any] = {"CPU": 0, "MEMORY": 0, "PORTS": [], "PORTS_UDP": []}
        for cdef in task_definition.container_definitions:
            requirements["CPU"] += _int_or_zero(cdef.get("cpu", cdef.get("Cpu")))
            requirements["MEMORY"] += _int_or_zero(
                cdef.get("memory") or cdef.get("Memory") or cdef.get("memoryReservation") or cdef.get("MemoryReservation")
            )
            for mapping in cdef.get("portMappings", cdef.get("PortMappings")) or []:
                host_port = mapping.get("hostPort", mapping.get("HostPort"))
                if host_port is not None:
                    requirements["PORTS"].append(host_port)
        requirements["CPU"] = _int_or_zero(task_definition.cpu) or requirements["CPU"]
        requirements["MEMORY"] = _int_or_zero(task_definition.memory) or requirements["MEMORY"]
        return requirements

    EC2ContainerServiceBackend._calculate_task_resource_requirements = staticmethod(calculate)  # type: ignore[method-assign]


def _fill_default_security_groups(account_id: str, region: str, network: dict[str, Any] | None) -> None:
    awsvpc = (network or {}).get("awsvpcConfiguration")
    if awsvpc is None or awsvpc.get("securityGroups") or not awsvpc.get("subnets"):
        return
    from moto.ec2 import ec2_backends

    ec2 = ec2_backends[account_id][region]
    try:
        default_group = ec2.get_default_security_group(ec2.get_subnet(awsvpc["subnets"][0]).vpc_id)
        awsvpc["securityGroups"] = [default_group.id] if default_group else []
    except Exception:  # unknown subnet: let moto report it
        awsvpc["securityGroups"] = []


def patch_ecs_awsvpc_default_security_group() -> None:
    # Gap: RunTask/CreateService with awsvpc and no securityGroups 500s (KeyError); AWS then
    # uses the VPC's default security group, so fill that in.
    from moto.ecs.models import EC2ContainerServiceBackend, Task

    orig_init = Task.__init__
    init_signature = inspect.signature(orig_init)
    orig_create_service = EC2ContainerServiceBackend.create_service
    create_service_signature = inspect.signature(orig_create_service)

    @functools.wraps(orig_init)  # keeps inspect.signature() pointing at moto's __init__
    def init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        bound = init_signature.bind(self, *args, **kwargs)
        backend = bound.arguments["backend"]
        _fill_default_security_groups(backend.account_id, backend.region_name, bound.arguments.get("networking_configuration"))
        orig_init(*bound.args, **bound.kwargs)

    @functools.wraps(orig_create_service)
    def create_service(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        bound = create_service_signature.bind(self, *args, **kwargs)
        _fill_default_security_groups(self.account_id, self.region_name, bound.arguments.get("network_configuration"))
        return orig_create_service(*bound.args, **bound.kwargs)

    Task.__init__ = init  # type: ignore[method-assign]
    EC2ContainerServiceBackend.create_service = create_service  # type: ignore[method-assign]


def patch_ecs_task_lifecycle() -> None:
    # Gap: every DescribeTasks advances a task one state (RUNNING -> ... -> STOPPED); keep
    # tasks RUNNING until StopTask, as on real ECS.
    from moto.moto_api import state_manager

    state_manager.set_transition(model_name="ecs::task", transition={"progression": "manual", "times": 10**9})


def container_runtime_id(task_id: str, container_name: str) -> str:
    return hashlib.sha256(f"{task_id}/{container_name}".encode()).hexdigest()


def image_digest(image: str) -> str:
    return "sha256:" + hashlib.sha256((image or "").encode()).hexdigest()


def _task_availability_zone(task: Any, backend: Any) -> str:
    from moto.ec2 import ec2_backends

    for attachment in task.attachments:
        for detail in attachment.get("details", []):
            if detail.get("name") == "subnetId":
                try:
                    return ec2_backends[task._account_id][task.region_name].get_subnet(detail["value"]).availability_zone
                except Exception:  # unknown subnet: fall through to the default
                    pass
    if task.container_instance_arn:
        try:
            instance = backend.container_instances[task.cluster_name][task.container_instance_arn.split("/")[-1]]
            return instance.attributes["ecs.availability-zone"]
        except Exception:
            pass
    return f"{task.region_name}a"


def _build_containers(task: Any, task_definition: Any) -> list[Any]:
    from moto.ecs.models import Container

    task_id = task.task_arn.split("/")[-1]
    arn_prefix = task.task_arn.split(":task/")[0]
    eni_interfaces = []
    for attachment in task.attachments:
        details = {d["name"]: d["value"] for d in attachment.get("details", [])}
        if "privateIPv4Address" in details:
            eni_interfaces.append({"attachmentId": attachment["id"], "privateIpv4Address": details["privateIPv4Address"]})

    containers = []
    for cdef in task_definition.container_definitions:
        container = Container(task_definition)
        name = cdef.get("name")
        container.name = name
        container.image = cdef.get("image")
        container.image_digest = image_digest(container.image)
        container.runtime_id = container_runtime_id(task_id, name)
        container.container_arn = f"{arn_prefix}:container/{task.cluster_name}/{task_id}/{uuid.uuid5(uuid.NAMESPACE_URL, task_id + '/' + name)}"
        container.task_arn = task.task_arn
        container.last_status = "RUNNING"
        container.exitCode = None  # AWS reports exitCode only once a container has exited
        container.cpu = str(cdef.get("cpu", 0))
        container.memory = _to_str(cdef.get("memory"))
        container.memory_reservation = _to_str(cdef.get("memoryReservation"))
        container.environment = cdef.get("environment")
        container.command = cdef.get("command")
        container.health_status = "HEALTHY" if cdef.get("healthCheck") else "UNKNOWN"
        container.network_bindings = []
        container.network_interfaces = copy.deepcopy(eni_interfaces)
        containers.append(container)
    return containers


def patch_ecs_task_details() -> None:
    # Gap: moto tasks carry one container (the first definition) with no runtimeId/imageDigest,
    # a taskArn pointing at the task definition, lastStatus PENDING, and no task-level
    # cpu/memory/availabilityZone/createdAt/startedAt; our enrichment needs these.
    from moto.ecs.models import Task

    orig_init = Task.__init__
    signature = inspect.signature(orig_init)

    @functools.wraps(orig_init)  # keeps inspect.signature() pointing at moto's __init__
    def init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        orig_init(self, *args, **kwargs)
        bound = signature.bind(self, *args, **kwargs)
        task_definition = bound.arguments["task_definition"]
        backend = bound.arguments["backend"]
        now = _now()
        self.launch_type = self.launch_type or "EC2"
        if self.launch_type == "FARGATE":
            if self.platform_version in (None, "", "LATEST"):
                self.platform_version = "1.4.0"
            self.platform_family = "Linux"
        self.cpu = _to_str(task_definition.cpu)
        self.memory = _to_str(task_definition.memory)
        self.availability_zone = _task_availability_zone(self, backend)
        self.connectivity = "CONNECTED"
        self.connectivity_at = now
        self.created_at = now
        self.pull_started_at = now
        self.pull_stopped_at = now
        self.started_at = now
        self.health_status = "UNKNOWN"
        self.version = 1
        self.containers = _build_containers(self, task_definition)

    Task.__init__ = init  # type: ignore[method-assign]


def patch_ecs_stop_task() -> None:
    # Gap: StopTask leaves containers "running" and sets no stopCode/stoppedAt timestamps.
    from moto.ecs.models import EC2ContainerServiceBackend

    orig_stop_task = EC2ContainerServiceBackend.stop_task

    def stop_task(self, cluster_str, task_str, reason):  # type: ignore[no-untyped-def]
        task = orig_stop_task(self, cluster_str, task_str, reason)
        now = _now()
        task.stop_code = "UserInitiated"
        task.stopping_at = getattr(task, "stopping_at", None) or now
        task.execution_stopped_at = now
        task.stopped_at = now
        task.version = getattr(task, "version", 1) + 1
        for container in task.containers:
            container.last_status = "STOPPED"
        return task

    EC2ContainerServiceBackend.stop_task = stop_task  # type: ignore[method-assign]


def patch_ecs_service_tasks() -> None:
    # Gap: moto's CreateService launches no tasks and ListTasks ignores serviceName (and lists
    # STOPPED tasks by default). Launch desiredCount tasks once, at creation (group
    # "service:NAME"); this is not a scheduler: no replacement, no scaling on UpdateService.
    from moto.core.responses import ActionResult
    from moto.ecs.models import EC2ContainerServiceBackend
    from moto.ecs.responses import EC2ContainerServiceResponse

    orig_create_service = EC2ContainerServiceBackend.create_service
    orig_list_tasks = EC2ContainerServiceBackend.list_tasks
    list_tasks_signature = inspect.signature(orig_list_tasks)

    def create_service(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        service = orig_create_service(self, *args, **kwargs)
        if not service.task_definition or service.desired_count <= 0:
            return service
        cluster = self._get_cluster(service.cluster_name)
        launch_type = service.launch_type or "EC2"
        if launch_type == "EC2" and not any(
            ci.status == "ACTIVE" for ci in self.container_instances.get(cluster.name, {}).values()
        ):
            return service  # nowhere to place EC2 tasks: they stay pending, as on AWS
        deployment_id = service.deployments[0]["id"] if service.deployments else f"ecs-svc/{service.name}"
        tasks = self.run_task(
            cluster.name,
            service.task_definition,
            service.desired_count,
            None,
            deployment_id,
            None,
            launch_type,
            networking_configuration=service.network_configuration or None,
            group=f"service:{service.name}",
            platform_version=service.platform_version,
        )
        launched = len(tasks)
        service.running_count = launched
        service.pending_count = service.desired_count - launched
        self.update_cluster_resources(cluster, -launched, task_state="PENDING")
        if launch_type == "FARGATE":  # moto's EC2 placement already counted them as running
            self.update_cluster_resources(cluster, launched, task_state="RUNNING")
        for deployment in service.deployments:
            deployment["runningCount"] = service.running_count
            deployment["pendingCount"] = service.pending_count
            if service.pending_count == 0:
                deployment["rolloutState"] = "COMPLETED"
                deployment["rolloutStateReason"] = f"ECS deployment {deployment['id']} completed."
        return service

    def list_tasks(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        arguments = list_tasks_signature.bind(self, *args, **kwargs).arguments
        arguments.pop("self")
        service_name = arguments.pop("service_name", None)
        tasks = orig_list_tasks(self, **arguments)
        if service_name:
            group = f"service:{service_name.split('/')[-1]}"
            tasks = [t for t in tasks if t.group == group]
        return tasks

    def list_tasks_response(self):  # type: ignore[no-untyped-def]
        # The ListTasks API lists only desiredStatus=RUNNING tasks unless asked otherwise
        # (moto's backend list_tasks() is also used internally, so the default lives here).
        tasks = self.ecs_backend.list_tasks(
            self._get_param("cluster", "default"),
            self._get_param("containerInstance"),
            self._get_param("family"),
            self._get_param("startedBy"),
            self._get_param("serviceName"),
            self._get_param("desiredStatus") or "RUNNING",
        )
        return ActionResult({"taskArns": [t.task_arn for t in tasks]})

    EC2ContainerServiceBackend.create_service = create_service  # type: ignore[method-assign]
    EC2ContainerServiceBackend.list_tasks = list_tasks  # type: ignore[method-assign]
    EC2ContainerServiceResponse.list_tasks = list_tasks_response  # type: ignore[method-assign]


# --------------------------------------------------------------------------
# Security Hub patches
# --------------------------------------------------------------------------

SECURITYHUB_CUSTOMER_FIELDS = (
    "Note", "Workflow", "Severity", "VerificationState", "Confidence",
    "Criticality", "Types", "UserDefinedFields", "RelatedFindings",
)


def _required_finding_fields() -> list[str]:
    import botocore.session

    model = botocore.session.get_session().get_service_model("securityhub")
    return list(model.shape_for("AwsSecurityFinding").required_members)


def patch_securityhub_import_upsert() -> None:
    # Gap: moto upserts by Id only and merges dicts (stale keys survive); AWS keys findings by
    # (ProductArn, Id), replaces provider fields, keeps fields set via BatchUpdateFindings,
    # and rejects findings missing required ASFF attributes (per the API model).
    from moto.securityhub.models import Finding, SecurityHubBackend

    required = _required_finding_fields()

    def batch_import_findings(self, findings):  # type: ignore[no-untyped-def]
        failed: list[dict[str, Any]] = []
        success = 0
        for data in findings:
            missing = [k for k in required if data.get(k) in (None, "", [], {})]
            if missing or not isinstance(data.get("Resources"), list):
                failed.append({
                    "Id": data.get("Id", ""),
                    "ErrorCode": "InvalidInput",
                    "ErrorMessage": f"Finding does not adhere to Amazon Security Finding Format: missing {missing or ['Resources']}",
                })
                continue
            new = copy.deepcopy(data)
            new.setdefault("RecordState", "ACTIVE")
            key = (data["ProductArn"], data["Id"])
            existing = next((f for f in self.findings if (f.data.get("ProductArn"), f.id) == key), None)
            if existing is None:
                new.setdefault("Workflow", {"Status": "NEW"})
                new.setdefault("WorkflowState", "NEW")
                finding = Finding(data["Id"], new)
                finding.vigil_customer_fields = set()
                self.findings.append(finding)
            else:
                customer_fields = getattr(existing, "vigil_customer_fields", set())
                for field in ("Workflow", "WorkflowState", "Note", *customer_fields):
                    if field in existing.data and (field in customer_fields or field not in new):
                        new[field] = existing.data[field]
                existing.data = new
            success += 1
        return len(failed), success, failed

    SecurityHubBackend.batch_import_findings = batch_import_findings  # type: ignore[method-assign]


def patch_securityhub_import_own_account_and_region() -> None:
    # Gap: moto imports findings naming any account or region. AWS accepts a BatchImportFindings
    # call only when every finding's AwsAccountId is the caller's account and its Region the
    # region called; otherwise the whole call fails with AccessDeniedException (403) and nothing
    # of it is imported.
    from moto.securityhub.models import SecurityHubBackend

    from moto.core.exceptions import JsonRESTError

    class AccessDeniedException(JsonRESTError):
        code = 403

        def __init__(self, message: str) -> None:
            super().__init__("AccessDeniedException", message)

    upsert = SecurityHubBackend.batch_import_findings

    def batch_import_findings(self, findings):  # type: ignore[no-untyped-def]
        for data in findings:
            account, region = data.get("AwsAccountId"), data.get("Region")
            if account not in (None, "", self.account_id) or region not in (None, "", self.region_name):
                raise AccessDeniedException(
                    f"User: arn:aws:sts::{self.account_id}:assumed-role/caller is not authorized to import "
                    f"findings for account {account} in region {region} from account {self.account_id} "
                    f"in region {self.region_name}"
                )
        return upsert(self, findings)

    SecurityHubBackend.batch_import_findings = batch_import_findings  # type: ignore[method-assign]


# GetFindings string filters the emulator understands: filter name -> path in the finding
# ("[]" walks every element of a list).
SECURITYHUB_STRING_FILTERS = {
    "Id": ("Id",),
    "ProductArn": ("ProductArn",),
    "GeneratorId": ("GeneratorId",),
    "AwsAccountId": ("AwsAccountId",),
    "Region": ("Region",),
    "Title": ("Title",),
    "Description": ("Description",),
    "ProductName": ("ProductName",),
    "CompanyName": ("CompanyName",),
    "RecordState": ("RecordState",),
    "WorkflowState": ("WorkflowState",),
    "WorkflowStatus": ("Workflow", "Status"),
    "ComplianceStatus": ("Compliance", "Status"),
    "SeverityLabel": ("Severity", "Label"),
    "VerificationState": ("VerificationState",),
    "Type": ("Types", "[]"),
    "ResourceId": ("Resources", "[]", "Id"),
    "ResourceType": ("Resources", "[]", "Type"),
    "ResourceRegion": ("Resources", "[]", "Region"),
    "ResourcePartition": ("Resources", "[]", "Partition"),
    "NoteText": ("Note", "Text"),
    "NoteUpdatedBy": ("Note", "UpdatedBy"),
}
_warned_filters: set[str] = set()


def _finding_values(data: Any, path: tuple[str, ...]) -> list[str]:
    values = [data]
    for step in path:
        next_values = []
        for value in values:
            if step == "[]":
                next_values.extend(value if isinstance(value, list) else [])
            elif isinstance(value, dict) and step in value:
                next_values.append(value[step])
        values = next_values
    return [v for v in values if isinstance(v, str)]


def _string_filter_matches(values: list[str], conditions: list[dict[str, str]]) -> bool:
    def hit(condition: dict[str, str], value: str) -> bool:
        comparison, expected = condition.get("Comparison", "EQUALS"), condition.get("Value", "")
        if comparison in ("EQUALS", "NOT_EQUALS"):
            return value == expected
        if comparison in ("PREFIX", "PREFIX_NOT_EQUALS"):
            return value.startswith(expected)
        return expected in value  # CONTAINS / NOT_CONTAINS

    positive = [c for c in conditions if c.get("Comparison", "EQUALS") in ("EQUALS", "PREFIX", "CONTAINS")]
    negative = [c for c in conditions if c not in positive]
    if positive and not any(hit(c, v) for c in positive for v in values):
        return False
    return not any(hit(c, v) for c in negative for v in values)


def _finding_matches(data: dict[str, Any], filters: dict[str, Any]) -> bool:
    for name, conditions in (filters or {}).items():
        path = SECURITYHUB_STRING_FILTERS.get(name)
        if path is None:
            if name not in _warned_filters:
                _warned_filters.add(name)
                _log(f"GetFindings filter {name!r} is not emulated and is ignored")
            continue
        if not _string_filter_matches(_finding_values(data, path), conditions or []):
            return False
    return True


def patch_securityhub_get_findings_filters() -> None:
    # Gap: moto's GetFindings ignores Filters entirely; honour the common string filters
    # (Id, ProductArn, WorkflowStatus, RecordState, ResourceId, ...) with AWS OR/AND semantics.
    from moto.securityhub.exceptions import InvalidInputException
    from moto.securityhub.models import SecurityHubBackend
    from moto.utilities.paginator import paginate

    @paginate(pagination_model=SecurityHubBackend.PAGINATION_MODEL)
    def get_findings(self, filters=None, sort_criteria=None, max_results=None):  # type: ignore[no-untyped-def]
        if max_results is not None:
            try:
                max_results = int(max_results)
            except ValueError:
                raise InvalidInputException(op="GetFindings", msg="MaxResults must be a number greater than 0")
            if max_results < 1 or max_results > 100:
                raise InvalidInputException(op="GetFindings", msg="MaxResults must be a number between 1 and 100")
        return [f.as_dict() for f in self.findings if _finding_matches(f.data, filters or {})]

    SecurityHubBackend.get_findings = get_findings  # type: ignore[method-assign]


WORKFLOW_STATUSES = ("NEW", "NOTIFIED", "RESOLVED", "SUPPRESSED")


def _securityhub_batch_update(self, params: dict[str, Any]) -> tuple[list[dict], list[dict]]:
    from moto.securityhub.exceptions import InvalidInputException

    op = "BatchUpdateFindings"
    identifiers = params.get("FindingIdentifiers") or []
    if not identifiers:
        raise InvalidInputException(op=op, msg="FindingIdentifiers must contain at least one identifier")
    note = params.get("Note")
    if note is not None and (not note.get("Text") or not note.get("UpdatedBy")):
        raise InvalidInputException(op=op, msg="Note requires both Text and UpdatedBy")
    workflow = params.get("Workflow")
    if workflow is not None and workflow.get("Status") not in WORKFLOW_STATUSES:
        raise InvalidInputException(op=op, msg=f"Workflow.Status must be one of {list(WORKFLOW_STATUSES)}")

    processed, unprocessed = [], []
    for ident in identifiers:
        key = (ident.get("ProductArn"), ident.get("Id"))
        finding = next((f for f in self.findings if (f.data.get("ProductArn"), f.id) == key), None)
        if finding is None:
            unprocessed.append({"FindingIdentifier": ident, "ErrorCode": "FindingNotFound", "ErrorMessage": "Finding Not Found"})
            continue
        data = finding.data
        changed = set()
        if note is not None:
            data["Note"] = {"Text": note["Text"], "UpdatedBy": note["UpdatedBy"], "UpdatedAt": _now().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"}
            changed.add("Note")
        if workflow is not None:
            data["Workflow"] = {"Status": workflow["Status"]}
            changed.add("Workflow")
        if params.get("Severity") is not None:
            data["Severity"] = {**data.get("Severity", {}), **params["Severity"]}
            changed.add("Severity")
        if params.get("UserDefinedFields") is not None:
            data["UserDefinedFields"] = {**data.get("UserDefinedFields", {}), **params["UserDefinedFields"]}
            changed.add("UserDefinedFields")
        for field in ("VerificationState", "Confidence", "Criticality", "Types", "RelatedFindings"):
            if params.get(field) is not None:
                data[field] = copy.deepcopy(params[field])
                changed.add(field)
        if not hasattr(finding, "vigil_customer_fields"):
            finding.vigil_customer_fields = set()
        finding.vigil_customer_fields |= changed
        processed.append({"Id": ident.get("Id"), "ProductArn": ident.get("ProductArn")})
    return processed, unprocessed


def patch_securityhub_batch_update_findings() -> None:
    # Gap: BatchUpdateFindings (PATCH /findings/batchupdate) is not routed by moto (404);
    # add the route, a response handler and a backend method (Note, Workflow, Severity, ...).
    import moto.securityhub.urls as urls
    from moto.securityhub.models import SecurityHubBackend
    from moto.securityhub.responses import SecurityHubResponse

    urls.url_paths["{0}/findings/batchupdate$"] = SecurityHubResponse.dispatch
    SecurityHubBackend.batch_update_findings = _securityhub_batch_update  # type: ignore[attr-defined]

    def batch_update_findings(self):  # type: ignore[no-untyped-def]
        body = self.body.decode("utf-8") if isinstance(self.body, bytes) else self.body
        processed, unprocessed = self.securityhub_backend.batch_update_findings(json.loads(body or "{}"))
        return json.dumps({"ProcessedFindings": processed, "UnprocessedFindings": unprocessed})

    SecurityHubResponse.batch_update_findings = batch_update_findings  # type: ignore[attr-defined]


# --------------------------------------------------------------------------
# DynamoDB patches
# --------------------------------------------------------------------------

TRANSACTION_TOKEN_SECONDS = 600


def _repr_sorted(value: Any) -> Any:
    return sorted(map(repr, value)) if isinstance(value, (set, frozenset)) else repr(value)


def patch_dynamodb_transaction_tokens() -> None:
    # Gap: moto ignores TransactWriteItems' ClientRequestToken. DynamoDB answers a repeat of a
    # successful transaction (same token, same request, within 10 minutes) with success and changes
    # nothing; the SDK sends one token per call and repeats it on retries. Without this, a
    # transaction whose response was lost fails its retry on its own conditions, which DynamoDB
    # never does. The tokens live on the backend, so they survive a restart with the state.
    from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, DynamodbException
    from moto.dynamodb.responses import DynamoHandler

    class IdempotentParameterMismatch(DynamodbException):
        def __init__(self) -> None:
            super().__init__(
                ERROR_TYPE_PREFIX + "IdempotentParameterMismatchException",
                message="The ClientRequestToken was used with other parameters",
            )

    orig = DynamoHandler.transact_write_items

    def transact_write_items(self):  # type: ignore[no-untyped-def]
        token = self.body.get("ClientRequestToken")
        if not token:
            return orig(self)
        backend = self.dynamodb_backend
        tokens = backend.__dict__.setdefault("vigil_transaction_tokens", {})
        now = time.time()
        for expired in [t for t, (at, _, _) in tokens.items() if now - at > TRANSACTION_TOKEN_SECONDS]:
            del tokens[expired]
        # Binary values arrive as bytes (and sets as sets): written by repr, sets sorted.
        digest = hashlib.sha256(json.dumps(self.body["TransactItems"], sort_keys=True, default=_repr_sorted).encode()).hexdigest()
        if token in tokens:
            _, seen_digest, result = tokens[token]
            if seen_digest != digest:
                raise IdempotentParameterMismatch()
            return result
        result = orig(self)
        tokens[token] = (now, digest, result)
        return result

    DynamoHandler.transact_write_items = transact_write_items  # type: ignore[method-assign]


def patch_dynamodb_transaction_backup() -> None:
    # Gap: moto backs up every table a transaction touches by deep-copying the whole table, so each
    # TransactWriteItems costs time and memory in the table's size: remediating 1,000 findings took
    # minutes and gigabytes. A transaction changes at most 100 items: back up those, and put them
    # back if it fails. (Requests are serialized, so nothing else runs meanwhile.)
    import moto.dynamodb.models as models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    orig = DynamoDBBackend.transact_write_items

    class NoTableCopy:
        # Stands in for the `copy` module of moto's DynamoDB backend during a transaction: tables
        # are not copied (the items are, above); anything else is, as before.
        @staticmethod
        def deepcopy(value):  # type: ignore[no-untyped-def]
            return value if isinstance(value, Table) else copy.deepcopy(value)

    def key_of(table, op_type, op):  # type: ignore[no-untyped-def]
        attrs = op["Item"] if op_type == "Put" else op["Key"]
        hash_key = DynamoType(attrs[table.hash_key_attr])
        range_key = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
        return hash_key, range_key

    def transact_write_items(self, transact_items):  # type: ignore[no-untyped-def]
        backups = []
        for entry in transact_items:
            try:
                op_type, op = next(iter(entry.items()))
                table = self.tables[op["TableName"]]
                hash_key, range_key = key_of(table, op_type, op)
            except Exception:  # malformed: moto's own validation answers it
                continue
            item = table.get_item(hash_key, range_key)
            backups.append((table, hash_key, range_key, copy.deepcopy(item.to_json()["Attributes"]) if item else None))
        models.copy = NoTableCopy  # type: ignore[assignment]
        try:
            return orig(self, transact_items)
        except Exception:
            for table, hash_key, range_key, attrs in reversed(backups):
                if attrs is None:
                    table.delete_item(hash_key, range_key)
                else:
                    table.put_item(attrs)
            raise
        finally:
            models.copy = copy  # type: ignore[assignment]

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def patch_dynamodb_update_validation() -> None:
    # Gap: moto validates an UpdateExpression with ten depth-first passes over its syntax tree; each
    # pass rebuilt its table of node types twice per node visited, and the clause-count check
    # collected every clause below each of the nested UpdateExpression nodes (quadratic in the
    # clauses): ~100 ms per UpdateItem of Vigil's dedup write, the emulator's bottleneck at 100,000
    # events. Same checks and results: the table is built once per pass, the clause count checked
    # once, at the root (any node's clauses are among the root's).
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Node, UpdateExpression
    from moto.dynamodb.parsing.validators import ActionCountValidator

    def processing_map(traverser):  # type: ignore[no-untyped-def]
        cached = traverser.__dict__.get("_vigil_map")
        if cached is None:
            cached = traverser.__dict__["_vigil_map"] = traverser._processing_map()
            traverser.__dict__["_vigil_types"] = tuple(cached.keys())
        return cached

    def nodes_to_be_processed(self):  # type: ignore[no-untyped-def]
        processing_map(self)
        return self.__dict__["_vigil_types"]

    def process(self, node):  # type: ignore[no-untyped-def]
        for class_key, processor in processing_map(self).items():
            if isinstance(node, class_key):
                return processor(node)

    def count_at_root(self, node):  # type: ignore[no-untyped-def]
        return self.verify_action_counts(node) if isinstance(node, UpdateExpression) else node

    # Which processor (if any) a traverser applies to a node depends only on the two classes; moto
    # asked each node isinstance of every processed class (ABC checks) at every node of every pass.
    # Found once per pair of classes, then applied in the same order, with the same effects.
    kinds: dict[tuple[type, type], Any] = {}
    not_a_node = object()

    def kind_of(traverser, cls):  # type: ignore[no-untyped-def]
        if not issubclass(cls, Node):
            return not_a_node
        if not issubclass(cls, traverser.nodes_to_be_processed()):
            return None
        return next(k for k in processing_map(traverser) if issubclass(cls, k))

    def traverse_node_recursively(self, node, child_id=-1):  # type: ignore[no-untyped-def]
        pair = (type(self), type(node))
        kind = kinds.get(pair, kinds)
        if kind is kinds:
            kind = kinds[pair] = kind_of(self, pair[1])
        if kind is not_a_node:
            return node
        parent_node = node.parent
        if node.children is not None:
            for i, child_node in enumerate(node.children):
                self.pre_processing_of_child(node, i)
                self.traverse_node_recursively(child_node, i)
        if kind is not None:
            node = processing_map(self)[kind](node)
            node.parent = parent_node
            if parent_node:
                parent_node.children[child_id] = node
        return node

    DepthFirstTraverser.nodes_to_be_processed = nodes_to_be_processed  # type: ignore[method-assign]
    DepthFirstTraverser.process = process  # type: ignore[method-assign]
    DepthFirstTraverser.traverse_node_recursively = traverse_node_recursively  # type: ignore[method-assign]
    ActionCountValidator.traverse = count_at_root  # type: ignore[method-assign]


UPDATE_EXPRESSION_CACHE_SIZE = 4096


def patch_dynamodb_update_expression_cache() -> None:
    # Gap: moto parses an UpdateExpression twice per UpdateItem (once to list the names and values it
    # uses, once to apply it), ~2 ms each for Vigil's dedup write, and its validator deep-copies the
    # parsed tree, ~2.5 ms: together a third of the emulator's time at 100,000 events. A tree depends
    # only on the expression's text: each text is parsed once. moto only reads the tree it parsed
    # (find_clauses) and hands it to the validator, which works on a copy: callers share the parsed
    # tree, and each validator gets a copy of its own, unpickled from the text's pickled tree (what
    # deepcopy gives). Texts that fail to parse are not kept (the error is raised each time, as before).
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser
    from moto.dynamodb.parsing.validators import (
        ActionCountValidator,
        OverlappingPathsValidator,
        UpdateExpressionValidator,
        UpdateHashRangeKeyValidator,
        Validator,
    )

    parsed: dict[str, Any] = {}
    orig_make = UpdateExpressionParser.make.__func__  # type: ignore[attr-defined]
    orig_init = Validator.__init__

    def make(cls, expression_str):  # type: ignore[no-untyped-def]
        tree = parsed.get(expression_str) if cls is UpdateExpressionParser else None
        if tree is None:
            tree = orig_make(cls, expression_str)
            if cls is not UpdateExpressionParser or not isinstance(expression_str, str):
                return tree
            blob = pickle.dumps(tree, pickle.HIGHEST_PROTOCOL)
            tree.__dict__["_vigil_pickled"] = blob
            if len(parsed) >= UPDATE_EXPRESSION_CACHE_SIZE:
                parsed.clear()
            parsed[expression_str] = tree
        return tree

    def init(self, expression, *args, **kwargs):  # type: ignore[no-untyped-def]
        blob = getattr(expression, "__dict__", {}).get("_vigil_pickled")
        if blob is None:
            return orig_init(self, expression, *args, **kwargs)
        orig_init(self, None, *args, **kwargs)
        self.node_to_validate = pickle.loads(blob)
        if isinstance(self, UpdateExpressionValidator):
            names = self.expression_attribute_names or {}
            self.__dict__["_vigil_checked"] = (blob, tuple(sorted(names.items())), tuple(self.table.table_key_attrs))
        return None

    # The first three checks of an update (one clause of each kind, no overlapping paths, no key
    # attribute changed) read only the expression, its attribute names and the table's key: once
    # they passed for those, they pass again, and change nothing. The others read the item and the
    # values, and run every time.
    expression_only = (ActionCountValidator, OverlappingPathsValidator, UpdateHashRangeKeyValidator)
    passed: set[tuple[Any, ...]] = set()

    def validate(self):  # type: ignore[no-untyped-def]
        checked = self.__dict__.get("_vigil_checked")
        skip = checked is not None and checked in passed
        n = self.node_to_validate
        for processor in self.processors:
            if skip and isinstance(processor, expression_only):
                continue
            n = processor.traverse(n)
        if checked is not None:
            if len(passed) >= UPDATE_EXPRESSION_CACHE_SIZE:
                passed.clear()
            passed.add(checked)
        return n

    UpdateExpressionParser.make = classmethod(make)  # type: ignore[method-assign, assignment]
    Validator.__init__ = init  # type: ignore[method-assign]
    UpdateExpressionValidator.validate = validate  # type: ignore[method-assign]


def patch_dynamodb_condition_lexing() -> None:
    # Gap: moto lexes a ConditionExpression with a dozen regular expressions per token, twice per
    # conditional write (~0.5 ms each for Vigil's dedup condition). The tokens depend only on the
    # text: lexed once per text; each parse gets its own sequence of the same (immutable) tokens.
    from collections import deque

    from moto.dynamodb.comparisons import ConditionExpressionParser

    lexed: dict[str, tuple[Any, ...]] = {}
    orig_lex = ConditionExpressionParser._lex_condition_expression

    def lex(self):  # type: ignore[no-untyped-def]
        text = self.condition_expression
        tokens = lexed.get(text) if isinstance(text, str) else None
        if tokens is None:
            nodes = orig_lex(self)
            if not isinstance(text, str) or any(node.children for node in nodes):
                return nodes
            if len(lexed) >= UPDATE_EXPRESSION_CACHE_SIZE:
                lexed.clear()
            tokens = lexed[text] = tuple(nodes)
        return deque(node._replace(children=[]) for node in tokens)

    ConditionExpressionParser._lex_condition_expression = lex  # type: ignore[method-assign]


def patch_dynamodb_attribute_value_serialization() -> None:
    # Gap: moto's response serializer looks up each of the ten members of every AttributeValue in an
    # item through its alias providers (a dozen candidate names, each a lookup): ~3 ms to serialize
    # the item an UpdateItem returns. For an AttributeValue given as moto builds it (a dict whose keys
    # are member names) the lookup can only find the member's own key: read it directly, then
    # serialize each member exactly as before. Anything else takes moto's path.
    from moto.core.serialize import BaseJSONSerializer, XFormedAttributePicker

    orig = BaseJSONSerializer._serialize_type_structure

    def serialize_structure(self, serialized, value, shape, key):  # type: ignore[no-untyped-def]
        if (
            shape.name != "AttributeValue"
            or type(value) is not dict
            or shape.is_document_type
            or type(self._value_picker) is not XFormedAttributePicker
            or self._value_picker.response_transformers
            or not value.keys() <= shape.members.keys()
        ):
            return orig(self, serialized, value, shape, key)
        wrapper = self.MAP_TYPE() if key else serialized
        for member_key, member_shape in shape.members.items():
            member_shape.parent = shape
            member_value = value.get(member_key)
            if member_value is not None:
                self._serialize(wrapper, member_value, member_shape, member_key)
        if key:
            self._default_serialize(serialized, wrapper, shape, key)
        return None

    BaseJSONSerializer._serialize_type_structure = serialize_structure  # type: ignore[method-assign]


# --------------------------------------------------------------------------
# SQS patches
# --------------------------------------------------------------------------

def patch_sqs_attribute_reads() -> None:
    # Gap: moto computes every queue attribute (three of them scans of all messages, reading the clock
    # through datetime per message) to read one, and does so per message received and per message
    # sent: a replay of 2,000 events spent over 3 minutes in it. Same results, far less work.
    from moto.sqs.models import Queue, SQSBackend
    from moto.sqs.exceptions import InvalidAttributeName

    def is_message_valid_based_on_retention_period(self, queue_name, message):  # type: ignore[no-untyped-def]
        retention_period = self.get_queue(queue_name).message_retention_period
        return retention_period + message.sent_timestamp / 1000 > time.time()

    def get_queue_attributes(self, queue_name, attribute_names):  # type: ignore[no-untyped-def]
        # moto's own validation, then one computation of the attributes instead of three per name.
        queue = self.get_queue(queue_name)
        if not attribute_names:
            return {}
        valid_names = ["All"] + queue.BASE_ATTRIBUTES + queue.FIFO_ATTRIBUTES + queue.KMS_ATTRIBUTES
        invalid_name = next((name for name in attribute_names if name not in valid_names), None)
        if invalid_name or invalid_name == "":
            raise InvalidAttributeName(invalid_name)
        attributes = queue.attributes
        if "All" in attribute_names:
            return attributes
        return {n: attributes[n] for n in attribute_names if attributes.get(n) is not None}

    # Queue.attributes (read by every SendMessage) counts messages in three passes, each reading the
    # clock through datetime per message; one pass with one clock read gives the same counts.
    def counts(queue) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
        now = time.time() * 1000.0
        visible = not_visible = delayed = 0
        for m in queue._messages:
            is_delayed = now < m.delayed_until
            if now > m.visible_at:
                if not is_delayed:
                    visible += 1
            else:
                not_visible += 1
            delayed += is_delayed
        return visible, not_visible, delayed

    def counted(index: int) -> property:
        return property(lambda queue: (queue.__dict__.get("_vigil_counts") or counts(queue))[index])

    Queue.approximate_number_of_messages = counted(0)  # type: ignore[assignment]
    Queue.approximate_number_of_messages_not_visible = counted(1)  # type: ignore[assignment]
    Queue.approximate_number_of_messages_delayed = counted(2)  # type: ignore[assignment]
    orig_attributes = Queue.attributes.fget

    def attributes(queue):  # type: ignore[no-untyped-def]
        if "_vigil_counts" in queue.__dict__:
            # Counts already given (a send, which reads no count: see patch_sqs_queue_scaling).
            return orig_attributes(queue)
        queue.__dict__["_vigil_counts"] = counts(queue)
        try:
            return orig_attributes(queue)
        finally:
            queue.__dict__.pop("_vigil_counts", None)

    Queue.attributes = property(attributes)  # type: ignore[assignment]
    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period  # type: ignore[method-assign]
    SQSBackend.get_queue_attributes = get_queue_attributes  # type: ignore[method-assign]


def patch_sqs_attribute_names() -> None:
    # Gap: listing a queue's attributes converts each attribute's name to its Python spelling with a
    # character-by-character loop (moto's camelcase_to_underscores), every time: every SendMessage does
    # it, EventBridge's deliveries to a queue included, 14 names, ~0.6 ms a message. The conversion is
    # a function of the name alone: each name is converted once.
    import moto.sqs.models as models

    convert = models.camelcase_to_underscores
    if not hasattr(convert, "cache_info"):
        models.camelcase_to_underscores = functools.lru_cache(maxsize=1024)(convert)  # type: ignore[assignment]


RECEIPT_HANDLE_LENGTH = 185


def patch_sqs_receive_costs() -> None:
    # Gap: each message received costs moto ~1 ms beyond the receive itself, so a queue that 100,000
    # events pass through costs minutes: its new receipt handle is drawn one letter at a time (185
    # calls of random.choice), the copy handed to the response is a generic deepcopy, and every
    # ReceiveMessage collects the message groups of all messages in flight, which only a FIFO queue
    # reads. Now: the handle is 185 lowercase letters from random bytes of moto's own generator (the
    # same form and uniform distribution; under a seeded moto, other letters), the copy is made field
    # by field (what deepcopy makes: immutable fields shared, the rest deep-copied), and a standard
    # queue's receive gets no groups (it never reads them).
    import copy as copy_module
    import string

    import moto.sqs.models as models
    from moto.moto_api._internal import mock_random

    # Random bytes below 234 (9 x 26) map to the 26 letters evenly; the others are dropped.
    to_letter = bytes(ord(string.ascii_lowercase[b % 26]) for b in range(256))
    dropped = bytes(range(234, 256))
    atomic = (str, bytes, int, float, bool, type(None))

    def generate_receipt_handle() -> str:
        handle = b""
        while len(handle) < RECEIPT_HANDLE_LENGTH:
            handle += mock_random.getrandbits(8 * 256).to_bytes(256, "little").translate(to_letter, dropped)
        return handle[:RECEIPT_HANDLE_LENGTH].decode()

    def deepcopy_message(self, memo):  # type: ignore[no-untyped-def]
        new = object.__new__(type(self))
        memo[id(self)] = new
        d = new.__dict__
        for k, v in self.__dict__.items():
            d[k] = v if type(v) in atomic else copy_module.deepcopy(v, memo)
        return new

    orig_groups = models.Queue.pending_message_groups.fget

    def pending_message_groups(queue):  # type: ignore[no-untyped-def]
        if not queue.fifo_queue and getattr(_RECEIVING, "queue", None) is queue:
            return set()
        return orig_groups(queue)

    models.generate_receipt_handle = generate_receipt_handle  # type: ignore[assignment]
    models.Message.__deepcopy__ = deepcopy_message  # type: ignore[attr-defined]
    models.Queue.pending_message_groups = property(pending_message_groups)  # type: ignore[assignment]


class _VisibleMessages:
    """A queue's visible, undelayed messages, in order, found as they are asked for: moto builds the
    whole list (two clock reads per message) for each ReceiveMessage that takes ten of them, and for
    each test of whether there is any. Iterating stops where the receive stops; in-flight messages,
    at the front of the queue, are the only ones passed over."""

    __slots__ = ("queue",)

    def __init__(self, queue: Any) -> None:
        self.queue = queue

    def __iter__(self) -> Any:
        now = time.time() * 1000.0
        for m in list.__iter__(self.queue._messages):
            if now > m.visible_at and not now < m.delayed_until:
                yield m

    def __bool__(self) -> bool:
        return next(iter(self), None) is not None

    def __len__(self) -> int:
        return sum(1 for _ in self)


# Receipt handle -> (queue, message), for the handles receives hand out: deleting a message or changing
# its visibility finds it at once instead of asking every message of the queue whether it ever had
# the handle. A handle not in it (state restored from a snapshot, or never handed out) takes moto's
# own path.
_RECEIPTS: dict[str, tuple[Any, Any]] = {}
_RECEIVING = threading.local()


def patch_sqs_queue_scaling() -> None:
    # Gap: moto's SQS is O(n) per request in the queue's length n, so filling and draining a queue
    # of n messages is O(n^2): 10,000 messages took 90 s, 100,000 never finished. SendMessage
    # computed every queue attribute (the message counts: a scan) to read ContentBasedDeduplication;
    # ReceiveMessage listed every visible message to take ten; DeleteMessage and
    # ChangeMessageVisibility asked every message for its receipt handles, and DeleteMessage copied
    # the list. Now each costs what it touches (a delete scans only up to the message, which is near
    # the front when messages are deleted in about the order they were received).
    from moto.sqs.exceptions import InvalidParameterValue
    from moto.sqs.models import Message, Queue, SQSBackend
    from moto.sqs.models import unix_time_millis

    Queue.messages = property(lambda queue: _VisibleMessages(queue))  # type: ignore[assignment]

    orig_send = SQSBackend.send_message

    def send_message(self, queue_name, *args, **kwargs):  # type: ignore[no-untyped-def]
        # Sending reads only the queue's settings of its attributes, never the message counts.
        queue = self.get_queue(queue_name)
        queue.__dict__["_vigil_counts"] = (0, 0, 0)
        try:
            return orig_send(self, queue_name, *args, **kwargs)
        finally:
            queue.__dict__.pop("_vigil_counts", None)

    orig_receive = SQSBackend.receive_message

    def receive_message(self, queue_name, *args, **kwargs):  # type: ignore[no-untyped-def]
        _RECEIVING.queue = self.get_queue(queue_name)
        try:
            return orig_receive(self, queue_name, *args, **kwargs)
        finally:
            _RECEIVING.queue = None

    orig_mark_received = Message.mark_received

    def mark_received(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        orig_mark_received(self, *args, **kwargs)
        queue = getattr(_RECEIVING, "queue", None)
        if queue is not None:
            _RECEIPTS[self.receipt_handle] = (queue, self)

    def indexed(queue, receipt_handle):  # type: ignore[no-untyped-def]
        entry = _RECEIPTS.get(receipt_handle)
        return entry[1] if entry is not None and entry[0] is queue else None

    orig_delete = Queue.delete_message

    def delete_message(self, receipt_handle):  # type: ignore[no-untyped-def]
        if receipt_handle in self.deleted_messages:
            return
        message = indexed(self, receipt_handle)
        if message is None:
            return orig_delete(self, receipt_handle)
        messages = self._messages
        for at, m in enumerate(messages):
            if m is message:
                del messages[at]
                break
        else:
            return orig_delete(self, receipt_handle)
        self.pending_messages.discard(message)
        self.deleted_messages.update(message.all_receipt_handles)
        for handle in message.all_receipt_handles:
            _RECEIPTS.pop(handle, None)

    orig_change_visibility = SQSBackend.change_message_visibility

    def change_message_visibility(self, queue_name, receipt_handle, visibility_timeout):  # type: ignore[no-untyped-def]
        queue = self.get_queue(queue_name)
        message = indexed(queue, receipt_handle)
        if message is None or not any(m is message for m in queue._messages):
            return orig_change_visibility(self, queue_name, receipt_handle, visibility_timeout)
        # moto's own checks and effects, on the message found.
        given = unix_time_millis() + int(visibility_timeout) * 1000
        if given - message.sent_timestamp > 43200 * 1000:
            raise InvalidParameterValue(
                f"Value {visibility_timeout} for parameter VisibilityTimeout is invalid. Reason: Total "
                "VisibilityTimeout for the message is beyond the limit [43200 seconds]"
            )
        message.change_visibility(visibility_timeout)
        if message.visible and message in queue.pending_messages:
            queue.pending_messages.remove(message)

    SQSBackend.send_message = send_message  # type: ignore[method-assign]
    SQSBackend.receive_message = receive_message  # type: ignore[method-assign]
    SQSBackend.change_message_visibility = change_message_visibility  # type: ignore[method-assign]
    Message.mark_received = mark_received  # type: ignore[method-assign]
    Queue.delete_message = delete_message  # type: ignore[method-assign]


# --------------------------------------------------------------------------
# EventBridge patches
# --------------------------------------------------------------------------

ENVELOPE_KEYS = ("version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail")


def patch_events_envelope() -> None:
    # Gap: without an InputTransformer moto renders targets' input from a text template that
    # omits "account" (and breaks on quotes in source/detail-type); deliver the real envelope.
    from moto.events.utils import EventTemplateParser

    orig_parse = EventTemplateParser.parse

    def parse(input_template, input_paths_map, event):  # type: ignore[no-untyped-def]
        if input_template or input_paths_map:
            return orig_parse(input_template, input_paths_map, event)
        envelope = {k: copy.deepcopy(event[k]) for k in ENVELOPE_KEYS if k in event}
        envelope["account"] = (_CROSS_ACCOUNT_SENDER[-1] if _CROSS_ACCOUNT_SENDER
                               else envelope.get("account") or DEFAULT_ACCOUNT_ID)
        return envelope

    EventTemplateParser.parse = staticmethod(parse)  # type: ignore[method-assign]


# The sender of the cross-account PutEvents entry being delivered (requests are served one at a
# time, so a stack is enough).
_CROSS_ACCOUNT_SENDER: list[str] = []


def patch_events_cross_account_put() -> None:
    # Gap: moto looks an EventBusName ARN of another account up among the caller's own buses and
    # fails; AWS puts the event on that account's bus (when the bus policy lets the sender in), with
    # the sender's account in the envelope, as agents in member accounts send to the central bus.
    from moto.events.models import EventsBackend, events_backends

    orig_put_events = EventsBackend.put_events

    def foreign_bus(self, entry):  # type: ignore[no-untyped-def]
        parts = (entry.get("EventBusName") or "").split(":")
        if len(parts) == 6 and parts[0] == "arn" and parts[2] == "events" \
                and parts[4] not in ("", self.account_id):
            return events_backends[parts[4]][parts[3] or self.region_name]
        return None

    def put_events(self, events):  # type: ignore[no-untyped-def]
        if len(events) > 10 or not any(foreign_bus(self, e) for e in events):
            return orig_put_events(self, events)
        results = []
        for entry in events:
            target = foreign_bus(self, entry)
            if target is None:
                results.extend(orig_put_events(self, [entry]))
                continue
            _CROSS_ACCOUNT_SENDER.append(self.account_id)
            try:
                results.extend(orig_put_events(target, [entry]))
            finally:
                _CROSS_ACCOUNT_SENDER.pop()
        return results

    EventsBackend.put_events = put_events  # type: ignore[method-assign]


def patch_events_disabled_rules() -> None:
    # Gap: moto delivers events to the targets of DISABLED rules; AWS does not.
    from moto.events.models import Rule

    orig_send_to_targets = Rule.send_to_targets

    def send_to_targets(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.state == "DISABLED":
            return None
        return orig_send_to_targets(self, *args, **kwargs)

    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]


# --------------------------------------------------------------------------
# Accounts
# --------------------------------------------------------------------------

_CREDENTIAL_ACCOUNT = re.compile(r"Credential=(\d{12})/")


def patch_account_from_access_key() -> None:
    # Several accounts on one emulator: a request signed with a 12-digit access key id is that
    # account's (as in later moto versions). Other keys keep moto's lookup: keys STS AssumeRole
    # issued belong to the role's account, anything else to the default account.
    from moto.core.responses import BaseResponse

    current = BaseResponse.get_current_account

    def get_current_account(self):  # type: ignore[no-untyped-def]
        match = _CREDENTIAL_ACCOUNT.search(self.headers.get("Authorization", "") or "")
        if match:
            return match.group(1)
        return current(self)

    BaseResponse.get_current_account = get_current_account  # type: ignore[method-assign]


# --------------------------------------------------------------------------
# GuardDuty patches
# --------------------------------------------------------------------------

GUARDDUTY_EXCLUDE_TAG = "GuardDutyManaged"
GUARDDUTY_COVERAGE_PAGE = 50


def _feature_enabled(features: list[dict[str, Any]], name: str, extra: str | None = None) -> bool:
    # Feature configurations as the request gave them (moto keeps them verbatim, camelCase keys).
    def get(d: dict[str, Any], key: str) -> Any:
        return d.get(key, d.get(key[0].upper() + key[1:]))

    for feature in features or []:
        if get(feature, "name") != name or get(feature, "status") != "ENABLED":
            continue
        if extra is None:
            return True
        return any(
            get(c, "name") == extra and get(c, "status") == "ENABLED"
            for c in get(feature, "additionalConfiguration") or []
        )
    return False


def _ecs_coverage(detector: Any, account_id: str, region: str) -> list[dict[str, Any]]:
    # One resource per ECS cluster of the detector's account and region, as GuardDuty Runtime
    # Monitoring reports it: HEALTHY when Runtime Monitoring and its Fargate agent management are
    # enabled and the cluster is not excluded (tag GuardDutyManaged=false), UNHEALTHY otherwise.
    from moto.ecs.models import ecs_backends

    runtime = _feature_enabled(detector.features, "RUNTIME_MONITORING")
    managed = _feature_enabled(detector.features, "RUNTIME_MONITORING", "ECS_FARGATE_AGENT_MANAGEMENT")
    since = getattr(detector, "vigil_features_at", detector.created_at)
    resources = []
    for cluster in ecs_backends[account_id][region].clusters.values():
        tags = {t.get("key"): t.get("value") for t in (cluster.tags or [])}
        excluded = str(tags.get(GUARDDUTY_EXCLUDE_TAG, "")).lower() == "false"
        healthy = runtime and managed and not excluded
        issue = None
        if not runtime:
            issue = "Runtime Monitoring is not enabled"
        elif excluded:
            issue = f"Cluster excluded from agent management (tag {GUARDDUTY_EXCLUDE_TAG}=false)"
        elif not managed:
            issue = "ECS Fargate agent management is not enabled"
        resources.append({
            "resourceId": cluster.name,
            "detectorId": detector.id,
            "accountId": account_id,
            "resourceDetails": {
                "resourceType": "ECS",
                "ecsClusterDetails": {
                    "clusterName": cluster.name,
                    "fargateDetails": {
                        "issues": [issue] if issue else [],
                        "managementType": "AUTO_MANAGED" if managed and not excluded else "DISABLED",
                    },
                    "containerInstanceDetails": {"coveredContainerInstances": 0, "compatibleContainerInstances": 0},
                },
            },
            "coverageStatus": "HEALTHY" if healthy else "UNHEALTHY",
            **({"issue": issue} if issue else {}),
            "updatedAt": since.timestamp(),
        })
    return resources


def _coverage_matches(resource: dict[str, Any], criteria: list[dict[str, Any]]) -> bool:
    values = {
        "RESOURCE_TYPE": resource["resourceDetails"]["resourceType"],
        "COVERAGE_STATUS": resource["coverageStatus"],
        "ACCOUNT_ID": resource["accountId"],
        "ECS_CLUSTER_NAME": resource["resourceDetails"]["ecsClusterDetails"]["clusterName"],
        "CLUSTER_NAME": resource["resourceDetails"]["ecsClusterDetails"]["clusterName"],
    }
    for criterion in criteria:
        value = values.get(criterion.get("criterionKey"))
        condition = criterion.get("filterCondition") or {}
        if "equals" in condition and value not in condition["equals"]:
            return False
        if "notEquals" in condition and value in condition["notEquals"]:
            return False
    return True


def patch_guardduty_list_coverage() -> None:
    # Gap: moto does not route GuardDuty ListCoverage (POST /detector/{id}/coverage). Serve the ECS
    # clusters' Runtime Monitoring coverage from the detector's features and the clusters' tags,
    # paginated (at most 50 a page, as GuardDuty). UpdateDetector's features stamp the time the
    # coverage changed (each resource's updatedAt).
    import moto.guardduty.urls as urls
    from moto.guardduty.exceptions import DetectorNotFoundException
    from moto.guardduty.models import Detector
    from moto.guardduty.responses import GuardDutyResponse

    orig_update = Detector.update

    def update(self, enable, finding_publishing_frequency, data_sources, features):  # type: ignore[no-untyped-def]
        if features is not None and features != self.features:
            self.vigil_features_at = _now()
        return orig_update(self, enable, finding_publishing_frequency, data_sources, features)

    Detector.update = update  # type: ignore[method-assign]
    urls.url_paths["{0}/detector/(?P<detector_id>[^/]+)/coverage$"] = GuardDutyResponse.dispatch

    def list_coverage(self):  # type: ignore[no-untyped-def]
        detector_id = self.path.split("/")[-2]
        detector = self.guardduty_backend.detectors.get(detector_id)
        if detector is None:
            raise DetectorNotFoundException()
        body = json.loads(self.body or "{}")
        criteria = (body.get("filterCriteria") or {}).get("filterCriterion") or []
        resources = [
            r for r in _ecs_coverage(detector, self.current_account, self.region)
            if _coverage_matches(r, criteria)
        ]
        start = int(body.get("nextToken") or 0)
        size = min(int(body.get("maxResults") or GUARDDUTY_COVERAGE_PAGE), GUARDDUTY_COVERAGE_PAGE)
        page = resources[start:start + size]
        out: dict[str, Any] = {"resources": page}
        if start + size < len(resources):
            out["nextToken"] = str(start + size)
        return json.dumps(out)

    GuardDutyResponse.list_coverage = list_coverage  # type: ignore[attr-defined]


def patch_ecs_list_tasks_pages() -> None:
    # Gap: moto's ListTasks returns every task in one answer; ECS returns at most maxResults
    # (default and maximum 100) with a nextToken, which the coverage check's call counts depend on.
    from moto.ecs.responses import EC2ContainerServiceResponse

    listed = EC2ContainerServiceResponse.list_tasks

    def list_tasks(self):  # type: ignore[no-untyped-def]
        from moto.core.responses import ActionResult

        arns = listed(self).result["taskArns"]
        start = int(self._get_param("nextToken") or 0)
        size = min(int(self._get_param("maxResults") or 100), 100)
        page: dict[str, Any] = {"taskArns": arns[start:start + size]}
        if start + size < len(arns):
            page["nextToken"] = str(start + size)
        return ActionResult(page)

    EC2ContainerServiceResponse.list_tasks = list_tasks  # type: ignore[method-assign]


def patch_moto_service_listing() -> None:
    # Gap: moto_server looks for a request's service among moto's own packages by listing moto's
    # directory and testing each entry with stat, per request: ~0.9 ms of every call. The installed
    # packages do not change while the emulator runs: listed once.
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules  # type: ignore[assignment]


# Patches that only make moto do less work, answering exactly as before: moto_scenario.py runs one
# scenario with and without them and test_vigil_emulator.py requires the same answers.
PERFORMANCE_PATCHES = (
    "patch_sqs_attribute_reads",
    "patch_sqs_queue_scaling",
    "patch_sqs_attribute_names",
    "patch_sqs_receive_costs",
    "patch_dynamodb_transaction_backup",
    "patch_dynamodb_update_validation",
    "patch_dynamodb_update_expression_cache",
    "patch_dynamodb_condition_lexing",
    "patch_dynamodb_attribute_value_serialization",
    "patch_moto_service_listing",
)


def apply_patches() -> None:
    patch_ecs_string_types()
    patch_ecs_task_lifecycle()
    patch_ecs_task_details()
    patch_ecs_awsvpc_default_security_group()
    patch_ecs_resource_requirements()
    patch_ecs_stop_task()
    patch_ecs_service_tasks()
    patch_securityhub_import_upsert()
    patch_securityhub_import_own_account_and_region()
    patch_securityhub_get_findings_filters()
    patch_securityhub_batch_update_findings()
    patch_events_envelope()
    patch_events_cross_account_put()
    patch_events_disabled_rules()
    patch_sqs_attribute_reads()
    patch_sqs_queue_scaling()
    patch_sqs_attribute_names()
    patch_sqs_receive_costs()
    patch_dynamodb_transaction_tokens()
    patch_dynamodb_transaction_backup()
    patch_dynamodb_update_validation()
    patch_dynamodb_update_expression_cache()
    patch_dynamodb_condition_lexing()
    patch_dynamodb_attribute_value_serialization()
    patch_moto_service_listing()
    patch_account_from_access_key()
    patch_guardduty_list_coverage()
    patch_ecs_list_tasks_pages()


# --------------------------------------------------------------------------
# State across restarts (--state-file, POST /_vigil/shutdown)
# --------------------------------------------------------------------------

STATE_FORMAT = 1


def _moto_version() -> str:
    import moto

    return moto.__version__


def _live_backend_dicts() -> list[Any]:
    # BackendDict._instances lists every service registry that has an account in it (with repeats).
    from moto.core.base_backend import BackendDict

    unique: dict[int, Any] = {}
    for backend_dict in list(BackendDict._instances):
        unique.setdefault(id(backend_dict), backend_dict)
    return list(unique.values())


def _backend_dict_location(backend_dict: Any) -> tuple[str, str] | None:
    """(module, global name) of a BackendDict: how the loading process finds its own live one."""
    names = [backend_dict.backend.__module__] + sorted(m for m in list(sys.modules) if m.startswith("moto."))
    for name in names:
        module = sys.modules.get(name)
        for attr, value in list(vars(module).items()) if module is not None else []:
            if value is backend_dict:
                return name, attr
    return None


def _with_subclasses(cls: type) -> list[type]:
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(_with_subclasses(sub))
    return found


# BackendDict's own attributes; subclasses add registries of their own (S3's bucket_accounts,
# Organizations' master_accounts), which are saved with the backends.
_BACKEND_DICT_ATTRS = {"backend", "service_name", "_use_boto3_regions", "_additional_regions", "_id"}


def _reduce_event(event: threading.Event) -> tuple[Any, ...]:
    return threading.Event, (), {"_flag": event.is_set()}


class StatePickler(pickle.Pickler):
    """Pickles moto's backends in one graph, so objects shared between services stay shared.

    BackendDict / AccountSpecificBackend (module-level registries that some models hold) pickle as
    references resolved to the loading process's live ones. Locks, conditions and events pickle as
    fresh ones: a snapshot is taken while no request runs, so none is held or waited on."""

    def __init__(self, file: Any) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        from moto.backends import _import_backend
        from moto.core.base_backend import AccountSpecificBackend, BackendDict

        owners = {id(asb): bd for bd in _live_backend_dicts() for asb in list(bd.values())}

        def reduce_backend_dict(backend_dict: Any) -> tuple[Any, ...]:
            location = _backend_dict_location(backend_dict)
            if location is None or not location[0].startswith("moto."):
                raise pickle.PicklingError(f"no module global holds the {backend_dict.service_name} BackendDict")
            return _import_backend, (location[0][len("moto."):], location[1])

        def reduce_account_backend(asb: Any) -> tuple[Any, ...]:
            if id(asb) not in owners:
                raise pickle.PicklingError(f"no BackendDict holds the {asb.service_name} backends of {asb.account_id}")
            return operator.getitem, (owners[id(asb)], asb.account_id)

        table = copyreg.dispatch_table.copy()
        # The dispatch table matches exact types; moto subclasses BackendDict (S3, Organizations).
        for cls in _with_subclasses(BackendDict):
            table[cls] = reduce_backend_dict
        for cls in _with_subclasses(AccountSpecificBackend):
            table[cls] = reduce_account_backend
        table[type(threading.Lock())] = lambda _: (threading.Lock, ())
        table[type(threading.RLock())] = lambda _: (threading.RLock, ())
        table[threading.Condition] = lambda _: (threading.Condition, ())
        table[threading.Event] = _reduce_event
        self.dispatch_table = table


def _class_level_state() -> list[tuple[type, str, Any]]:
    # Mutable state moto keeps on classes rather than on backends.
    state = []
    securityhub = sys.modules.get("moto.securityhub.models")
    if securityhub is not None:
        state.append((securityhub.SecurityHubBackend, "_org_configs", securityhub.SecurityHubBackend._org_configs))
    return state


def _dump_state(entries: list[tuple[Any, dict[str, dict[str, Any]], dict[str, Any]]], extra: dict[str, Any]) -> bytes:
    from moto.moto_api import state_manager
    from moto.moto_api._internal import mock_random

    state = {
        "format": STATE_FORMAT,
        "moto": _moto_version(),
        "saved_at": _now().isoformat(),
        "backends": entries,
        "class_state": _class_level_state(),
        "transitions": dict(state_manager._transitions),
        # moto draws ids from this generator; continuing its sequence keeps ids unique across restarts.
        "random": mock_random.getstate(),
        **extra,
    }
    buffer = io.BytesIO()
    StatePickler(buffer).dump(state)
    return buffer.getvalue()


def save_state(path: str, api_calls: dict[str, dict[str, int]]) -> dict[str, Any]:
    """Writes every backend with state to `path` atomically; returns a summary (services saved/not saved).

    Call only while no request runs (VigilMiddleware.serialize held)."""
    entries = []
    for backend_dict in _live_backend_dicts():
        accounts = {account: dict(asb) for account, asb in list(backend_dict.items()) if len(asb)}
        extra = {k: v for k, v in vars(backend_dict).items() if k not in _BACKEND_DICT_ATTRS}
        if accounts:
            entries.append((backend_dict, accounts, extra))
    not_saved: dict[str, str] = {}
    while True:
        try:
            data = _dump_state(entries, {"api_calls": api_calls, "not_saved": not_saved})
            break
        except Exception as exc:
            # Find the services that cannot be pickled on their own, save the others without them.
            failing = []
            for entry in entries:
                try:
                    StatePickler(io.BytesIO()).dump(entry)
                except Exception as entry_exc:
                    failing.append(entry)
                    not_saved[entry[0].service_name] = repr(entry_exc)
            if not failing:
                raise exc
            entries = [e for e in entries if all(e is not f for f in failing)]
            _log(f"state: cannot save {sorted(f[0].service_name for f in failing)}: "
                 + "; ".join(not_saved[f[0].service_name] for f in failing))
    directory = os.path.dirname(os.path.abspath(path))
    temp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    # No fsync: only this process restarts, and the next one reads the file through the same page
    # cache; the rename makes the file appear complete or not at all.
    with open(temp, "wb") as f:
        f.write(data)
    os.replace(temp, path)
    summary = {
        "saved": _describe_entries(entries),
        "not_saved": not_saved,
        "bytes": len(data),
    }
    _log(f"state saved to {path} ({len(data)} bytes): {summary['saved']}"
         + (f"; NOT saved: {sorted(not_saved)}" if not_saved else ""))
    return summary


def _describe_entries(entries: list[tuple[Any, dict[str, dict[str, Any]], dict[str, Any]]]) -> dict[str, list[str]]:
    return {
        backend_dict.service_name: sorted(f"{account}/{region}" for account, regions in accounts.items() for region in regions)
        for backend_dict, accounts, _ in sorted(entries, key=lambda e: e[0].service_name)
    }


def _reregister_weak_refs(backend: Any) -> None:
    # EC2 finds its backends of other regions (VPC/transit gateway peering) through class-level sets of
    # weak references that each backend adds itself to in __init__, which unpickling does not run.
    for attr in ("vpc_refs", "vpc_pcx_refs", "backend_refs"):
        refs = getattr(type(backend), attr, None)
        if isinstance(refs, defaultdict):
            refs[type(backend)].add(weakref.ref(backend))


def load_state(path: str) -> dict[str, dict[str, int]]:
    """Restores the backends saved by save_state into this process's (still empty) registries; returns
    the API-call counts saved with them. Run after apply_patches, before serving."""
    from moto.moto_api import state_manager
    from moto.moto_api._internal import mock_random

    with open(path, "rb") as f:
        state = pickle.load(f)
    if state.get("format") != STATE_FORMAT or state.get("moto") != _moto_version():
        raise RuntimeError(
            f"state file format {state.get('format')} from moto {state.get('moto')}; "
            f"this launcher reads format {STATE_FORMAT} with moto {_moto_version()}"
        )
    for backend_dict, accounts, extra in state["backends"]:
        for attr, value in extra.items():
            setattr(backend_dict, attr, value)
        for account, regions in accounts.items():
            account_backends = backend_dict[account]
            for region, backend in regions.items():
                account_backends[region] = backend
                _reregister_weak_refs(backend)
    for cls, attr, value in state["class_state"]:
        current = getattr(cls, attr)
        current.clear()
        current.update(value)
    state_manager._transitions.update(state["transitions"])
    mock_random.setstate(state["random"])
    _log(f"state restored from {path} (saved {state['saved_at']}): {_describe_entries(state['backends'])}; "
         f"API calls: {sum(sum(ops.values()) for ops in state['api_calls'].values())}"
         + (f"; NOT restored (could not be saved): {state['not_saved']}" if state["not_saved"] else ""))
    return state["api_calls"]


class _ExitAfterResponse:
    """A WSGI response that ends the process once the server has written it (WSGI calls close())."""

    def __init__(self, body: bytes, status: int) -> None:
        self.body = body
        self.status = status

    def __iter__(self) -> Any:
        return iter([self.body])

    def close(self) -> None:
        sys.stderr.flush()
        os._exit(self.status)


# --------------------------------------------------------------------------
# API call counting (WSGI middleware)
# --------------------------------------------------------------------------

TARGET_PREFIX_SERVICES = {
    "DynamoDB": "dynamodb",
    "DynamoDBStreams": "dynamodb",
    "AmazonEC2ContainerServiceV20141113": "ecs",
    "AWSEvents": "events",
    "AmazonSQS": "sqs",
}
SIGNING_NAME_TO_BOTOCORE = {"events": "events", "monitoring": "cloudwatch", "states": "stepfunctions"}
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")


class RestOperationMatcher:
    """Resolves REST-JSON/REST-XML operations (Security Hub, ...) from method + path via botocore models."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, list[tuple[str, re.Pattern[str], int, str]]] = {}

    def _load(self, service: str) -> list[tuple[str, re.Pattern[str], int, str]]:
        import botocore.session

        routes = []
        try:
            model = botocore.session.get_session().get_service_model(SIGNING_NAME_TO_BOTOCORE.get(service, service))
        except Exception:
            return routes
        for name in model.operation_names:
            http = model.operation_model(name).http
            uri = http.get("requestUri", "/").split("?")[0]
            literal = len(re.sub(r"\{[^}]+\}", "", uri))
            pattern = re.escape(uri)
            pattern = re.sub(r"\\\{[^}]+?\\\+\\\}", ".+", pattern)
            pattern = re.sub(r"\\\{[^}]+?\\\}", "[^/]+", pattern)
            routes.append((http.get("method", "POST"), re.compile(f"^{pattern}/?$"), literal, name))
        return routes

    def match(self, service: str, method: str, path: str) -> str | None:
        with self._lock:
            if service not in self._routes:
                self._routes[service] = self._load(service)
            routes = self._routes[service]
        candidates = [(lit, name) for m, rx, lit, name in routes if m == method and rx.match(path)]
        return max(candidates)[1] if candidates else None


class ApiCallCounter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, int]] = {}

    def record(self, service: str, operation: str) -> None:
        with self._lock:
            per_service = self._counts.setdefault(service, {})
            per_service[operation] = per_service.get(operation, 0) + 1

    def restore(self, counts: dict[str, dict[str, int]]) -> None:
        with self._lock:
            self._counts = {s: dict(ops) for s, ops in counts.items()}

    def snapshot(self, reset: bool = False) -> dict[str, dict[str, int]]:
        with self._lock:
            counts = {s: dict(ops) for s, ops in self._counts.items()}
            if reset:
                self._counts = {}
            return counts


def dynamodb_value_size(value: dict[str, Any]) -> int:
    """Size of a DynamoDB-JSON value by the documented rules ("DynamoDB item sizes and formats"):
    strings by UTF-8 bytes, binaries by raw bytes, numbers 1 byte per two significant digits plus 1,
    booleans and nulls 1, lists and maps 3 plus 1 per element, sets the sum of their elements."""
    (kind, v), = value.items()
    if kind == "S":
        return len(v.encode("utf-8"))
    if kind == "N":
        mantissa = v.lower().split("e")[0]
        digits = "".join(c for c in mantissa if c.isdigit()).strip("0")
        return max(1, len(digits) + 1) // 2 + 1 if digits else 2
    if kind == "B":
        return len(base64.b64decode(v)) if isinstance(v, str) else len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(x.encode("utf-8")) for x in v)
    if kind == "NS":
        return sum(dynamodb_value_size({"N": x}) for x in v)
    if kind == "BS":
        return sum(dynamodb_value_size({"B": x}) for x in v)
    if kind == "L":
        return 3 + sum(1 + dynamodb_value_size(x) for x in v)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + dynamodb_value_size(x) for k, x in v.items())
    return 0


def dynamodb_item_size(item: dict[str, Any]) -> int:
    return sum(len(k.encode("utf-8")) + dynamodb_value_size(v) for k, v in item.items())


class WriteUnitMeter:
    """DynamoDB write units as DynamoDB bills them: per item written, the larger of its size before
    and after the write in 1 KB units (at least 1; a refused condition too), twice that in a
    transaction. Measured from moto's items around each write (requests are served one at a time)."""

    WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> dict[str, Any]:
        with getattr(self, "_lock", threading.Lock()):
            old = getattr(self, "_state", None)
            self._state: dict[str, Any] = {"units": {}, "writes": {}, "largest": {}, "over_1kb": {}}
            return old or self._state

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return json.loads(json.dumps(self._state))

    @staticmethod
    def _targets(operation: str, body: dict[str, Any]) -> list[tuple[str, dict[str, Any], bool]]:
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            return [(body.get("TableName", ""), body.get("Key") or body.get("Item") or {}, False)]
        if operation == "TransactWriteItems":
            out = []
            for t in body.get("TransactItems", []):
                for kind in ("Put", "Update", "Delete", "ConditionCheck"):
                    if kind in t:
                        op = t[kind]
                        out.append((op.get("TableName", ""), op.get("Key") or op.get("Item") or {}, True))
            return out
        if operation == "BatchWriteItem":
            out = []
            for table, requests in body.get("RequestItems", {}).items():
                for r in requests:
                    op = r.get("PutRequest") or r.get("DeleteRequest") or {}
                    out.append((table, op.get("Key") or op.get("Item") or {}, False))
            return out
        return []

    @staticmethod
    def _item(table_name: str, key_or_item: dict[str, Any]) -> dict[str, Any] | None:
        from moto.dynamodb.models import dynamodb_backends

        for regions in list(dynamodb_backends.values()):
            for backend in list(regions.values()):
                table = backend.tables.get(table_name)
                if table is None:
                    continue
                keys = {k: v for k, v in key_or_item.items() if k in (table.hash_key_attr, table.range_key_attr)}
                try:
                    item = backend.get_item(table_name, keys)
                except Exception:
                    return None
                return item.to_json()["Attributes"] if item is not None else None
        return None

    def before(self, operation: str, body: bytes) -> list[tuple[str, dict[str, Any], bool, int]] | None:
        if operation not in self.WRITES:
            return None
        try:
            targets = self._targets(operation, json.loads(body or b"{}"))
        except ValueError:
            return None
        out = []
        for table, key, transact in targets:
            item = self._item(table, key)
            out.append((table, key, transact, dynamodb_item_size(item) if item else 0))
        return out

    def after(self, operation: str, targets: list[tuple[str, dict[str, Any], bool, int]], billed: bool) -> None:
        if not billed:
            return
        with self._lock:
            state = self._state
            for table, key, transact, size_before in targets:
                item = self._item(table, key)
                size_after = dynamodb_item_size(item) if item else 0
                size = max(size_before, size_after)
                units = max(1, -(-size // 1024)) * (2 if transact else 1)
                state["units"][operation] = state["units"].get(operation, 0) + units
                sk = (item or {}).get("sk", {}).get("S") or key.get("sk", {}).get("S") or ""
                pk = (item or {}).get("pk", {}).get("S") or key.get("pk", {}).get("S") or ""
                kind = sk if sk in ("DEDUP", "SEQ") else pk.split("#", 1)[0] or "other"
                state["largest"][kind] = max(state["largest"].get(kind, 0), size)
                if size > 1024:
                    state["over_1kb"][kind] = state["over_1kb"].get(kind, 0) + 1
            state["writes"][operation] = state["writes"].get(operation, 0) + 1


class VigilMiddleware:
    """Counts every AWS request per service/operation and serves /_vigil/* endpoints."""

    def __init__(self, app: Any, state_file: str | None = None) -> None:
        self.app = app
        self.counter = ApiCallCounter()
        self.meter = WriteUnitMeter()
        self.state_file = state_file
        # Set by main(): stops accepting connections and closes the listening socket.
        self.stop_serving: Callable[[], None] = lambda: None
        self.shutting_down = threading.Event()
        self._shutdown_claim = threading.Lock()
        self.rest = RestOperationMatcher()
        # moto's backends read-modify-write without locking, so two concurrent UpdateItems on one item
        # can both see the old value; DynamoDB (and every AWS API we use) applies one item's writes
        # atomically and in order. Serializing requests restores those semantics.
        self.serialize = threading.Lock()

    def classify(self, environ: dict[str, Any]) -> tuple[str, str]:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        scope = _CREDENTIAL_SCOPE.search(auth)
        service = scope.group(1).lower() if scope else None
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target and "." in target:
            prefix, operation = target.rsplit(".", 1)
            return service or TARGET_PREFIX_SERVICES.get(prefix.split("_")[0], prefix.lower()), operation
        action = parse_qs(environ.get("QUERY_STRING", "")).get("Action")
        if not action and environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            action = parse_qs(self._peek_body(environ).decode("utf-8", "replace")).get("Action")
        if action:
            return service or "unknown", action[0]
        if service:
            operation = self.rest.match(service, environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/"))
            return service, operation or f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"
        return "unknown", f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"

    @staticmethod
    def _peek_body(environ: dict[str, Any]) -> bytes:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        return body

    @staticmethod
    def _json(start_response: Any, status: str, payload: Any) -> list[bytes]:
        body = json.dumps(payload, sort_keys=True).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    @staticmethod
    def _default_subnet(environ: dict[str, Any]) -> dict[str, str]:
        """A subnet of the default VPC, with DNS hostnames enabled (moto's Fargate RunTask needs them),
        so Rust tests can run awsvpc tasks without an EC2 client. Asks this server itself, on loopback."""
        import boto3  # noqa: PLC0415  (only this endpoint needs it)

        host = environ.get("HTTP_HOST") or f"127.0.0.1:{environ.get('SERVER_PORT')}"
        query = parse_qs(environ.get("QUERY_STRING", ""))
        account = (query.get("account") or [""])[0]
        ec2 = boto3.client(
            "ec2",
            endpoint_url=f"http://{host}",
            region_name=(query.get("region") or ["us-east-1"])[0],
            # A 12-digit access key id is that account (patch_account_from_access_key).
            aws_access_key_id=account if re.fullmatch(r"\d{12}", account) else "testing",
            aws_secret_access_key="testing",
        )
        vpc_id = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
        ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
        subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"][0]
        return {"subnet_id": subnet["SubnetId"], "availability_zone": subnet["AvailabilityZone"], "vpc_id": vpc_id}

    def _vigil(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO", "").rstrip("/")
        if method == "GET" and path == "/_vigil/health":
            return self._json(start_response, "200 OK", {"ok": True})
        if method == "GET" and path == "/_vigil/api-calls":
            return self._json(start_response, "200 OK", self.counter.snapshot())
        if method == "POST" and path == "/_vigil/api-calls/reset":
            self.meter.reset()
            return self._json(start_response, "200 OK", self.counter.snapshot(reset=True))
        if method == "GET" and path == "/_vigil/write-units":
            return self._json(start_response, "200 OK", self.meter.snapshot())
        if method == "GET" and path == "/_vigil/default-subnet":
            return self._json(start_response, "200 OK", self._default_subnet(environ))
        if method == "POST" and path == "/_vigil/shutdown":
            return self._shutdown(start_response)
        return self._json(start_response, "404 Not Found", {"error": f"no such endpoint: {method} {path}"})

    def _shutdown(self, start_response: Any) -> Any:
        """Stop accepting connections, let the request being served finish, save the state, answer,
        exit. Requests queued behind `serialize` never run: their connections die with the process."""
        if self.state_file is None:
            return self._json(start_response, "409 Conflict", {
                "error": "started without --state-file: there is nowhere to save the state, so no shutdown endpoint"})
        if not self._shutdown_claim.acquire(blocking=False):
            return self._json(start_response, "409 Conflict", {"error": "a shutdown is already in progress"})
        self.shutting_down.set()
        _log("shutdown requested: refusing connections, waiting for the request being served")
        self.stop_serving()
        self.serialize.acquire()  # never released: the process exits holding it
        status = 0
        try:
            payload = {"state_file": self.state_file, **save_state(self.state_file, self.counter.snapshot())}
            http_status = "200 OK"
        except Exception as exc:
            _log(f"could not save the state: {traceback.format_exc()}")
            status, http_status = 1, "500 Internal Server Error"
            payload = {"error": f"could not save the state to {self.state_file}: {exc!r}"}
        # Exit even if the server never gets to close() the response (client gone).
        fallback = threading.Timer(10.0, os._exit, (status,))
        fallback.daemon = True
        fallback.start()
        body = json.dumps(payload, sort_keys=True).encode()
        start_response(http_status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return _ExitAfterResponse(body, status)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_vigil/"):
            return self._vigil(environ, start_response)
        if not path.startswith("/moto-api"):
            try:
                self.counter.record(*self.classify(environ))
            except Exception as exc:  # counting must never break a request
                _log(f"could not classify request: {exc!r}")
                self.counter.record("unknown", "unclassified")
        with self.serialize:
            if not self.shutting_down.is_set():
                service, operation = self.classify(environ) if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB") else ("", "")
                targets = self.meter.before(operation, self._peek_body(environ)) if service == "dynamodb" else None
                if targets is None:
                    # Consume the response inside the lock: WSGI apps may do their work lazily.
                    return list(self.app(environ, start_response))
                status: list[str] = []

                def capture(st, headers, *args):  # type: ignore[no-untyped-def]
                    status.append(st)
                    return start_response(st, headers, *args)

                response = list(self.app(environ, capture))
                text = b"".join(response)
                billed = bool(status) and (status[0].startswith("200")
                                           or b"ConditionalCheckFailed" in text or b"TransactionCanceled" in text)
                try:
                    self.meter.after(operation, targets, billed)
                except Exception as exc:  # metering must never break a request
                    _log(f"could not meter write units: {exc!r}")
                return response
        # Queued behind the lock when a shutdown began: never runs (it would change the state after
        # the snapshot); its connection dies with the process, as on a crash.
        threading.Event().wait()
        return []


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Vigil AWS API emulator (patched moto_server, loopback only)")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free port (default 0)")
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="exit when stdin is closed (parent died)")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    parser.add_argument("--state-file", help="restore the state saved here at start (if the file exists); "
                        "POST /_vigil/shutdown saves it here and exits")
    return parser.parse_args(argv)


def _bind(host: str, port: int, app: Any) -> Any:
    from werkzeug.serving import make_server

    # A restarted emulator binds the port its predecessor just released (SO_REUSEADDR is set by
    # werkzeug, so TIME_WAIT connections do not block it); something else may briefly hold it, so
    # retry for a while. werkzeug reports a failed bind with sys.exit(1).
    deadline = time.monotonic() + (10.0 if port else 0.0)
    while True:
        try:
            return make_server(host, port, app, threaded=True)
        except (OSError, SystemExit) as exc:
            if time.monotonic() >= deadline:
                _log(f"cannot bind {host}:{port}: {exc!r}")
                return None
            time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not _is_loopback_host(args.host):
        _log(f"refusing to bind to non-loopback address {args.host!r}")
        return 2
    host = "127.0.0.1" if args.host.lower().startswith("localhost") else args.host.strip("[]")
    if not 0 <= args.port <= 65535:
        _log(f"invalid port {args.port}")
        return 2

    ready_out = sys.stdout
    sys.stdout = sys.stderr  # the ready line is the only thing ever written to stdout
    install_loopback_guard()
    os.environ.setdefault("MOTO_EVENTS_INVOKE_HTTP", "false")
    logging.getLogger("werkzeug").setLevel(logging.INFO if args.verbose else logging.ERROR)

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    apply_patches()
    app = VigilMiddleware(DomainDispatcherApplication(create_backend_app), state_file=args.state_file)
    if args.state_file and os.path.exists(args.state_file):
        try:
            app.counter.restore(load_state(args.state_file))
        except Exception:
            _log(f"cannot restore the state from {args.state_file}: {traceback.format_exc()}")
            return 1
    elif args.state_file and args.verbose:
        _log(f"no state file at {args.state_file} yet: starting empty")
    server = _bind(host, args.port, app)
    if server is None:
        return 1
    port = server.server_port

    def stop_serving() -> None:
        server.shutdown()  # serve_forever runs in its own thread, so this returns once it stopped
        server.socket.close()  # connections are refused from now on (and queued ones reset)

    app.stop_serving = stop_serving
    os.environ["MOTO_PORT"] = str(port)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.exit_on_stdin_eof:
        def watch_stdin() -> None:
            try:
                while sys.stdin.buffer.read(4096):
                    pass
            except (OSError, ValueError):
                pass
            stop.set()

        threading.Thread(target=watch_stdin, name="stdin-eof-watcher", daemon=True).start()

    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="server", daemon=True)
    serving.start()
    url_host = f"[{host}]" if ":" in host else host
    ready_out.write(f"{READY_PREFIX} http://{url_host}:{port}\n")
    ready_out.flush()

    while not stop.wait(0.5):
        if not serving.is_alive() and not app.shutting_down.is_set():
            _log("server thread died")
            return 1
    if app.shutting_down.is_set():
        time.sleep(60)  # the shutdown request exits the process once the state is saved
        return 1
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
