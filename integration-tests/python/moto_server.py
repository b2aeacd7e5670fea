"""moto_server, with variable reads in JSONPath states.

AWS Step Functions reads a variable set by `Assign` wherever a JSONPath state
takes a path: `"status.$": "$status"` in Parameters, `"SecondsPath":
"$wait_seconds"`, `"$remediation.run"`. moto's engine (LocalStack's parser)
stores the variables but hands every read to a JSONata evaluator it does not
ship (a JVM bridge), so each read fails with States.Runtime. This launcher
plugs in an evaluator for exactly the expressions such a read produces,
`( $a := <json>; $b := <json>; $name.key.key )`, and refuses anything else
(real JSONata), so a definition that needs more fails here loudly, never
silently. It also keeps the `Assign` of a plain JSONPath Choice rule
(`{"Variable": ..., "StringEquals": ..., "Assign": {...}}`), which the parser
drops (it keeps it on And/Or/Not rules only); AWS assigns both.

It also keeps moto's DynamoDB `TransactWriteItems` from deep-copying every
table it names, on every call, as its rollback backup: on a history table of a
few thousand items each transaction (record, LATEST and episodes in one write)
copied all of it, and the copies, held by reference cycles until the garbage
collector ran, grew moto past 20 GB in a long benchmark. The backup here is
the items the transaction touches; a cancelled transaction restores exactly
those, which is what the whole-table copy restored. And a Query of the table
itself (not an index) reads its partition, where moto sorts every item of the
table on each Query: the dashboard's reads took seconds each on a benchmark's
history table.

Usage: the same arguments as `moto_server` (the local stack starts it).
"""

import copy
import json
import re
import sys
import threading

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend, Table
from moto.server import main
from moto.stepfunctions.parser.asl.component.common.assign.assign_decl import AssignDecl
from moto.stepfunctions.parser.asl.jsonata import jsonata
from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

_DECLARATION = re.compile(r"\$([A-Za-z0-9_]+):=")
_READ = re.compile(r"\$([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+)*)")


def eval_variable_read(expression: str):
    if not (expression.startswith("(") and expression.endswith(")")):
        raise jsonata.JSONataException("UNSUPPORTED", f"not a variable read: {expression}")
    body = expression[1:-1]
    decoder = json.JSONDecoder()
    variables = {}
    at = 0
    while True:
        declaration = _DECLARATION.match(body, at)
        if not declaration:
            break
        value, end = decoder.raw_decode(body, declaration.end())
        if body[end : end + 1] != ";":
            raise jsonata.JSONataException("UNSUPPORTED", f"malformed declaration in {expression}")
        # Inner scopes come last and win, as in Step Functions.
        variables[declaration.group(1)] = value
        at = end + 1
    read = _READ.fullmatch(body, at)
    if not read:
        raise jsonata.JSONataException(
            "UNSUPPORTED", f"only $name or $name.key reads are evaluated here: {body[at:]}"
        )
    name = read.group(1)
    if name not in variables:
        raise jsonata.JSONataException("States.Runtime", f"variable ${name} is not assigned")
    value = variables[name]
    for key in filter(None, read.group(2).split(".")):
        if not isinstance(value, dict) or key not in value:
            raise jsonata.JSONataException("States.Runtime", f"${name}{read.group(2)} not found")
        value = value[key]
    return value


_plain_rule = Preprocessor.visitChoice_rule_comparison_variable


def plain_rule_with_assign(self, ctx):
    rule = _plain_rule(self, ctx)
    if rule.assign is None:
        for child in ctx.children:
            component = self.visit(child)
            if isinstance(component, AssignDecl):
                rule.assign = component
    return rule


class _TablesByReference:
    """`copy` for moto's DynamoDB backend, except that a Table is not copied."""

    def __getattr__(self, name):
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value, memo=None):
        if isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


_transact_write_items = DynamoDBBackend.transact_write_items


def _touched_items(backend, transact_items):
    """(table name, key, deep copy of the item or None) for every item named."""
    touched = []
    for entry in transact_items:
        for op in entry.values():
            table = backend.tables.get(op.get("TableName"))
            if table is None:
                continue
            if "Key" in op:
                key = op["Key"]
            elif "Item" in op:
                attrs = op["Item"]
                key = {table.hash_key_attr: attrs.get(table.hash_key_attr)}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs.get(table.range_key_attr)
            else:
                continue
            try:
                current = backend.get_item(op["TableName"], key)
            except Exception:  # an invalid key: moto itself rejects the transaction
                continue
            touched.append((op["TableName"], key, copy.deepcopy(current)))
    return touched


def transact_write_items_backing_up_items(self, transact_items):
    touched = _touched_items(self, transact_items)
    try:
        return _transact_write_items(self, transact_items)
    except Exception:
        for table_name, key, before in reversed(touched):
            if before is None:
                if self.get_item(table_name, key) is not None:
                    self.delete_item(table_name, key)
            else:
                self.put_item(table_name, before.to_json()["Attributes"])
        raise


_query = Table.query
_all_items = Table.all_items
_partition = threading.local()


def all_items_of_the_queried_partition(self):
    queried = getattr(_partition, "items", None)
    if queried is not None and queried[0] is self:
        return queried[1]
    return _all_items(self)


def query_reading_one_partition(self, hash_key, *args, **kwargs):
    # Positional as DynamoDBBackend.query passes them: index_name is the 8th.
    index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
    if index_name or hash_key is None or not self.range_key_attr:
        return _query(self, hash_key, *args, **kwargs)
    items = sorted(self.items.get(hash_key, {}).values(), key=lambda item: item.range_key)
    _partition.items = (self, items)
    try:
        return _query(self, hash_key, *args, **kwargs)
    finally:
        _partition.items = None


Table.all_items = all_items_of_the_queried_partition
Table.query = query_reading_one_partition
dynamodb_models.copy = _TablesByReference()
DynamoDBBackend.transact_write_items = transact_write_items_backing_up_items
jsonata._eval_jsonata = eval_variable_read
Preprocessor.visitChoice_rule_comparison_variable = plain_rule_with_assign

if __name__ == "__main__":
    sys.argv[0] = "moto_server"
    sys.exit(main())
