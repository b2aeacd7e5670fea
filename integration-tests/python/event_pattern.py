"""Match EventBridge events against a rule's event pattern with moto's own
pattern engine (moto's EventBridge neither delivers to Step Functions targets
nor implements TestEventPattern, so the local stack does the matching).

stdin:  {"pattern": "<the rule's EventPattern, a JSON string or object>", "events": [event, ...]}
stdout: {"matches": [true | false, ...]}   (one per event, in order)
"""

import json
import sys

from moto.events.models import EventPattern


def main() -> None:
    request = json.load(sys.stdin)
    pattern = request["pattern"]
    if not isinstance(pattern, str):
        pattern = json.dumps(pattern)
    compiled = EventPattern.load(pattern)
    matches = []
    for event in request["events"]:
        # EventBridge only routes JSON objects; anything else never matches.
        matches.append(isinstance(event, dict) and bool(compiled.matches_event(event)))
    json.dump({"matches": matches}, sys.stdout)


if __name__ == "__main__":
    main()
