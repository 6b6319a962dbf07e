"""The Agent Heartbeat JSON Schema is a valid 2020-12 schema, accepts the sample heartbeat's detail,
and refuses what the coverage function refuses at the shape level."""
import copy
import json
import pathlib
import unittest

import jsonschema

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
SCHEMA = json.loads((ROOT / "schemas" / "agent-heartbeat.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
SAMPLE = json.loads((ROOT / "schemas" / "examples" / "agent-heartbeat.json").read_text())["detail"]


class HeartbeatSchemaTest(unittest.TestCase):
    def test_schema_is_valid(self):
        jsonschema.Draft202012Validator.check_schema(SCHEMA)

    def test_sample_passes(self):
        VALIDATOR.validate(SAMPLE)
        daemon = copy.deepcopy(SAMPLE)
        daemon["watches"] = {"ec2_instance_id": "i-0abc", "cluster": "prod"}
        VALIDATOR.validate(daemon)

    def test_refuses_bad_shapes(self):
        def changed(path, value):
            doc = copy.deepcopy(SAMPLE)
            target = doc
            for key in path[:-1]:
                target = target[key]
            if value is None:
                del target[path[-1]]
            else:
                target[path[-1]] = value
            return doc

        bad = [
            changed(["schema_version"], 2),
            changed(["kind"], "other"),
            changed(["agent_id"], ""),
            changed(["time"], None),
            changed(["watches"], {"cluster": "prod"}),
            changed(["watches", "task_arn"], "not-an-arn"),
            changed(["watches", "account"], "1234"),
            changed(["drops", "ratio"], 2),
            changed(["extra"], 1),
        ]
        for doc in bad:
            with self.assertRaises(jsonschema.ValidationError, msg=json.dumps(doc)):
                VALIDATOR.validate(doc)


if __name__ == "__main__":
    unittest.main()
