"""The playbook JSON Schema is a valid 2020-12 schema, accepts the shipped playbooks, and refuses what
`vigil playbook check` refuses at the shape level (editors validate with it)."""
import json
import pathlib
import unittest

import jsonschema
import yaml

HERE = pathlib.Path(__file__).resolve().parent.parent
SCHEMA = json.loads((HERE / "playbook.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


class SchemaTest(unittest.TestCase):
    def test_schema_is_valid(self):
        jsonschema.Draft202012Validator.check_schema(SCHEMA)

    def test_shipped_playbooks_pass(self):
        files = sorted(HERE.glob("**/*.yaml"))
        self.assertTrue(files)
        for f in files:
            VALIDATOR.validate(yaml.safe_load(f.read_text()))

    def test_refuses_bad_shapes(self):
        base = {"version": 1, "playbooks": [{"name": "a", "match": {"rules": ["x"]}, "actions": ["stop_task"]}]}
        VALIDATOR.validate(base)
        bad = [
            {**base, "version": 2},
            {**base, "playbooks": [{**base["playbooks"][0], "actions": ["stop"]}]},
            {**base, "playbooks": [{**base["playbooks"][0], "mode": "yolo"}]},
            {**base, "playbooks": [{**base["playbooks"][0], "matches": {}}]},
            {**base, "playbooks": [{**base["playbooks"][0], "match": {"min_severity": "notice"}}]},
            {**base, "playbooks": [{**base["playbooks"][0], "name": "has space"}]},
        ]
        for doc in bad:
            with self.assertRaises(jsonschema.ValidationError, msg=json.dumps(doc)):
                VALIDATOR.validate(doc)


if __name__ == "__main__":
    unittest.main()
