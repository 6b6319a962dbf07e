#!/usr/bin/env python3
"""One fixed scenario of DynamoDB, SQS and EventBridge calls on moto in-process (mock_aws, boto3),
printed as JSON with random ids, receipt handles and clock readings replaced by stable labels.

    python3 moto_scenario.py patched                      # moto with all of the launcher's patches
    python3 moto_scenario.py without-performance-patches  # all but vigil_emulator.PERFORMANCE_PATCHES

test_vigil_emulator.py runs both and requires the same output: the performance patches change how
much work moto does, never what it answers."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("MOTO_EVENTS_INVOKE_HTTP", "false")

REGION = "us-east-1"
VOLATILE = {"SentTimestamp", "ApproximateFirstReceiveTimestamp", "CreatedTimestamp", "LastModifiedTimestamp",
            "ResponseMetadata", "time", "id", "CreationDateTime"}


class Labels:
    """Random strings (message ids, receipt handles) become m1, m2, ... in order of first sight."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def __call__(self, value: str) -> str:
        return self.seen.setdefault(value, f"#{len(self.seen) + 1}")


def clean(value: Any, labels: Labels) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in VOLATILE or (k == "MD5OfBody" and str(value.get("Body", "")).startswith("{")):
                continue  # (an event's body holds its id and time)
            if k in ("MessageId", "ReceiptHandle", "EventId"):
                out[k] = labels(v)
            elif k == "Body" and isinstance(v, str) and v.startswith("{"):
                out[k] = clean(json.loads(v), labels)
            else:
                out[k] = clean(v, labels)
        return out
    if isinstance(value, list):
        return [clean(v, labels) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(clean(v, labels) for v in value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def attempt(call: Any, **kwargs: Any) -> Any:
    import botocore.exceptions

    try:
        return call(**kwargs)
    except botocore.exceptions.ClientError as e:
        return {"error": e.response["Error"].get("Code"), "message": e.response["Error"].get("Message"),
                "item": e.response.get("Item")}


def dynamodb(out: list[Any]) -> None:
    import boto3

    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                               {"AttributeName": "sk", "KeyType": "RANGE"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    # Vigil's dedup write, the same text many times with new values: counted, remembered, refused
    # when a digest repeats (the refusal returns the item), rolled over.
    update = ("SET #exp = :exp, #sev = if_not_exists(#sev, :sev), #by = if_not_exists(#by, :by) "
              "ADD #count :count, #ids :digests REMOVE #old")
    names = {"#exp": "expires", "#sev": "severity", "#by": "by", "#count": "count", "#ids": "ids",
             "#old": "old", "#pk": "pk"}
    condition = "attribute_not_exists(#pk) OR (NOT contains(#ids, :d0) AND (attribute_not_exists(#ids) OR size(#ids) <= :room))"
    for i in range(24):
        digest = bytes([i % 9]) * 8  # repeats from the tenth write on: refused
        for key in ("a", "b"):
            out.append(attempt(ddb.update_item, TableName="t", Key={"pk": {"S": key}, "sk": {"S": "DEDUP"}},
                               UpdateExpression=update, ConditionExpression=condition,
                               ExpressionAttributeNames=names,
                               ExpressionAttributeValues={":exp": {"N": str(1000 + i)}, ":sev": {"S": f"s{i}"},
                                                          ":by": {"S": key}, ":count": {"N": "1"},
                                                          ":digests": {"BS": [digest]}, ":d0": {"B": digest},
                                                          ":room": {"N": "12"}},
                               ReturnValues="ALL_OLD", ReturnValuesOnConditionCheckFailure="ALL_OLD"))
    # The same texts with other names and values, and expressions moto refuses, each twice: a text
    # that passed once must still be refused with names that make it invalid.
    cases = [
        ("SET #n = :v", {"#n": "x"}, {":v": {"S": "1"}}),
        ("SET #n = :v", {"#n": "pk"}, {":v": {"S": "1"}}),
        ("SET #n = :v", {"#n": "sk"}, {":v": {"S": "1"}}),
        ("SET #n = :v, #m = :v", {"#n": "x", "#m": "x"}, {":v": {"S": "1"}}),
        ("SET #n = :v, #m = :v", {"#n": "x", "#m": "y"}, {":v": {"S": "1"}}),
        ("SET a = :v SET b = :v", None, {":v": {"S": "1"}}),
        ("SET a = :v ADD n :one ADD m :one", None, {":v": {"S": "1"}, ":one": {"N": "1"}}),
        ("SET a.b = :v, a = :v", None, {":v": {"S": "1"}}),
        ("SET a = :v, a = :v", None, {":v": {"S": "1"}}),
        ("SET a = = :v", None, {":v": {"S": "1"}}),
        ("SET a = :missing", None, {":v": {"S": "1"}}),
        ("SET lst = list_append(if_not_exists(lst, :empty), :l)", None, {":empty": {"L": []}, ":l": {"L": [{"S": "x"}]}}),
        ("SET n = n + :one", None, {":one": {"N": "1"}}),
        ("ADD n :one", None, {":one": {"N": "1"}}),
        ("SET n = n + :one", None, {":one": {"N": "1"}}),
        ("ADD n :one", None, {":one": {"S": "1"}}),
        ("REMOVE lst[0], a", None, None),
        ("DELETE #ids :digests", {"#ids": "ids"}, {":digests": {"BS": [bytes([1]) * 8]}}),
        ("SET #m.#k = :v", {"#m": "m", "#k": "k"}, {":v": {"S": "1"}}),
        ("SET #m = :m", {"#m": "m"}, {":m": {"M": {"k": {"S": "0"}}}}),
        ("SET #m.#k = :v", {"#m": "m", "#k": "k"}, {":v": {"S": "1"}}),
    ]
    for key in ("a", "new1", "new2"):
        for text, n, v in cases:
            for _ in range(2):
                kwargs: dict[str, Any] = {"TableName": "t", "Key": {"pk": {"S": key}, "sk": {"S": "X"}},
                                          "UpdateExpression": text, "ReturnValues": "ALL_NEW"}
                if n:
                    kwargs["ExpressionAttributeNames"] = n
                if v:
                    kwargs["ExpressionAttributeValues"] = v
                out.append([text, attempt(ddb.update_item, **kwargs)])
    out.append(attempt(ddb.transact_write_items, TransactItems=[
        {"Update": {"TableName": "t", "Key": {"pk": {"S": "a"}, "sk": {"S": "DEDUP"}}, "UpdateExpression": update,
                    "ExpressionAttributeNames": {k: v for k, v in names.items() if k != "#pk"},
                    "ExpressionAttributeValues": {":exp": {"N": "1"}, ":sev": {"S": "t"}, ":by": {"S": "t"},
                                                  ":count": {"N": "5"}, ":digests": {"BS": [b"zzzzzzzz"]}}}},
        {"Put": {"TableName": "t", "Item": {"pk": {"S": "p"}, "sk": {"S": "q"}}}}]))
    every_type = {"pk": {"S": "types"}, "sk": {"S": "all"}, "s": {"S": "x"}, "n": {"N": "-1.50"}, "b": {"B": b"\x00\xff"},
                  "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]}, "bs": {"BS": [b"a", b"b"]}, "null": {"NULL": True},
                  "bool": {"BOOL": False}, "l": {"L": [{"S": "x"}, {"M": {"k": {"N": "1"}}}, {"NULL": True}]},
                  "m": {"M": {"S": {"S": "member-named key"}, "b": {"B": b"1"}, "l": {"L": []}}}}
    out.append(ddb.put_item(TableName="t", Item=every_type, ReturnValues="ALL_OLD"))
    out.append(ddb.update_item(TableName="t", Key={"pk": {"S": "types"}, "sk": {"S": "all"}}, UpdateExpression="SET s = :s",
                               ExpressionAttributeValues={":s": {"S": "y"}}, ReturnValues="ALL_OLD"))
    out.append(ddb.get_item(TableName="t", Key={"pk": {"S": "types"}, "sk": {"S": "all"}}))
    out.append(ddb.query(TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "types"}}))
    out.append(sorted(json.dumps(i, sort_keys=True, default=bytes.hex) for i in ddb.scan(TableName="t")["Items"]))


def sqs(out: list[Any]) -> None:
    import boto3

    q = boto3.client("sqs", region_name=REGION)
    dlq = q.create_queue(QueueName="dlq")["QueueUrl"]
    dlq_arn = q.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = q.create_queue(QueueName="work", Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}),
        "VisibilityTimeout": "30"})["QueueUrl"]
    counts = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"]
    for i in range(0, 40, 10):
        out.append(q.send_message_batch(QueueUrl=url, Entries=[{"Id": str(j), "MessageBody": f"m{i + j}"} for j in range(10)]))
    out.append(q.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=900))
    # Message attributes, filtered per receive (moto filters a copy of the message).
    attrs = q.create_queue(QueueName="attrs")["QueueUrl"]
    out.append(q.send_message(QueueUrl=attrs, MessageBody="a", MessageAttributes={
        "a": {"DataType": "String", "StringValue": "1"}, "b": {"DataType": "Binary", "BinaryValue": b"2"}}))
    for names in (["a"], ["All"], [], ["b", "c"]):
        got = q.receive_message(QueueUrl=attrs, MessageAttributeNames=names, MessageSystemAttributeNames=["ApproximateReceiveCount"])
        out.append(got)
        q.change_message_visibility(QueueUrl=attrs, ReceiptHandle=got["Messages"][0]["ReceiptHandle"], VisibilityTimeout=0)
    out.append(q.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]))
    received = q.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"])
    out.append(received)
    handles = [m["ReceiptHandle"] for m in received["Messages"]]
    out.append(q.change_message_visibility(QueueUrl=url, ReceiptHandle=handles[0], VisibilityTimeout=0))
    out.append(q.change_message_visibility_batch(QueueUrl=url, Entries=[
        {"Id": "a", "ReceiptHandle": handles[1], "VisibilityTimeout": 0},
        {"Id": "b", "ReceiptHandle": "not-a-handle", "VisibilityTimeout": 0}]))
    out.append(q.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(k), "ReceiptHandle": h} for k, h in enumerate(handles[2:])]
                                      + [{"Id": "bad", "ReceiptHandle": "not-a-handle"}]))
    out.append(attempt(q.delete_message, QueueUrl=url, ReceiptHandle=handles[2]))
    out.append(attempt(q.change_message_visibility, QueueUrl=url, ReceiptHandle=handles[2], VisibilityTimeout=0))
    out.append(attempt(q.change_message_visibility, QueueUrl=url, ReceiptHandle=handles[3], VisibilityTimeout=50000))
    out.append(q.get_queue_attributes(QueueUrl=url, AttributeNames=counts))
    # The two handed back come first again; everything else once, in order; the poison goes to the DLQ.
    while True:
        got = q.receive_message(QueueUrl=url, MaxNumberOfMessages=7, MessageSystemAttributeNames=["ApproximateReceiveCount"])
        out.append(got)
        if not got.get("Messages"):
            break
        keep = [m for m in got["Messages"] if m["Body"] == "m0"]
        for m in keep:
            q.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
        done = [m for m in got["Messages"] if m["Body"] != "m0"]
        if done:
            out.append(q.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]}
                                                                    for k, m in enumerate(done)]))
    out.append(q.get_queue_attributes(QueueUrl=url, AttributeNames=counts))
    out.append(q.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]))
    out.append(q.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"]))

    # EventBridge delivering to a queue (what the pipeline's rules do).
    ev = boto3.client("events", region_name=REGION)
    target = q.create_queue(QueueName="target")["QueueUrl"]
    target_arn = q.get_queue_attributes(QueueUrl=target, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    ev.put_rule(Name="r", EventPattern=json.dumps({"source": ["s"]}))
    ev.put_targets(Rule="r", Targets=[{"Id": "q", "Arn": target_arn}])
    out.append(ev.put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": json.dumps({"n": i})} for i in range(10)]))
    out.append(q.receive_message(QueueUrl=target, MaxNumberOfMessages=10))
    out.append(q.get_queue_attributes(QueueUrl=target, AttributeNames=["All"]))


def main() -> None:
    mode = sys.argv[1]
    if mode not in ("patched", "without-performance-patches"):
        sys.exit(__doc__)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import vigil_emulator

    if mode == "without-performance-patches":
        for name in vigil_emulator.PERFORMANCE_PATCHES:
            setattr(vigil_emulator, name, lambda: None)
    vigil_emulator.apply_patches()
    from moto import mock_aws

    out: list[Any] = []
    with mock_aws():
        dynamodb(out)
        sqs(out)
    print(json.dumps(clean(out, Labels()), indent=1, sort_keys=True, default=str))


if __name__ == "__main__":
    main()
