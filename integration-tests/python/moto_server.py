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

Usage: the same arguments as `moto_server` (the local stack starts it).
"""

import json
import re
import sys

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


jsonata._eval_jsonata = eval_variable_read
Preprocessor.visitChoice_rule_comparison_variable = plain_rule_with_assign

if __name__ == "__main__":
    sys.argv[0] = "moto_server"
    sys.exit(main())
