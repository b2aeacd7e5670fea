"""Checks moto_server.py's DynamoDB changes: a cancelled transaction leaves
every item it named as it was (a put undone, an update undone, the failed
condition reported), a committed one writes every item, and a Query reads its
partition in range-key order, both ways, page by page. Run by
tests/moto_launcher.rs with the project venv's python; exits 1 on a failure.
"""

import os
import socket
import subprocess
import sys
import time

import boto3

LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "moto_server.py")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def key(pk, sk):
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def main():
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, LAUNCHER, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.1)
        db = boto3.client(
            "dynamodb",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="eu-west-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        db.create_table(
            TableName="t",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        db.put_item(TableName="t", Item={**key("a", "1"), "v": {"N": "1"}})
        for i in range(2000):
            db.put_item(TableName="t", Item={**key("bulk", str(i)), "text": {"S": "x" * 500}})

        try:
            db.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": "t", "Item": key("b", "1")}},
                    {
                        "Update": {
                            "TableName": "t",
                            "Key": key("bulk", "7"),
                            "UpdateExpression": "SET #t = :n",
                            "ExpressionAttributeNames": {"#t": "text"},
                            "ExpressionAttributeValues": {":n": {"S": "changed"}},
                        }
                    },
                    {
                        "Update": {
                            "TableName": "t",
                            "Key": key("a", "1"),
                            "UpdateExpression": "SET v = :n",
                            "ConditionExpression": "v = :old",
                            "ExpressionAttributeValues": {":n": {"N": "2"}, ":old": {"N": "9"}},
                        }
                    },
                ]
            )
            sys.exit("a transaction with a failed condition was not cancelled")
        except db.exceptions.TransactionCanceledException as e:
            codes = [r.get("Code") for r in e.response["CancellationReasons"]]
            assert codes == ["None", "None", "ConditionalCheckFailed"], codes
        assert "Item" not in db.get_item(TableName="t", Key=key("b", "1")), "the put was kept"
        bulk = db.get_item(TableName="t", Key=key("bulk", "7"))["Item"]["text"]["S"]
        assert bulk == "x" * 500, "the update before the failed condition was kept"
        assert db.get_item(TableName="t", Key=key("a", "1"))["Item"]["v"]["N"] == "1"

        started = time.time()
        for i in range(200):
            db.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": "t",
                            "Item": key("c", str(i)),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": "t",
                            "Key": key("a", "1"),
                            "UpdateExpression": "SET v = v + :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}},
                        }
                    },
                ]
            )
        took = time.time() - started
        assert db.get_item(TableName="t", Key=key("a", "1"))["Item"]["v"]["N"] == "201"
        assert "Item" in db.get_item(TableName="t", Key=key("c", "199"))
        # Queries read one partition, in range-key order both ways, and page.
        for i in range(30):
            db.put_item(TableName="t", Item={**key("q", f"{i:03}"), "n": {"N": str(i)}})
        pages, start = [], None
        while True:
            page = db.query(
                TableName="t",
                KeyConditionExpression="pk = :p AND sk >= :from",
                ExpressionAttributeValues={":p": {"S": "q"}, ":from": {"S": "005"}},
                ScanIndexForward=False,
                Limit=10,
                **({"ExclusiveStartKey": start} if start else {}),
            )
            pages.append([item["sk"]["S"] for item in page["Items"]])
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        read = [sk for page in pages for sk in page]
        assert read == [f"{i:03}" for i in range(29, 4, -1)], read
        assert len(pages[0]) == 10, pages
        count = db.query(
            TableName="t",
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "q"}},
            Select="COUNT",
        )["Count"]
        assert count == 30, count
        with open(f"/proc/{server.pid}/status") as status:
            rss = next(int(l.split()[1]) // 1024 for l in status if l.startswith("VmRSS"))
        print(f"ok: 200 transactions on a 2,000-item table in {took:.1f} s, moto at {rss} MB")
    finally:
        server.kill()


if __name__ == "__main__":
    main()
